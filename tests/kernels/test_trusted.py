"""The trusted entries (no per-call checks) give the public functions' results."""

from __future__ import annotations

import numpy as np
import pytest

import edgematte
from edgematte.errors import InputError
from edgematte.kernels import trusted
from edgematte.refine import solve_band


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask = np.zeros((40, 50), np.uint8)
    mask[10:30, 12:40] = 255
    background = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    return image, mask, background


@pytest.mark.parametrize("name", ["cpu", "reference"])
def test_trusted_kernels_match_the_public_ones(data, name):
    image, mask, background = data
    k = trusted(name)
    out = np.empty_like(mask)
    assert k.make_trimap(mask, 5, 2, 254, 1, out, 1) is out
    assert np.array_equal(out, edgematte.make_trimap(mask, 5, 2))
    for bg in (background, (0, 177, 64), None):
        out = np.empty(image.shape[:2] + ((3,) if bg is not None else (4,)), np.uint8)
        assert np.array_equal(k.composite(image, mask, bg, out), edgematte.composite(image, mask, bg))


def test_solve_band_matches_refine_alpha(data):
    image, mask, _ = data
    trimap = edgematte.make_trimap(mask, 7, 2)
    assert np.array_equal(solve_band(image, trimap, threads=1), edgematte.refine_alpha(image, trimap, threads=1))


def test_unknown_trusted_implementation():
    with pytest.raises(InputError, match=r"trusted kernel implementation is 'gpu'; expected one of \['cpu', "):
        trusted("gpu")


def test_trusted_cuda_reads_device_arrays_and_reaches_the_runtime(monkeypatch):
    """Without a GPU: the device arrays' interface is read, and the launch asks for a CUDA runtime."""
    from edgematte.errors import BackendUnavailableError
    from edgematte.kernels.cuda import _runtime as cr

    class Fake:
        def __init__(self, shape):
            self.__cuda_array_interface__ = {"shape": shape, "typestr": "|u1", "data": (0x1000, False), "version": 3}

    monkeypatch.setattr(cr, "_importable", lambda name: False)
    monkeypatch.setattr(cr, "_RUNTIMES", {})
    with pytest.raises(BackendUnavailableError, match="received CUDA arrays"):
        trusted("cuda").make_trimap(Fake((4, 4)), 3, 1, 254, 1, Fake((4, 4)))
    with pytest.raises(BackendUnavailableError, match="received CUDA arrays"):
        trusted("cuda").composite(Fake((4, 4, 3)), Fake((4, 4)), (0, 0, 0), Fake((4, 4, 3)))
