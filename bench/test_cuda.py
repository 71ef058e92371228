"""CUDA kernels at 1920x1080: achieved GB/s against a device-to-device copy of the same bytes.

Each group holds the copy (role "baseline") and one kernel; wall times include a stream sync.
CUDA-event timings over 200 launches go to extra_info: ``gbps`` (bytes read + written per second)
and, on the kernel, ``copy_fraction`` = gbps / copy gbps (goal >= 0.6). Needs CuPy or pycuda and a
GPU; skips otherwise.

    pytest bench/test_cuda.py --benchmark-json bench/results/cuda.json
"""

from __future__ import annotations

import numpy as np
import pytest

import edgematte
from edgematte.kernels import cuda

pytestmark = pytest.mark.gpu
H, W = 1080, 1920
EVENT_RUNS = 200


class Cupy:
    def __init__(self, cupy):
        self.cp = cupy

    def put(self, a):
        return self.cp.asarray(a)

    def empty(self, nbytes):
        return self.cp.empty(nbytes, np.uint8)

    def copy(self, dst, src):
        self.cp.copyto(dst, src)

    def sync(self):
        self.cp.cuda.get_current_stream().synchronize()

    def event_ms(self, fn, runs):
        start, stop = self.cp.cuda.Event(), self.cp.cuda.Event()
        start.record()
        for _ in range(runs):
            fn()
        stop.record()
        stop.synchronize()
        return self.cp.cuda.get_elapsed_time(start, stop) / runs


class Pycuda:
    def __init__(self):
        import pycuda.autoprimaryctx  # noqa: F401
        import pycuda.driver as cuda
        from pycuda import gpuarray

        self.cuda, self.gpuarray = cuda, gpuarray

    def put(self, a):
        return self.gpuarray.to_gpu(np.ascontiguousarray(a))

    def empty(self, nbytes):
        return self.gpuarray.empty(nbytes, np.uint8)

    def copy(self, dst, src):
        self.cuda.memcpy_dtod(dst.gpudata, src.gpudata, src.nbytes)

    def sync(self):
        self.cuda.Context.synchronize()

    def event_ms(self, fn, runs):
        start, stop = self.cuda.Event(), self.cuda.Event()
        start.record()
        for _ in range(runs):
            fn()
        stop.record()
        stop.synchronize()
        return start.time_till(stop) / runs


def _harness():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return Cupy(cupy), ""
    except Exception as exc:  # ImportError, or CUDARuntimeError without a driver
        cupy_reason = f"CuPy unusable ({type(exc).__name__}: {exc})"
    else:
        cupy_reason = "CuPy sees no GPU"
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count() > 0:
            return Pycuda(), ""
    except Exception as exc:  # ImportError, or pycuda's driver error
        return None, f"needs a GPU with CuPy or pycuda: {cupy_reason}; pycuda unusable ({type(exc).__name__}: {exc})"
    return None, f"needs a GPU with CuPy or pycuda: {cupy_reason}; pycuda sees no GPU"


DEV, WHY = _harness()
if DEV is None:
    pytest.skip(WHY, allow_module_level=True)

RNG = np.random.default_rng(0)
FRAME = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (H, W), dtype=np.uint8)
BACKGROUND = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
MASK = np.where(RNG.random((H // 8, W // 8)) > 0.5, 255, 0).astype(np.uint8).repeat(8, 0).repeat(8, 1)


def _cases():
    """name -> (callable on device inputs, bytes read + written per call)."""
    d = {k: DEV.put(v) for k, v in dict(frame=FRAME, alpha=ALPHA, bg=BACKGROUND, mask=MASK).items()}
    d["alpha_f32"] = DEV.put(ALPHA.astype(np.float32) / 255)
    d["small_alpha"] = DEV.put(RNG.random((512, 512)).astype(np.float16))
    px = H * W
    return {
        "composite-u8-image": (lambda: edgematte.composite(d["frame"], d["alpha"], d["bg"]), px * (3 + 1 + 3 + 3)),
        "composite-f32-colour": (
            lambda: edgematte.composite(d["frame"], d["alpha_f32"], (0, 255, 0)),
            px * (3 + 4 + 3),
        ),
        "composite-bgra": (lambda: edgematte.composite(d["frame"], d["alpha"]), px * (3 + 1 + 4)),
        "preprocess-512-f16": (lambda: cuda.preprocess(d["frame"], 512, 512), px * 3 + 512 * 512 * 3 * 2),
        "upsample-512-f16": (lambda: cuda.upsample_alpha(d["small_alpha"], H, W), 512 * 512 * 2 + px),
        "trimap-7x3": (lambda: edgematte.make_trimap(d["mask"], 7, 3), px * 2 * 3),
    }


CASES = _cases()


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("impl", ["device-copy", "cuda"])
def test_cuda_bandwidth(benchmark, name, impl):
    fn, nbytes = CASES[name]
    if impl == "device-copy":  # the same bytes moved: nbytes/2 read and written
        src, dst = DEV.empty(nbytes // 2), DEV.empty(nbytes // 2)

        def fn():
            DEV.copy(dst, src)

        benchmark.extra_info["role"] = "baseline"
    benchmark.group = f"cuda-{name}-1080p"
    for _ in range(10):
        fn()
    DEV.sync()
    ms = DEV.event_ms(fn, EVENT_RUNS)
    benchmark.extra_info["event_ms"] = ms
    benchmark.extra_info["gbps"] = nbytes / ms / 1e6
    if impl == "cuda":
        copy_src, copy_dst = DEV.empty(nbytes // 2), DEV.empty(nbytes // 2)
        copy_ms = DEV.event_ms(lambda: DEV.copy(copy_dst, copy_src), EVENT_RUNS)
        benchmark.extra_info["copy_fraction"] = copy_ms / ms
    benchmark(lambda: (fn(), DEV.sync()))
