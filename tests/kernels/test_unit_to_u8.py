"""Float alpha -> uint8: one rule (NaN -> 0, clamped to 0..1, round half to even of x * 255 in float32),
the same in the native kernel, its NumPy twin and the host space's to_u8 (the model steps' outputs), and
never a library's corner case (cv2.convertScaleAbs changed NaN and infinities between releases)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from alpha_rule import EXPECTED, VALUES
from edgematte.errors import InternalError
from edgematte.kernels import trusted
from edgematte.pipeline.host import HostSpace

HOST = ["cpu", "reference"]


@pytest.mark.parametrize("name", HOST)
def test_unit_to_u8_follows_the_promised_rule(name):
    values = VALUES.reshape(1, -1)
    out = np.full(values.shape, 7, np.uint8)
    assert trusted(name).unit_to_u8(values, out) is out
    np.testing.assert_array_equal(out[0], EXPECTED)


@pytest.mark.parametrize("name", HOST)
def test_unit_to_u8_is_round_half_even_of_alpha_times_255_in_0_1(name):
    values = np.random.default_rng(4).random((37, 53), dtype=np.float32)
    out = trusted(name).unit_to_u8(values, np.empty(values.shape, np.uint8))
    np.testing.assert_array_equal(out, np.rint(values * np.float32(255)).astype(np.uint8))


@pytest.mark.parametrize("name", HOST)
def test_unit_to_u8_reads_and_writes_row_strided_views(name):
    values = np.random.default_rng(5).random((20, 30), dtype=np.float32)
    out = np.zeros((20, 40), np.uint8)
    trusted(name).unit_to_u8(values[3:15, 5:25], out[2:14, 10:30])
    np.testing.assert_array_equal(out[2:14, 10:30], np.rint(values[3:15, 5:25] * np.float32(255)))
    assert not out[:2].any() and not out[14:].any() and not out[:, :10].any() and not out[:, 30:].any()


def test_unit_to_u8_takes_empty_arrays():
    for shape in ((0, 5), (5, 0)):
        trusted("cpu").unit_to_u8(np.empty(shape, np.float32), np.empty(shape, np.uint8))


def test_the_device_space_asks_its_array_module():
    with pytest.raises(InternalError, match="host arrays"):
        trusted("cuda").unit_to_u8(np.zeros((1, 1), np.float32), np.zeros((1, 1), np.uint8))


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=9),
                  elements=st.floats(width=32, allow_nan=True, allow_infinity=True)))
def test_every_implementation_agrees_on_any_float(values):
    outs = [trusted(name).unit_to_u8(values, np.empty(values.shape, np.uint8)) for name in HOST]
    outs.append(HostSpace().to_u8(values[None], np.empty(values.shape, np.uint8)))
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_the_host_space_turns_alpha_and_foreground_planes_into_uint8_by_the_rule():
    """What the model steps hand over (RVM's pha and fgr): [1,h,w] -> [h,w]; RGB [3,h,w] -> BGR [h,w,3]."""
    space = HostSpace()
    planes = np.stack([VALUES, np.full_like(VALUES, 0.5), np.zeros_like(VALUES)])[:, None]  # R, G, B of 1 x n
    alpha = space.to_u8(planes[:1], np.empty((1, VALUES.size), np.uint8))
    np.testing.assert_array_equal(alpha[0], EXPECTED)
    bgr = space.to_u8(planes, np.empty((1, VALUES.size, 3), np.uint8))
    np.testing.assert_array_equal(bgr[0, :, 2], EXPECTED)
    assert (bgr[0, :, 1] == 128).all() and (bgr[0, :, 0] == 0).all()
    half = planes[:1].astype(np.float16)  # a float16 model's output, read by the same rule
    want = trusted("reference").unit_to_u8(half[0].astype(np.float32), np.empty((1, VALUES.size), np.uint8))
    np.testing.assert_array_equal(space.to_u8(half, np.empty((1, VALUES.size), np.uint8)), want)
