"""1280x720 background replacement: edgematte's pipeline against a straightforward OpenCV/NumPy one.

    pytest bench/test_pipeline.py --benchmark-json bench/results/pipeline.json
    python bench/ratios.py bench/results/pipeline.json

The real-time runs (refine "fast" and "off") record per-stage medians (ms), ``fps`` and
``non_model_share`` (the fraction of the frame time spent outside the model) in extra_info.
Goal: >= 60 FPS with the default model and a non-model share <= 0.30 on a 2-core CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import edgematte
from edgematte.cli.bench import measure, summarize, synthetic_frame

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SIZE = (1280, 720)
BACKGROUND = (64, 177, 0)  # BGR green
ROUNDS, WARMUP = 200, 20
#: the default model; "pp-humanseg" (the shared PP-HumanSeg-Lite, wrapped) can be added for comparison
MODELS = ["selfie"]


def _model_path(name: str, tmp_path_factory) -> Path:
    if name == "pp-humanseg":
        source = SHARED / "weights" / "pp_humanseg" / "ppseg_lite_portrait_398x224_with_softmax_fixed.onnx"
        if not source.is_file():
            pytest.skip(f"{source} is absent")
        from pp_humanseg import build_onnx

        return build_onnx(source, tmp_path_factory.mktemp("models") / "pp_humanseg.onnx")
    from edgematte.models import MODELS

    if name not in MODELS:
        pytest.skip(f"model {name!r} is not in this installation's model table")
    if (SHARED / "weights").is_dir():
        os.environ.setdefault("EDGEMATTE_WEIGHTS", str(SHARED / "weights"))
    from edgematte.export.to_onnx import onnx_for

    return onnx_for(name, progress=False)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    """The shared public-domain portrait covering 1280x720, or a synthetic one without the shared data."""
    from edgematte.pipeline import _cover

    photo = SHARED / "data" / "portraits" / "astronaut.png"
    out = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
    if photo.is_file():
        from edgematte.io import read_image

        _cover(read_image(photo), out)
    else:
        out[...] = synthetic_frame(*SIZE)
    return out


class SeedPipeline:
    """The obvious implementation: fresh arrays every frame, float64/float32 full-size maths."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]
        self.hw = tuple(self.input.shape[2:])

    def __call__(self, frame: np.ndarray, background) -> np.ndarray:
        import cv2

        h, w = frame.shape[:2]
        blob = cv2.dnn.blobFromImage(frame, 1 / 255.0, (self.hw[1], self.hw[0]), swapRB=True)
        alpha = self.session.run(None, {self.input.name: blob})[0][0, 0]
        mask = np.round(cv2.resize(alpha, (w, h)) * 255).astype(np.uint8)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        eroded, dilated = cv2.erode(mask, kernel, iterations=3), cv2.dilate(mask, kernel, iterations=3)
        mask = np.where(eroded >= 254, 255, np.where(dilated <= 1, 0, mask))
        a = (mask / 255.0)[..., None]
        return np.round(frame * a + np.asarray(background, np.float64) * (1 - a)).astype(np.uint8)


@pytest.mark.parametrize("refine", ["fast", "off"])
@pytest.mark.parametrize("model", MODELS)
def test_replace_background_1280x720(benchmark, frame, model, refine, tmp_path_factory):
    path = _model_path(model, tmp_path_factory)
    with edgematte.Matter(path, backend="ort-cpu", refine=refine) as matter:
        samples = measure(matter, frame, BACKGROUND, frames=ROUNDS, warmup=WARMUP)
        benchmark.group = f"replace-background-1280x720-{model}"
        benchmark.extra_info.update({k: round(float(np.median(v)), 3) for k, v in samples.items()})
        benchmark.extra_info.update({k: round(v, 3) for k, v in summarize(samples).items()})
        benchmark.extra_info["threads"] = matter.backend.threads
        benchmark.pedantic(matter.replace_background, (frame, BACKGROUND), rounds=ROUNDS, warmup_rounds=WARMUP)


@pytest.mark.parametrize("model", MODELS)
def test_replace_background_1280x720_full_refinement(benchmark, frame, model, tmp_path_factory):
    """refine="full" (refine_alpha on the band): the photo setting, for scale; not real time."""
    with edgematte.Matter(_model_path(model, tmp_path_factory), backend="ort-cpu", refine="full") as matter:
        benchmark.group = f"replace-background-1280x720-{model}"
        benchmark.pedantic(matter.replace_background, (frame, BACKGROUND), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("model", MODELS)
def test_seed_pipeline_baseline(benchmark, frame, model, tmp_path_factory):
    seed = SeedPipeline(_model_path(model, tmp_path_factory))
    benchmark.group = f"replace-background-1280x720-{model}"
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(seed, (frame, BACKGROUND), rounds=ROUNDS // 4, warmup_rounds=WARMUP // 2)
