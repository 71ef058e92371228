"""The same alpha whichever backend runs (TensorRT FP16 against ONNX Runtime FP32)."""

import importlib.util

import numpy as np
import pytest

import edgematte


def _tensorrt_with_gpu():
    if importlib.util.find_spec("tensorrt") is None or importlib.util.find_spec("pycuda") is None:
        return "tensorrt and pycuda are not installed"
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count() == 0:
            return "no CUDA GPU"
    except Exception as exc:  # any driver failure means no usable GPU
        return f"CUDA is unusable here: {exc}"
    return None


@pytest.mark.trt
@pytest.mark.skipif(_tensorrt_with_gpu() is not None, reason=str(_tensorrt_with_gpu()))
def test_tensorrt_alpha_matches_onnx_runtime(pp_humanseg_onnx, shared_data):
    from edgematte.io import read_image

    frame = read_image(shared_data / "portraits" / "astronaut.png")
    with edgematte.Matter(pp_humanseg_onnx, backend="ort-cpu", refine=False) as ort_matter:
        expected = ort_matter.process(frame).alpha.astype(np.int16)
    with edgematte.Matter(pp_humanseg_onnx, backend="tensorrt", refine=False) as trt_matter:
        got = trt_matter.process(frame).alpha.astype(np.int16)
    diff = np.abs(got - expected)
    assert diff.max() <= 6 and diff.mean() < 0.5  # FP16: ~2e-2 of the 0..255 range
