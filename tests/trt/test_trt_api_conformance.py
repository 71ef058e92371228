"""Conformance with the real TensorRT bindings (8.6.1, 10.13.0.35, 11.4.0.106) and a real pycuda
2026.1, on a machine without a GPU (marker ``trt_api``; see trt_api_env.py for how they run).

Skips only where pip cannot reach PyPI or gcc is missing (and, for pycuda, without CUDA headers).
"""

from __future__ import annotations

import pytest
import trt_api_env as env

pytestmark = pytest.mark.trt_api

HERE = env.HERE
NEWEST_WEAK, STRONG = "8.6.1", "10.13.0.35"


@pytest.fixture(scope="session", params=sorted(env.BINDINGS))
def bindings(request):
    return request.param, env.tensorrt_env(request.param)


@pytest.fixture(scope="session")
def pycuda_stub():
    return env.pycuda_env()


def _ok(out):
    assert out.returncode == 0, f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}"
    return out


def test_every_tensorrt_call_path_matches_the_real_bindings(bindings, tmp_path):
    version, trt_env = bindings
    out = _ok(env.run_with([trt_env], [str(HERE / "trt_api_checks.py")], cwd=tmp_path))
    assert f"TensorRT {version}: 0 failing checks" in out.stdout


def test_pycuda_has_the_names_the_runtime_uses_and_no_graph_capture(pycuda_stub, tmp_path):
    code = """
import pycuda.driver as cuda
for name in ("init", "Device", "Context", "Error", "Stream", "mem_alloc", "pagelocked_empty",
             "memcpy_htod_async", "memcpy_dtoh_async"):
    assert hasattr(cuda, name), name
for name in ("retain_primary_context", "compute_capability", "name", "count"):
    assert hasattr(cuda.Device, name), name
for name in ("push", "pop", "detach", "synchronize"):
    assert hasattr(cuda.Context, name), name
assert hasattr(cuda.Stream, "handle") and hasattr(cuda.Stream, "synchronize")
# why cuda_graph=True was removed: pycuda cannot capture a stream
assert not hasattr(cuda.Stream, "begin_capture") and not hasattr(cuda, "Graph")
try:
    cuda.init()
except Exception as exc:
    assert not isinstance(exc, ImportError) and "cuInit failed" in str(exc), repr(exc)
    print("RAISED", type(exc).__module__, type(exc).__name__)
"""
    out = _ok(env.run_with([pycuda_stub], code, cwd=tmp_path))
    assert "RAISED pycuda._driver RuntimeError" in out.stdout


def test_auto_falls_back_when_cuinit_fails_and_logs_why(bindings, pycuda_stub, tiny_onnx, tmp_path):
    version, trt_env = bindings
    code = f"""
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
import tensorrt, edgematte
assert tensorrt.__version__ == {version!r}
m = edgematte.Matter({str(tiny_onnx)!r}, refine=False)
print("BACKEND", type(m.backend).__name__)
"""
    out = _ok(env.run_with([trt_env, pycuda_stub], code, cwd=tmp_path))
    assert "BACKEND OrtCpuBackend" in out.stdout
    assert "TensorRT could not start" in out.stdout and "cuInit failed" in out.stdout


def test_tensorrt_backend_reports_cuinit_failure_as_unavailable(pycuda_stub, tmp_path):
    code = """
from edgematte.errors import BackendUnavailableError
from edgematte.runtime.trt import TrtBackend
try:
    TrtBackend("absent.plan").open()
except BackendUnavailableError as exc:
    print("UNAVAILABLE", exc)
"""
    out = _ok(env.run_with([env.tensorrt_env(STRONG), pycuda_stub], code, cwd=tmp_path))
    assert "UNAVAILABLE CUDA could not start" in out.stdout and "no CUDA-capable device" in out.stdout


def test_build_cli_prints_one_line_when_cuda_cannot_start(pycuda_stub, tiny_onnx, tmp_path):
    out = env.run_with(
        [env.tensorrt_env(STRONG), pycuda_stub], ["-m", "edgematte.cli", "build", str(tiny_onnx), "-o", "engines"],
        cwd=tmp_path,
    )
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith("edgematte build: error: CUDA could not start") and "Traceback" not in out.stderr


def test_runtime_path_on_a_fake_device(pycuda_stub, tmp_path):
    out = _ok(
        env.run_with(
            [env.tensorrt_env(STRONG), pycuda_stub], [str(HERE / "trt_runtime_checks.py")], cwd=tmp_path,
            extra_env={"EDGEMATTE_STUB_CUDA": "device"},
        )
    )
    results = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    expected = {
        "NULL_RUNTIME_UNAVAILABLE": "True",  # a NULL factory is BackendUnavailableError
        "PYCUDA_CROSS_THREAD_DETACH_LEAKS": "True",  # why no backend owns a retain
        "EXPLICIT_FREE_POISONS": "True",  # the stub would show a use after free
        "HOST_PATH": "True",
        "HELD_INTACT": "True",  # an output held across a shape change keeps its values
        "PINNED_INPUT": "True",
        "OUT_OF_PROFILE": "True",
        "WRONG_DTYPE": "True",
        "DEVICE_PATH": "True",
        "RETAINS": "1",  # one retain per process, however many opens, threads and closes
        "BUFFER_HELD_INTACT": "True",
    }
    assert {k: results.get(k) for k in expected} == expected, out.stdout + out.stderr


