"""bench/gpu_check.py on a machine without a GPU: it says so and exits 0 (its steps run in a CPU dry run in
tests/test_spaces.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_skips_cleanly(tmp_path):
    gpu_check = _load()
    if gpu_check.find_gpu()[0] is not None:
        pytest.skip("a GPU is visible here")
    out = subprocess.run([sys.executable, str(SCRIPT), "--runs", "1"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and "no NVIDIA GPU found" in out.stdout and "nothing was checked" in out.stdout


@pytest.mark.trt_api
def test_a_failing_cuinit_is_reported_as_no_gpu(tmp_path):
    import trt_api_env as env

    out = env.run_with([env.pycuda_env()], [str(SCRIPT)], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "no NVIDIA GPU found" in out.stdout and "cuInit failed" in out.stdout
