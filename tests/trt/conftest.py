"""Fixtures of the TensorRT tests: tiny ONNX files, a sample manifest, and the capability skip."""

from __future__ import annotations

import pytest
from trt_samples import sample_manifest

from edgematte.runtime.engine_cache import EngineManifest


@pytest.fixture
def make_onnx(tmp_path):
    """``make_onnx(name, **options)`` writes a tiny matte model (see trt_onnx_models.py) into tmp_path."""
    from trt_onnx_models import matte_model

    def make(name: str = "tiny.onnx", **options):
        return matte_model(tmp_path / name, **options)

    return make


@pytest.fixture
def manifest() -> EngineManifest:
    return sample_manifest()


@pytest.fixture(scope="session")
def trt_gpu():
    """(tensorrt, pycuda.driver) where both import and a CUDA GPU exists; skip with the reason otherwise."""
    trt = pytest.importorskip(
        "tensorrt", reason="tensorrt is not installed (pip extra [trt], or JetPack's python3-libnvinfer)"
    )
    cuda = pytest.importorskip("pycuda.driver", reason="pycuda is not installed (pip extra [trt])")
    try:
        cuda.init()
        count = cuda.Device.count()
    except cuda.Error as exc:
        pytest.skip(f"CUDA driver unavailable: {exc}")
    if count == 0:
        pytest.skip("no CUDA GPU")
    return trt, cuda
