"""Run inside a ``trt_api`` subprocess with the real TensorRT bindings, real pycuda and the libcuda
stub in "device" mode (one fake GPU whose device memory is host memory; see stubs/libcuda_stub.c).

TrtBackend runs its whole path here: manifest check, primary context, page-locked staging, every
pycuda call, the name-based I/O API. The engine and execution context are ``Spec`` stand-ins
checked against the real classes' signatures (the real ``trt.Runtime`` factory returns NULL
without a GPU); the stand-in "engine" copies ``src``'s first channel into ``alpha``.
Prints ``KEY value`` lines for the test to assert on.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading

import numpy as np
import pycuda.driver as cuda
import tensorrt as trt
from trt_spec import Spec, spec_factory

from edgematte.errors import BackendUnavailableError, InputError
from edgematte.runtime import trt_env
from edgematte.runtime.engine_cache import EngineManifest, Target, write_engine
from edgematte.runtime.trt import DeviceArray, TrtBackend, _buffer
from edgematte.types import TensorSpec

retains = ctypes.CDLL(None).stub_primary_retains
RANGE = ((1, 3, 4, 4), (1, 3, 8, 8), (1, 3, 16, 16))
plan = b"plan"
manifest = EngineManifest(
    key="k",
    model="m",
    onnx_sha256="a" * 64,
    target=Target(trt.__version__, "Stub GPU", (8, 7)),
    precision="fp32",
    typing="strong",
    profiles={"src": RANGE},
    inputs=(TensorSpec("src", (1, 3, None, None), "float32"),),
    outputs=(TensorSpec("alpha", (1, 1, None, None), "float32"),),
    plan_sha256=hashlib.sha256(plan).hexdigest(),
)
path = write_engine("engines", manifest, plan)

# 1. the real trt.Runtime factory returns NULL here: BackendUnavailableError, never a raw TypeError
errors = []


def open_once():
    try:
        TrtBackend(path).open()
    except BackendUnavailableError as exc:
        errors.append(str(exc))


threads = [threading.Thread(target=open_once) for _ in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
open_once()
print("NULL_RUNTIME_UNAVAILABLE", len(errors) == 5 and all("could not create its runtime" in e for e in errors))

# 3. the stub shows a use after free: pycuda's HostAllocation.free() poisons a block still viewed
with trt_env.pushed(cuda, trt_env.primary_context(cuda, 0)):
    freed = cuda.pagelocked_empty((4,), np.float32)
    freed[...] = 0.25
    freed.base.free()
    print("EXPLICIT_FREE_POISONS", bool((freed != 0.25).all()))

# 4. the whole runtime path with stand-ins for the engine and its execution context
state = {"shape": None, "addresses": {}}


def set_input_shape(name, shape):
    state["shape"] = tuple(shape)
    return True


def execute(stream_handle):
    n, _, h, w = state["shape"]
    src = np.ctypeslib.as_array((ctypes.c_float * (n * 3 * h * w)).from_address(state["addresses"]["src"]))
    alpha = np.ctypeslib.as_array((ctypes.c_float * (n * h * w)).from_address(state["addresses"]["alpha"]))
    alpha[:] = src[: n * h * w]
    return True


context = Spec(
    trt.IExecutionContext,
    set_input_shape=set_input_shape,
    get_tensor_shape=lambda name: (state["shape"][0], 1) + state["shape"][2:],
    set_tensor_address=lambda name, address: state["addresses"].__setitem__(name, address) or True,
    execute_async_v3=execute,
)
engine = Spec(
    trt.ICudaEngine,
    num_io_tensors=2,
    get_tensor_name=lambda i: ("src", "alpha")[i],
    get_tensor_mode=lambda n: trt.TensorIOMode.INPUT if n == "src" else trt.TensorIOMode.OUTPUT,
    get_tensor_dtype=trt.float32,
    get_tensor_shape=lambda n: (1, 3, -1, -1) if n == "src" else (1, 1, -1, -1),
    create_execution_context=context,
)
trt.Runtime = spec_factory(trt.Runtime, Spec(trt.Runtime, deserialize_cuda_engine=engine))
trt.init_libnvinfer_plugins = lambda logger, namespace: True


def frame(value, h=4, w=4):
    return np.full((1, 3, h, w), value, np.float32)


with TrtBackend(path) as backend:
    first = backend.infer({"src": frame(0.25)})["alpha"]
    print("HOST_PATH", first.shape == (1, 1, 4, 4) and bool((first == 0.25).all()))
    second = backend.infer({"src": frame(0.75, 8, 8)})["alpha"]  # a new shape: new buffers
    print("HELD_INTACT", bool((first == 0.25).all()) and bool((second == 0.75).all()))
    pinned = backend.input_buffer("src", (1, 3, 8, 8))
    pinned[...] = 0.5
    print("PINNED_INPUT", bool((backend.infer({"src": pinned})["alpha"] == 0.5).all()))
    try:
        backend.infer({"src": frame(0.1, 32, 32)})
    except InputError as exc:
        print("OUT_OF_PROFILE", "expected between" in str(exc))
    try:
        backend.infer({"src": frame(0.1).astype(np.float16)})
    except InputError as exc:
        print("WRONG_DTYPE", "float16" in str(exc))

with TrtBackend(path, device_outputs=True) as backend:
    with trt_env.pushed(cuda, trt_env.primary_context(cuda, 0)):
        allocation = cuda.mem_alloc(frame(0.125).nbytes)
        cuda.memcpy_htod(allocation, frame(0.125))
    device_in = DeviceArray(int(allocation), (1, 3, 4, 4), np.float32, owner=allocation)  # any CAI producer
    out = backend.infer({"src": device_in})["alpha"]
    host = np.empty(out.shape, out.dtype)
    with trt_env.pushed(cuda, trt_env.primary_context(cuda, 0)):
        cuda.memcpy_dtoh(host, out.ptr)
    print("DEVICE_PATH", isinstance(out, DeviceArray) and bool((host == 0.125).all()))

backend = TrtBackend(path).open()
closer = threading.Thread(target=backend.close)
closer.start()
closer.join()
print("RETAINS", retains())  # one retain per process, however many opens, threads and closes

with trt_env.pushed(cuda, trt_env.primary_context(cuda, 0)):
    buffers = {}
    held = _buffer(cuda, buffers, "alpha", (1, 1, 4, 4), np.dtype(np.float32), host=True).host
    held[...] = 0.25
    _buffer(cuda, buffers, "alpha", (1, 1, 8, 8), np.dtype(np.float32), host=True)
    print("BUFFER_HELD_INTACT", bool((held == 0.25).all()))

# 5. pycuda alone: a primary context detached from another thread keeps its retain (the leak)
ctx = cuda.Device(0).retain_primary_context()
before = retains()
t = threading.Thread(target=ctx.detach)
t.start()
t.join()
print("PYCUDA_CROSS_THREAD_DETACH_LEAKS", retains() == before)
