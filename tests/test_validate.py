"""edgematte.validate: the one argument checker, one message shape, InputError only."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgematte import validate as v
from edgematte.errors import InputError

ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=3),
                     st.lists(st.integers(), max_size=3), st.tuples(st.integers()))


@given(value=ANYTHING)
def test_check_int_accepts_exactly_ints_in_range(value):
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and -5 <= value <= 5:
        assert v.check_int("n", value, -5, 5) == value
    else:
        with pytest.raises(InputError, match=r"^n is .*; expected an int in \[-5, 5\]$"):
            v.check_int("n", value, -5, 5)


@given(value=ANYTHING)
def test_check_positive_accepts_exactly_finite_positive_numbers(value):
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and abs(value) < 2**1024 and np.isfinite(float(value)) and value > 0:
        assert v.check_positive("eps", value) == float(value)
    else:
        with pytest.raises(InputError, match=r"^eps is .*; expected a finite number > 0$"):
            v.check_positive("eps", value)


@given(value=ANYTHING)
def test_check_colour_accepts_exactly_three_ints_0_255(value):
    ok = isinstance(value, (list, tuple)) and len(value) == 3 and all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    if ok:
        assert v.check_colour(value) == tuple(value)
    else:
        with pytest.raises(InputError, match=r"^background (colour value )?(is|has|colour has) "):
            v.check_colour(value)


@pytest.mark.parametrize(
    "frame,match",
    [
        (None, r"^frame is NoneType; expected a numpy array HxWx3 uint8 BGR$"),
        (np.zeros((4, 4), np.uint8), r"^frame has shape \(4, 4\) \(2 dims\); expected HxWx3 uint8 BGR$"),
        (np.zeros((4, 4, 4), np.uint8), r"^frame has shape \(4, 4, 4\) \(4 channels\)"),
        (np.zeros((4, 4, 3), np.float32), r"^frame has dtype float32; expected HxWx3 uint8 BGR$"),
        (np.zeros((0, 4, 3), np.uint8), r"^frame is empty \(shape \(0, 4, 3\)\)"),
    ],
)
def test_check_frame_rejects(frame, match):
    with pytest.raises(InputError, match=match):
        v.check_frame(frame)


def test_check_positive_refuses_ints_beyond_float_range():
    with pytest.raises(InputError, match="expected a finite number > 0"):
        v.check_positive("eps", 10**400)


def test_check_frame_passes_contiguous_frames_and_copies_others_once():
    frame = np.zeros((6, 8, 3), np.uint8)
    assert v.check_frame(frame) is frame
    with pytest.warns(RuntimeWarning, match="frame .* is not C-contiguous; copied once"):
        copied = v.check_frame(frame[:, ::2])
    assert copied.flags.c_contiguous and copied.shape == (6, 4, 3)
