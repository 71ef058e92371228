"""Bad input raises InputError (a ValueError) naming what was received and what was expected."""

from __future__ import annotations

import numpy as np
import pytest

import edgematte
from edgematte.errors import InputError
from edgematte.kernels import DEVICE

MASK = np.zeros((8, 9), np.uint8)
IMAGE = np.zeros((8, 9, 3), np.uint8)
ALPHA = np.zeros((8, 9), np.uint8)


@pytest.mark.parametrize(
    "mask,kwargs,match",
    [
        ([[0, 255]], {}, r"mask is list; expected a numpy array"),
        (np.zeros((8, 9, 1), np.uint8), {}, r"shape \(8, 9, 1\) \(3 dims\); expected HxW"),
        (np.zeros(8, np.uint8), {}, r"\(1 dims\); expected HxW"),
        (np.zeros((8, 9), np.float16), {}, r"dtype float16; expected HxW uint8 .* or float32"),
        (np.zeros((8, 9), np.float64), {}, r"dtype float64"),
        (np.zeros((8, 9), bool), {}, r"dtype bool"),
        (np.zeros((0, 9), np.uint8), {}, r"mask is empty \(shape \(0, 9\)\)"),
        (np.zeros((8, 0), np.float32), {}, r"mask is empty"),
        (MASK, {"kernel_size": 4}, r"kernel_size is 4; expected an odd int"),
        (MASK, {"kernel_size": 0}, r"kernel_size is 0; expected an int in \[1, 257\]"),
        (MASK, {"kernel_size": -3}, r"kernel_size is -3"),
        (MASK, {"kernel_size": 7.0}, r"kernel_size is float 7.0; expected an int"),
        (MASK, {"kernel_size": True}, r"kernel_size is True; expected an int"),
        (MASK, {"iterations": 0}, r"iterations is 0; expected an int in \[1, "),
        (MASK, {"kernel_size": 31, "iterations": 9}, r"radius of 135; expected .* <= 128"),
        (MASK, {"fg_threshold": 256}, r"fg_threshold is 256; expected an int in \[1, 255\]"),
        (MASK, {"fg_threshold": 0, "bg_threshold": 0}, r"fg_threshold is 0"),
        (MASK, {"bg_threshold": -1}, r"bg_threshold is -1; expected an int in \[0, 254\]"),
        (MASK, {"bg_threshold": 255}, r"bg_threshold is 255"),
        (MASK, {"fg_threshold": 100, "bg_threshold": 100}, r"bg_threshold=100 >= fg_threshold=100"),
        (MASK, {"fg_threshold": 0.5}, r"fg_threshold is float 0.5"),
        (MASK, {"threads": 0}, r"threads is 0; expected an int in \[1, "),
        (MASK, {"threads": "2"}, r"threads is str '2'"),
        (MASK, {"out": np.zeros((8, 9), np.float32)}, r"out is a float32 array of shape \(8, 9\); expected a uint8"),
        (MASK, {"out": np.zeros((9, 8), np.uint8)}, r"out is a uint8 array of shape \(9, 8\); expected .* \(8, 9\)"),
        (MASK, {"out": np.zeros((8, 18), np.uint8)[:, ::2]}, r"out has strides \(18, 2\); expected .* contiguous rows"),
        (MASK, {"out": MASK}, r"out .* overlaps an input"),
        (MASK, {"out": [[0] * 9] * 8}, r"out is list; expected a uint8 array"),
    ],
)
def test_make_trimap_rejects(impl, mask, kwargs, match):
    _host_only_case(impl, mask, kwargs)
    with pytest.raises(InputError, match=match):
        impl.make_trimap(mask, **kwargs)


def test_make_trimap_rejects_readonly_out(host_impl):
    impl = host_impl
    out = np.zeros((8, 9), np.uint8)
    out.flags.writeable = False
    with pytest.raises(InputError, match="out .* is read-only"):
        impl.make_trimap(MASK, out=out)


@pytest.mark.parametrize("bad,match", [(np.nan, r"1 NaN values"), (1.5, r"values in \[0, 1.5\]"),
                                       (-0.25, r"values in \[-0.25, 0\]"), (np.inf, r"values in \[0, inf\]")])
def test_float_mask_out_of_range(host_impl, bad, match):
    impl = host_impl
    mask = np.zeros((8, 9), np.float32)
    mask[3, 4] = bad
    with pytest.raises(InputError, match=r"mask \(float32 array of shape \(8, 9\)\) holds " + match):
        impl.make_trimap(mask)