def test_rebuild_decision_and_null_builder_on_a_fake_device(pycuda_stub, tiny_onnx, tmp_path):
    code = f"""
import hashlib, logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
import edgematte
from edgematte.errors import BackendUnavailableError, EngineCacheMismatch
from edgematte.export.to_trt import engine_for
from edgematte.runtime.engine_cache import EngineManifest, Target, write_engine
from edgematte.weights import sha256_of

plan = b"plan"
def stale(onnx_path):
    return write_engine("engines", EngineManifest(
        key="k", model="m", onnx_sha256=sha256_of({str(tiny_onnx)!r}), target=Target("0.0.0", "Stub GPU", (8, 7)),
        precision="fp32", typing="strong", profiles={{}}, inputs=(), outputs=(),
        plan_sha256=hashlib.sha256(plan).hexdigest(), onnx_path=onnx_path), plan)
try:
    engine_for(stale(None))
except EngineCacheMismatch as exc:
    print("STALE_WITHOUT_ONNX", "TensorRT 0.0.0 built it" in str(exc))
try:
    engine_for(stale({str(tiny_onnx)!r}))  # rebuilds from the recorded ONNX: the real Builder factory is NULL
except BackendUnavailableError as exc:
    print("REBUILD_REACHES_THE_BUILDER", "could not create its builder" in str(exc))
m = edgematte.Matter({str(tiny_onnx)!r}, refine=False)
print("BACKEND", type(m.backend).__name__)
"""
    out = _ok(
        env.run_with([env.tensorrt_env(STRONG), pycuda_stub], code, cwd=tmp_path,
                     extra_env={"EDGEMATTE_STUB_CUDA": "device"})
    )
    assert "STALE_WITHOUT_ONNX True" in out.stdout and "REBUILD_REACHES_THE_BUILDER True" in out.stdout
    assert "BACKEND OrtCpuBackend" in out.stdout and "Reason: TensorRT could not create its builder" in out.stdout


def test_rvm_state_rides_on_the_device_without_copies(pycuda_stub, tmp_path):
    """RobustVideoMatting's recurrent state on TensorRT (fake FP16 engines of its static export on the fake device):
    the states are ping-pong device buffers bound by address (no memory copy of them, host or device), zeroed on
    reset(), a scene cut and a new frame size; FP16 I/O; Matter opens the engines build made for RVM's graph."""
    from rvm_graphs import counting_rvm

    source = counting_rvm(tmp_path / "rvm_counting.onnx")
    out = _ok(env.run_with([env.tensorrt_env(STRONG), pycuda_stub], [str(HERE / "trt_state_checks.py"), str(source)],
                           cwd=tmp_path, extra_env={"EDGEMATTE_STUB_CUDA": "device",
                                                    "EDGEMATTE_CACHE": str(tmp_path / "cache")}))
    results = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    expected = {
        "FP16_IO": "True",
        "FP16_STATES": "True",
        "COUNTS": "[1, 2, 3]",  # r1o came back as r1i each frame
        "HOST_IO_COPIES_PER_FRAME": "(1.0, 2.0, 0.0) MEMSETS 4",  # src up, fgr and pha down; four states zeroed once
        "PING_PONG": "True",
        "AFTER_RESET": "1",
        "DEVICE_IO_COPIES": "True",  # device src, device outputs: no copy at all
        "MATTER_LEVELS": "[1, 2, 3, 1, 1] CUT True STEP RvmStep",  # reset(), then a scene cut
        "ENGINE_SET": "TrtEngineSet ['fp16-sm87-12x16.plan', 'fp16-sm87-8x10.plan']",
    }
    assert {k: results.get(k) for k in expected} == expected, out.stdout + out.stderr
    levels, memsets = results["SIZE_LEVELS"].split(" MEMSETS ")
    assert levels == "[(1, False), (2, False), (1, True), (2, False), (1, True)]" and int(memsets) > 0


def test_rvm_on_tensorrt_where_cuda_cannot_start(pycuda_stub, tmp_path):
    """TensorRT imports, no GPU answers: Matter(rvm, backend="tensorrt") fails only because CUDA cannot start, auto
    falls back with its log line, and `edgematte build` of RVM (its export, or its graph with --size) exits 1 with
    one line."""
    from rvm_graphs import counting_rvm

    dynamic = counting_rvm(tmp_path / "rvm.onnx")
    static = counting_rvm(tmp_path / "rvm_static.onnx", static=(24, 32))
    code = f"""
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(message)s")
import edgematte
from edgematte.errors import BackendUnavailableError
for path in ({str(dynamic)!r}, {str(static)!r}):
    try:
        edgematte.Matter(path, backend="tensorrt")
    except BackendUnavailableError as exc:
        print("UNAVAILABLE", str(exc).startswith("CUDA could not start"))
    m = edgematte.Matter(path)
    print("AUTO", type(m.backend).__name__, type(m.pipeline.step).__name__)
"""
    trt = [env.tensorrt_env(STRONG), pycuda_stub]
    out = _ok(env.run_with(trt, code, cwd=tmp_path))
    assert out.stdout.count("UNAVAILABLE True") == 2 and out.stdout.count("AUTO OrtCpuBackend RvmStep") == 2, out.stdout
    assert out.stdout.count("TensorRT could not start") == 1 and "cuInit failed" in out.stdout  # logged once
    for argv in (["build", str(static)], ["build", str(dynamic), "--size", "32x24"]):
        done = env.run_with(trt, ["-m", "edgematte.cli"] + argv, cwd=tmp_path)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert lines[0].startswith("edgematte build: error: CUDA could not start"), lines
