"""Real TensorRT engines from tiny ONNX models, checked against ONNX Runtime FP32.

Marker ``trt``: these run only where ``tensorrt`` and ``pycuda`` import and a CUDA GPU exists;
elsewhere the ``trt_gpu`` fixture skips them with the reason.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgematte.errors import EngineCacheMismatch, InputError
from edgematte.runtime.engine_cache import manifest_path, read_manifest
from edgematte.export.to_trt import EngineConfig, build_engine, engine_for, typing_mode
from edgematte.runtime.trt import DeviceArray, TrtBackend

pytestmark = pytest.mark.trt

FP16_ATOL = 2e-2
SHAPE = (1, 3, 64, 64)
RANGE = {"src": ((1, 3, 32, 32), (1, 3, 64, 64), (1, 3, 128, 128))}


def _ort(onnx_path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return session.run(["alpha"], {"src": x})[0]


def _frame(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


@pytest.fixture
def fp16_engine(trt_gpu, make_onnx, tmp_path):
    """(plan, fp32 onnx): an FP16 engine of the InstanceNorm model; TensorRT 11 builds it from an FP16 ONNX."""
    trt, _ = trt_gpu
    reference = make_onnx("fp32.onnx", shape=SHAPE, instancenorm=True)
    source = (
        reference if typing_mode(trt) == "weak" else make_onnx("fp16.onnx", shape=SHAPE, instancenorm=True, fp16=True)
    )
    return build_engine(source, tmp_path / "engines", EngineConfig(fp16=True, workspace_mb=256)), reference


def test_fp16_engine_matches_onnxruntime_fp32(fp16_engine):
    plan, reference = fp16_engine
    x = _frame()
    with TrtBackend(plan) as backend:
        alpha = backend.infer({"src": x})["alpha"]
    assert alpha.shape == (1, 1, 64, 64) and alpha.dtype == np.float32
    assert np.abs(alpha - _ort(reference, x)).max() <= FP16_ATOL


def test_manifest_describes_the_engine(trt_gpu, fp16_engine):
    trt, cuda = trt_gpu
    manifest = read_manifest(fp16_engine[0])
    assert manifest.precision == "fp16" and manifest.typing == typing_mode(trt)
    assert manifest.target.tensorrt_version == trt.__version__
    assert manifest.target.compute_capability == tuple(cuda.Device(0).compute_capability())
    assert [s.name for s in manifest.inputs] == ["src"] and [s.name for s in manifest.outputs] == ["alpha"]


def test_second_build_reuses_the_engine_and_the_timing_cache_is_saved(fp16_engine, tmp_path):
    plan, _ = fp16_engine
    mtime = plan.stat().st_mtime_ns
    source = read_manifest(plan).onnx_path
    assert build_engine(source, tmp_path / "engines", EngineConfig(fp16=True, workspace_mb=256)) == plan
    assert plan.stat().st_mtime_ns == mtime
    assert list((tmp_path / "engines" / "timing").glob("*.cache"))


def test_an_output_held_across_a_shape_change_keeps_its_values(trt_gpu, make_onnx, tmp_path):
    onnx = make_onnx(shape=(1, 3, "h", "w"))
    plan = build_engine(onnx, tmp_path / "engines", EngineConfig(fp16=False, shapes=RANGE))
    with TrtBackend(plan) as backend:
        first = backend.infer({"src": _frame((1, 3, 32, 48))})["alpha"]
        kept = first.copy()
        backend.infer({"src": _frame((1, 3, 64, 64), seed=1)})
        np.testing.assert_array_equal(first, kept)  # memory not freed under the caller


def test_dynamic_profile(trt_gpu, make_onnx, tmp_path):
    onnx = make_onnx(shape=(1, 3, "h", "w"))
    plan = build_engine(onnx, tmp_path / "engines", EngineConfig(fp16=False, shapes=RANGE))
    with TrtBackend(plan) as backend:
        for shape in [(1, 3, 32, 48), (1, 3, 128, 64), (1, 3, 32, 48)]:
            x = _frame(shape)
            np.testing.assert_allclose(backend.infer({"src": x})["alpha"], _ort(onnx, x), atol=1e-4)
        with pytest.raises(InputError, match="expected between"):
            backend.infer({"src": _frame((1, 3, 256, 64))})


def test_device_inputs_outputs_and_pinned_input_buffer(trt_gpu, fp16_engine):
    import pycuda.gpuarray as gpuarray

    plan, _ = fp16_engine
    x = _frame()
    with TrtBackend(plan) as host_backend:
        expected = host_backend.infer({"src": x})["alpha"].copy()
        pinned = host_backend.input_buffer("src")
        pinned[...] = x
        np.testing.assert_array_equal(host_backend.infer({"src": pinned})["alpha"], expected)
    with TrtBackend(plan, device_outputs=True) as backend:
        backend._ctx.push()  # the test allocates in the backend's (primary) context
        try:
            x_gpu = gpuarray.to_gpu(x)
            out = backend.infer({"src": x_gpu})["alpha"]
            assert isinstance(out, DeviceArray) and out.shape == (1, 1, 64, 64)
            host = np.empty(out.shape, out.dtype)
            trt_gpu[1].memcpy_dtoh(host, out.ptr)
        finally:
            trt_gpu[1].Context.pop()
    np.testing.assert_array_equal(host, expected)


def test_stale_manifest_rebuilds_with_onnx_and_errors_without(fp16_engine):
    plan, _ = fp16_engine
    path = manifest_path(plan)
    data = json.loads(path.read_text())
    data["target"]["tensorrt_version"] = "0.0.0"
    path.write_text(json.dumps(data))
    with pytest.raises(EngineCacheMismatch, match="TensorRT 0.0.0 built it"):
        TrtBackend(plan).open()  # the runtime never rebuilds
    rebuilt = engine_for(plan)  # the manifest still records the ONNX path, so it rebuilds
    with TrtBackend(rebuilt) as backend:
        assert backend.infer({"src": _frame()})["alpha"].shape == (1, 1, 64, 64)
    assert read_manifest(plan).target.tensorrt_version != "0.0.0"
