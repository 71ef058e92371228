"""Kernel tests run once per implementation; an implementation that cannot run here is skipped.

The ``cuda`` implementation takes device arrays: :class:`OnDevice` gives it the host-array API of
the others (CuPy uploads, runs, downloads), so every parity and error test covers it on a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgematte.errors import BackendUnavailableError
from edgematte.kernels import DEVICE, IMPLEMENTATIONS, kernels


class OnDevice:
    """A device implementation behind NumPy in and out: arrays are uploaded with CuPy, results
    downloaded; a NumPy ``out`` is filled from the device result and returned."""

    def __init__(self, k, cupy):
        self.name, self.kernels, self.cp = k.name, k, cupy

    def _up(self, x):
        return self.cp.asarray(x) if isinstance(x, np.ndarray) and x.ndim > 1 else x

    def _run(self, fn, args, kwargs):
        out = kwargs.get("out")
        if isinstance(out, np.ndarray):
            kwargs["out"] = self.cp.asarray(out)
        result = self.cp.asnumpy(fn(*(self._up(a) for a in args), **kwargs))
        if isinstance(out, np.ndarray):
            out[...] = result
            return out
        return result

    def make_trimap(self, mask, *args, **kwargs):
        return self._run(self.kernels.make_trimap, (mask,) + args, kwargs)

    def composite(self, image, alpha, *args, **kwargs):
        return self._run(self.kernels.composite, (image, alpha) + args, kwargs)


def _device_or_skip(name):
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no CUDA device")
    except Exception as exc:  # CuPy missing, or no driver/GPU: cudaErrorNoDevice etc.
        pytest.skip(f"{name} kernels need CuPy and an NVIDIA GPU here ({type(exc).__name__}: {exc})")
    return cupy


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request):
    """A :class:`edgematte.kernels.Kernels` for each implementation (host arrays in and out)."""
    k = kernels(request.param)
    if k.name in DEVICE:
        return OnDevice(k, _device_or_skip(k.name))
    try:
        _ = k.module  # imports it
    except BackendUnavailableError as exc:
        pytest.skip(f"{request.param} kernels unavailable here: {exc}")
    return k


@pytest.fixture
def host_impl(impl):
    """``impl`` for the host implementations only: tests of NumPy layouts (views, copies, read-only
    flags, memory overlap) have no device equivalent (test_cuda_dispatch covers the device rules)."""
    if impl.name in DEVICE:
        pytest.skip("NumPy layout rules; device layouts are tested in test_cuda_dispatch.py")
    return impl


@pytest.fixture
def ref():
    return kernels("reference")
