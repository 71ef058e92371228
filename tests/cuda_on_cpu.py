"""Test helper: edgematte's CUDA kernel sources compiled as C++ for the CPU, and a NumPy stand-in for CuPy, so
that the CUDA space's own code runs here, without a GPU, against the host space.

- :func:`stage_kernels`: ``edgematte/kernels/cuda/stages.cu`` built with g++ and ``kernels/cuda_on_cpu.h``
  (EM_FOR_PIXELS loops over the grid); :class:`CpuRuntime` launches its kernels by name with the argument
  tuples the CUDA space passes (the launcher's signature table gives the C types).
- :data:`fake_cupy`: the part of CuPy the CUDA space uses, over NumPy arrays of :class:`DeviceArray`, a
  subclass with CuPy's ``get``/``set``/``data.ptr``. It has no ``__cuda_array_interface__``, so the kernel
  registry (composite, trimap) runs the CPU kernels on it; the CUDA-only ``preprocess`` and ``blur`` are
  swapped for their NumPy/OpenCV twins by :func:`cpu_cuda_space`.

This checks the CUDA space's plumbing (buffers, pitches, argument order, delivery) and the stage kernels'
arithmetic; what it cannot check is CUDA itself: compilation for a GPU (the nvcc tests), launches, streams.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from edgematte.kernels.cuda import _runtime as cr

SHIM = Path(__file__).resolve().parent / "kernels" / "cuda_on_cpu.h"
_CTYPES = {"P": ctypes.c_void_p, "q": ctypes.c_longlong, "i": ctypes.c_int, "f": ctypes.c_float,
           "d": ctypes.c_double}
_LIBRARY = {}


def stage_kernels(folder: Path) -> ctypes.CDLL:
    """stages.cu compiled for the CPU into ``folder`` (once per process), its kernels' argtypes set."""
    if "lib" not in _LIBRARY:
        gxx = shutil.which("g++") or shutil.which("c++")
        if gxx is None:
            pytest.skip("no C++ compiler here: the CUDA stage kernels are run on the CPU through g++")
        out = folder / "stages_cpu.so"
        subprocess.run([gxx, "-x", "c++", "-O2", "-ffp-contract=off", "-shared", "-fPIC", "-include", str(SHIM),
                        f"-I{cr.CUDA_DIR}", f"-I{cr.COMMON_DIR}", "-o", str(out), str(cr.CUDA_DIR / "stages.cu")],
                       check=True, capture_output=True, text=True)
        lib = ctypes.CDLL(str(out))
        for name, (module, sig) in cr.KERNELS.items():
            if module == "stages":
                getattr(lib, name).argtypes = [_CTYPES[t] for t in sig]
                getattr(lib, name).restype = None
        _LIBRARY["lib"] = lib
    return _LIBRARY["lib"]


def ptr(array) -> int:
    return array.__array_interface__["data"][0]


class CpuRuntime:
    """The kernel launcher's ``launch`` over the CPU build: one call runs the whole grid."""

    name = "cpu"

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib, self.launched = lib, []

    def launch(self, kernel, grid, args, stream, shared=0):
        assert cr.KERNELS[kernel][0] == "stages", f"{kernel} has no CPU build"
        assert len(args) == len(cr.KERNELS[kernel][1]), (kernel, args)
        self.launched.append(kernel)
        getattr(self.lib, kernel)(*args)


class DeviceArray(np.ndarray):
    """A NumPy array that answers as a CuPy array does (``data.ptr``, ``get``, ``set``)."""

    @property
    def data(self):  # CuPy's MemoryPointer
        return SimpleNamespace(ptr=self.__array_interface__["data"][0])

    def get(self, out=None):
        if out is None:
            return np.array(self)
        np.copyto(out, self)
        return out

    def set(self, host):
        np.copyto(self, host)


def _device(array):
    return np.asarray(array).view(DeviceArray)


class _Event:
    def record(self):
        self.t = time.perf_counter()

    def synchronize(self):
        pass


class _FakeCupy:
    """CuPy's namespace over NumPy: NumPy's functions, whose array results come back as DeviceArray."""

    ndarray = DeviceArray
    cuda = SimpleNamespace(Event=_Event, get_elapsed_time=lambda a, b: (b.t - a.t) * 1e3)

    @staticmethod
    def asarray(a):
        return a if isinstance(a, DeviceArray) else _device(np.array(a))  # an upload is a copy

    @staticmethod
    def from_dlpack(a):
        return _device(np.from_dlpack(a))

    def __getattr__(self, name):
        fn = getattr(np, name)
        if not callable(fn) or isinstance(fn, type):
            return fn

        def device(*args, **kwargs):
            result = fn(*args, **kwargs)
            return result.view(DeviceArray) if isinstance(result, np.ndarray) and result.ndim else result

        return device


fake_cupy = _FakeCupy()


def cpu_cuda_space(folder: Path, results: str = "auto"):
    """The CUDA space on the CPU: fake_cupy, the CPU build of stages.cu, the twins of preprocess and blur."""
    import cv2

    from edgematte.pipeline.cuda import CudaSpace

    runtime = CpuRuntime(stage_kernels(folder))
    space = CudaSpace(results, cupy=fake_cupy, runtime=runtime)

    def preprocess(image, height, width, *, dtype, out):
        assert image.shape[:2] == (height, width)  # the pipeline converts at the model's size
        np.multiply(image.transpose(2, 0, 1)[::-1], np.float32(1.0 / 255.0), out=out[0], casting="unsafe")
        return out

    def blur(image, kernel_size, sigma, *, out):
        return cv2.GaussianBlur(image, (kernel_size, kernel_size), sigma, dst=out)

    space._preprocess, space._blur = preprocess, blur
    return space
