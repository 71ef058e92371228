"""Run inside a ``trt_api`` subprocess (real TensorRT bindings, real pycuda, the libcuda stub in "device" mode):
RobustVideoMatting's recurrent state on TensorRT, through TrtBackend, TrtEngineSet and Matter.

The engines are ``Spec`` stand-ins of the real classes (see trt_runtime_checks.py) for RVM's static export with
FP16 I/O: ``src`` [1,3,H,W], ``r1i``..``r4i`` [1,2,H/2,W/2] -> ``fgr``, ``pha``, ``r1o``..``r4o``, all float16. Their
execution context reads and writes the bound device memory (host memory on the stub) as the counting graph of
tests/rvm_graphs.py computes: ``r1o = r1i + 1``, ``pha = (r1i + 1) / 255``, ``fgr = src``. The stub counts every
memory copy and memset. Prints ``KEY value`` lines for the test to assert on.
"""

from __future__ import annotations

import ctypes
import hashlib
import sys
from pathlib import Path

import numpy as np
import pycuda.driver as cuda
import tensorrt as trt
from trt_spec import Spec, spec_factory

import edgematte
from edgematte.models.rvm import STATES
from edgematte.runtime import trt_env
from edgematte.runtime.engine_cache import EngineManifest, Target, write_engine
from edgematte.runtime.trt import DeviceArray, TrtBackend
from edgematte.types import TensorSpec
from edgematte.weights import sha256_of

stub = ctypes.CDLL(None)
stub.stub_copies.restype = stub.stub_memsets.restype = ctypes.c_long
source_onnx = Path(sys.argv[1])  # the dynamic counting graph the engines are recorded as built from


def copies():
    return tuple(int(stub.stub_copies(k)) for k in range(3)) + (int(stub.stub_memsets()),)