@pytest.mark.parametrize(
    "args,kwargs,match",
    [
        ((IMAGE.tolist(), ALPHA), {}, r"image is list; expected a numpy array HxWx3 uint8"),
        ((np.zeros((8, 9, 4), np.uint8), ALPHA), {}, r"\(4 channels\); expected HxWx3 uint8"),
        ((np.zeros((8, 9), np.uint8), ALPHA), {}, r"image has shape \(8, 9\) \(2 dims\)"),
        ((np.zeros((8, 9, 3), np.float32), ALPHA), {}, r"image has dtype float32; expected HxWx3 uint8"),
        ((np.zeros((0, 9, 3), np.uint8), ALPHA[:0]), {}, r"image is empty"),
        ((IMAGE, np.zeros((8, 9, 1), np.uint8)), {}, r"alpha has shape \(8, 9, 1\) \(3 dims\)"),
        ((IMAGE, np.zeros((8, 9), np.float16)), {}, r"alpha has dtype float16"),
        ((IMAGE, np.zeros((8, 9), np.float64)), {}, r"alpha has dtype float64"),
        ((IMAGE, np.zeros((9, 8), np.uint8)), {}, r"alpha has shape \(9, 8\) but image \(8, 9, 3\)"),
        ((IMAGE, ALPHA, np.zeros((8, 8, 3), np.uint8)), {}, r"background has shape \(8, 8, 3\) but image"),
        ((IMAGE, ALPHA, np.zeros((8, 9, 3), np.float32)), {}, r"background has dtype float32"),
        ((IMAGE, ALPHA, np.zeros((8, 9), np.uint8)), {}, r"background has shape \(8, 9\) \(2 dims\)"),
        ((IMAGE, ALPHA, (1, 2)), {}, r"background colour has 2 values; expected 3 ints"),
        ((IMAGE, ALPHA, (1, 2, 256)), {}, r"background colour value is 256; expected an int in \[0, 255\]"),
        ((IMAGE, ALPHA, (1, 2, 0.5)), {}, r"background colour value is float 0.5"),
        ((IMAGE, ALPHA, 3), {}, r"background is int 3; expected an HxWx3 uint8 array, 3 ints or None"),
        ((IMAGE, ALPHA), {"out": np.zeros((8, 9, 3), np.uint8)},
         r"out is a uint8 array of shape \(8, 9, 3\); expected a uint8 array of shape \(8, 9, 4\)"),
        ((IMAGE, ALPHA, (0, 0, 0)), {"out": np.zeros((8, 9, 4), np.uint8)}, r"expected .* \(8, 9, 3\)"),
        ((IMAGE, ALPHA, (0, 0, 0)), {"threads": -1}, r"threads is -1"),
        ((IMAGE, ALPHA, (0, 0, 0)), {"out": IMAGE[::-1]}, r"out .* overlaps an input"),
        ((IMAGE, ALPHA, (0, 0, 0)), {"out": np.zeros((8, 9, 6), np.uint8)[..., :3]},
         r"out has strides \(54, 6, 1\); expected .* contiguous rows"),
    ],
)
def test_composite_rejects(impl, args, kwargs, match):
    _host_only_case(impl, *args, kwargs)
    with pytest.raises(InputError, match=match):
        impl.composite(*args, **kwargs)


def test_composite_rejects_out_overlapping_alpha(host_impl):
    impl = host_impl
    buf = np.zeros((8, 9 * 3), np.uint8)
    image = np.zeros((8, 9, 3), np.uint8)
    with pytest.raises(InputError, match="overlaps an input"):
        impl.composite(image, buf[:, :9], (1, 2, 3), out=buf.reshape(8, 9, 3))


@pytest.mark.parametrize("bad,match", [(np.nan, r"1 NaN values"), (1.0001, r"values in \[0, 1.0001\]"),
                                       (-1e-6, r"values in \[-1e-06, 0\]")])
def test_float_alpha_out_of_range(host_impl, bad, match):
    impl = host_impl
    alpha = np.zeros((8, 9), np.float32)
    alpha[7, 8] = bad
    with pytest.raises(InputError, match=r"alpha \(float32 array of shape \(8, 9\)\) holds " + match):
        impl.composite(IMAGE, alpha, IMAGE)


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        edgematte.make_trimap(np.zeros((2, 2), np.int32))
    with pytest.raises(ValueError):
        edgematte.composite(IMAGE, ALPHA, "red")


def test_unknown_implementation():
    with pytest.raises(InputError, match=r"implementation is 'gpu'; expected one of \['cpu', 'cuda', 'reference'\]"):
        edgematte.kernels.kernels("gpu")


def test_stream_needs_device_arrays():
    with pytest.raises(InputError, match=r"stream is int 5 with NumPy arrays; expected None"):
        edgematte.make_trimap(MASK, stream=5)


def _host_only_case(impl, *args):
    """Skip on a device implementation the cases about NumPy objects themselves (non-arrays, ``out``
    buffers): device arrays have their own (test_cuda_dispatch.py)."""
    *arrays, kwargs = args
    if impl.name in DEVICE and ("out" in kwargs or not all(isinstance(a, np.ndarray) for a in arrays[:2])):
        pytest.skip("a NumPy-object case; the device rules are tested in test_cuda_dispatch.py")
