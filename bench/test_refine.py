"""refine_alpha and estimate_foreground timings at ~0.5 MP, beside pymatting in the same run.

    pytest bench/test_refine.py --benchmark-json bench/results/refine.json
    python bench/ratios.py bench/results/refine.json

Quality (SAD/MSE/Grad/Conn on ground truth) is measured by bench/quality.py.
"""

from __future__ import annotations

import os
from pathlib import Path

# before any OpenMP runtime loads (best effort): idle workers spinning would steal a shared CPU
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import edgematte  # noqa: E402

cv2 = pytest.importorskip("cv2")
IMAGES = ["GT05", "GT13"]  # small and large unknown band (Trimap1: 7 % and 30 % of 0.44-0.48 MP)


@pytest.fixture(scope="module")
def shared_data() -> Path:
    """``../shared/data`` beside the repository (as tests/conftest.py), or skip."""
    path = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared data folder sits beside the repo only for the core team")
    return path


def _load(shared_data, name):
    root = shared_data / "alphamatting_lowres"
    image = cv2.imread(str(root / "input" / f"{name}.png"))
    trimap = cv2.imread(str(root / "trimap1" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    gt = cv2.imread(str(root / "gt" / f"{name}.png"), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    return image, trimap, gt


@pytest.mark.parametrize("name", IMAGES)
def test_closed_form_pymatting(benchmark, shared_data, name):
    pymatting = pytest.importorskip("pymatting")
    image, trimap, _ = _load(shared_data, name)
    rgb = image[..., ::-1] / 255.0
    tri = trimap / 255.0
    pymatting.estimate_alpha_cf(rgb[::8, ::8].copy(), tri[::8, ::8].copy())  # numba JIT warm-up
    benchmark.group = f"refine_alpha {name}"
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(pymatting.estimate_alpha_cf, args=(rgb, tri), rounds=1, iterations=1)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", IMAGES)
def test_refine_alpha(benchmark, shared_data, name, threads):
    image, trimap, _ = _load(shared_data, name)
    benchmark.group = f"refine_alpha {name}"
    benchmark.extra_info["threads"] = threads
    benchmark.pedantic(edgematte.refine_alpha, args=(image, trimap), kwargs={"threads": threads}, rounds=10,
                       warmup_rounds=1)


@pytest.mark.parametrize("name", IMAGES[:1])
def test_foreground_pymatting_ml(benchmark, shared_data, name):
    pymatting = pytest.importorskip("pymatting")
    image, _, gt = _load(shared_data, name)
    rgb = image[..., ::-1] / 255.0
    pymatting.estimate_foreground_ml(rgb[::8, ::8].copy(), gt[::8, ::8].astype(np.float64))  # JIT warm-up
    benchmark.group = f"estimate_foreground {name}"
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(pymatting.estimate_foreground_ml, args=(rgb, gt.astype(np.float64)), rounds=3, iterations=1)


@pytest.mark.parametrize("name", IMAGES[:1])
def test_estimate_foreground(benchmark, shared_data, name):
    image, _, gt = _load(shared_data, name)
    benchmark.group = f"estimate_foreground {name}"
    benchmark.pedantic(edgematte.estimate_foreground, args=(image, gt), rounds=10, warmup_rounds=1)
