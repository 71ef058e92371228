"""The one background parser: the API, the CLI and the composite kernel accept and refuse the same colours."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import edgematte
from edgematte.background import parse_background
from edgematte.errors import InputError

FRAME = np.zeros((12, 16, 3), np.uint8)
ALPHA = np.full((12, 16), 128, np.uint8)
BAD_COLOURS = [(1.7, 2, 3), ("1", "2", "3"), (True, 0, 0), (0, 0, 256), (-1, 0, 0), (1, 2), (1, 2, 3, 4), [np.float32(3), 0, 0]]


@pytest.mark.parametrize("colour", BAD_COLOURS, ids=repr)
def test_bad_colours_are_refused_by_the_api_and_the_kernel(matter, colour):
    with pytest.raises(InputError, match="colour|background"):
        parse_background(colour)
    with pytest.raises(InputError, match="colour|background"):
        matter.replace_background(FRAME, colour)
    with pytest.raises(InputError, match="colour|background"):
        edgematte.composite(FRAME, ALPHA, colour)


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("blur", "blur"),
        (" Blur ", "blur"),
        ("green", (64, 177, 0)),  # names and text are RGB, parsed to BGR
        ("#1e90ff", (255, 144, 30)),
        ("10, 20, 30", (30, 20, 10)),
        ((1, 2, 3), (1, 2, 3)),  # tuples are already BGR
        ([np.uint8(1), np.int64(2), 3], (1, 2, 3)),
        (np.array([4, 5, 6]), (4, 5, 6)),
    ],
)
def test_good_values(value, expected):
    assert parse_background(value) == expected


def test_images_and_paths(tmp_path):
    import cv2

    image = np.full((5, 7, 3), 9, np.uint8)
    assert parse_background(image) is image
    cv2.imwrite(str(tmp_path / "bg.png"), image)
    np.testing.assert_array_equal(parse_background(str(tmp_path / "bg.png")), image)
    np.testing.assert_array_equal(parse_background(tmp_path / "bg.png"), image)
    for bad in (np.zeros((5, 7), np.uint8), np.zeros((5, 7, 3), np.float32), np.zeros((0, 7, 3), np.uint8)):
        with pytest.raises(InputError, match="uint8 HxWx3"):
            parse_background(bad)
    with pytest.raises(InputError, match="no colour and no existing file"):
        parse_background(str(tmp_path / "absent.png"))


def test_the_cli_names_its_option():
    with pytest.raises(InputError, match="--background 'plaid'"):
        parse_background("plaid", name="--background")


@given(st.tuples(st.integers(-300, 300), st.integers(-300, 300), st.integers(-300, 300)))
def test_int_tuples_are_accepted_exactly_in_range(colour):
    if all(0 <= c <= 255 for c in colour):
        assert parse_background(colour) == colour
    else:
        with pytest.raises(InputError):
            parse_background(colour)