def tensors(h, w):
    """(name, is input, shape) of the static export's engine at h x w."""
    state = (1, 2, h // 2, w // 2)
    return ([("src", True, (1, 3, h, w))] + [(n, True, state) for n in STATES]
            + [("fgr", False, (1, 3, h, w)), ("pha", False, (1, 1, h, w))] + [(n, False, state) for n in STATES.values()])


def fake_engine(h, w, log):
    table = tensors(h, w)
    bound = {}

    def view(name):
        shape = dict((n, s) for n, _, s in table)[name]
        count = int(np.prod(shape))
        return np.ctypeslib.as_array((ctypes.c_uint16 * count).from_address(bound[name])).view(np.float16).reshape(shape)

    def execute(stream_handle):
        log.append(dict(bound))
        count = view("r1i") + np.float16(1)
        view("r1o")[...] = count
        for i in "234":
            view(f"r{i}o")[...] = view(f"r{i}i")
        view("pha")[...] = (count.max() / np.float32(255)).astype(np.float16)
        view("fgr")[...] = view("src")
        return True

    context = Spec(
        trt.IExecutionContext,
        set_input_shape=lambda name, shape: True,
        get_tensor_shape=lambda name: dict((n, s) for n, _, s in table)[name],
        set_tensor_address=lambda name, address: bound.__setitem__(name, address) or True,
        execute_async_v3=execute,
    )
    return Spec(
        trt.ICudaEngine,
        num_io_tensors=len(table),
        get_tensor_name=lambda i: table[i][0],
        get_tensor_mode=lambda n: trt.TensorIOMode.INPUT if dict((t[0], t[1]) for t in table)[n] else trt.TensorIOMode.OUTPUT,
        get_tensor_dtype=lambda n: trt.float16,
        get_tensor_shape=lambda n: dict((t[0], t[2]) for t in table)[n],
        create_execution_context=context,
    )


def write_plan(h, w, root):
    plan = f"rvm-{h}x{w}".encode()
    specs = [TensorSpec(n, s, "float16") for n, _, s in tensors(h, w)]
    manifest = EngineManifest(
        key=f"fp16-sm87-{h}x{w}", model=source_onnx.stem, onnx_sha256="b" * 64,
        target=Target(trt.__version__, "Stub GPU", (8, 7)), precision="fp16", typing="strong", profiles={},
        inputs=tuple(s for s, (_, is_in, _) in zip(specs, tensors(h, w)) if is_in),
        outputs=tuple(s for s, (_, is_in, _) in zip(specs, tensors(h, w)) if not is_in),
        plan_sha256=hashlib.sha256(plan).hexdigest(),
        extra={"rvm": {"source_sha256": sha256_of(source_onnx), "height": h, "width": w, "downsample_ratio": 1.0}},
    )
    return write_engine(root, manifest, plan)


logs = {}
engines = {f"rvm-{h}x{w}".encode(): fake_engine(h, w, logs.setdefault((h, w), [])) for h, w in ((8, 10), (12, 16))}
trt.Runtime = spec_factory(trt.Runtime, Spec(trt.Runtime, deserialize_cuda_engine=lambda blob: engines[bytes(blob)]))
trt.init_libnvinfer_plugins = lambda logger, namespace: True
cache = Path("cache")
small, large = write_plan(8, 10, cache / "engines"), write_plan(12, 16, cache / "engines")

# 1. TrtBackend alone: the states are bound by address and swapped each frame, never copied
with TrtBackend(small) as backend:
    print("FP16_IO", {s.dtype for s in backend.inputs + backend.outputs} == {"float16"})
    backend.carry_state(STATES)
    print("FP16_STATES", all(b.dtype == np.float16 for pair in backend._states.values() for b in pair))
    src = np.full((1, 3, 8, 10), 0.5, np.float16)
    before, counts = copies(), []
    for _ in range(3):
        counts.append(int(round(float(backend.infer({"src": src})["pha"].max()) * 255)))
    after = copies()
    print("COUNTS", counts)  # r1o came back as r1i each frame
    # per frame: src up, fgr and pha down; the states: none; one memset, before the first frame
    print("HOST_IO_COPIES_PER_FRAME", tuple((a - b) / 3 for a, b in zip(after[:3], before[:3])), "MEMSETS",
          after[3] - before[3])
    log = logs[(8, 10)]
    print("PING_PONG", all(log[t + 1]["r1i"] == log[t]["r1o"] and log[t + 1]["r1i"] != log[t]["r1i"]
                           for t in range(2)))
    backend.reset_state()
    print("AFTER_RESET", int(round(float(backend.infer({"src": src})["pha"].max()) * 255)))
    backend.device_outputs = True
    with trt_env.pushed(cuda, trt_env.primary_context(cuda, 0)):
        allocation = cuda.mem_alloc(src.nbytes)
        cuda.memcpy_htod(allocation, src)
    before = copies()
    out = backend.infer({"src": DeviceArray(int(allocation), src.shape, src.dtype, owner=allocation)})
    print("DEVICE_IO_COPIES", copies()[:3] == before[:3] and isinstance(out["pha"], DeviceArray))

# 2. Matter on the static export's engine: RvmStep in the pipeline, cuts and resets restart the state
frame, other = np.full((8, 10, 3), 100, np.uint8), np.full((8, 10, 3), 220, np.uint8)
with edgematte.Matter(small, backend="tensorrt", temporal=0) as matter:  # the raw state: no smoothing
    levels = [int(matter.process(frame).alpha[0, 0]) for _ in range(3)]
    matter.reset()
    levels.append(int(matter.process(frame).alpha[0, 0]))
    cut = matter.process(other)
    levels.append(int(cut.alpha[0, 0]))
    print("MATTER_LEVELS", levels, "CUT", cut.cut, "STEP", type(matter.pipeline.step).__name__)

# 3. Matter on RVM's own graph: the engines build made for it, one per frame size; a new size restarts the state
with edgematte.Matter(source_onnx, backend="tensorrt", temporal=0) as matter:
    print("ENGINE_SET", type(matter.backend).__name__, sorted(e.path.name for e in matter.backend.engines))
    levels, memsets = [], copies()[3]
    for f in (frame, frame, np.full((12, 16, 3), 100, np.uint8), np.full((12, 16, 3), 100, np.uint8), frame):
        result = matter.process(f, (0, 255, 0))
        levels.append((int(result.alpha[0, 0]), result.cut))
    print("SIZE_LEVELS", levels, "MEMSETS", copies()[3] - memsets)
