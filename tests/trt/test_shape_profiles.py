"""Parsing and checking shape ranges (--shapes), no TensorRT needed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgematte.errors import InputError
from edgematte.export.profiles import check_profiles, parse_shape_range, parse_shapes
from edgematte.runtime.engine_cache import check_in_range
from edgematte.types import TensorSpec


def test_parse_min_opt_max():
    assert parse_shape_range("src:1x3x288x512/1x3x512x512/1x3x1088x1920") == (
        "src",
        ((1, 3, 288, 512), (1, 3, 512, 512), (1, 3, 1088, 1920)),
    )


def test_one_shape_fixes_the_input_and_names_may_hold_colons():
    assert parse_shape_range("input:0:1X3X8X8") == ("input:0", ((1, 3, 8, 8),) * 3)


@pytest.mark.parametrize("text", ["src", ":1x3", "src:1x3/1x3", "src:1x0x3", "src:1x-3", "src:axb", "src:"])
def test_bad_specs(text):
    with pytest.raises(InputError, match="expected"):
        parse_shape_range(text)


def test_one_range_per_input():
    with pytest.raises(InputError, match="two shape ranges"):
        parse_shapes(["src:1x3x8x8", "src:1x3x16x16"])


@given(st.lists(st.integers(1, 4096), min_size=1, max_size=5))
def test_round_trip_of_any_fixed_shape(dims):
    text = "x".join(map(str, dims))
    assert parse_shapes([f"t:{text}"]) == {"t": (tuple(dims),) * 3}


def test_check_in_range():
    rng = ((1, 3, 64, 64), (1, 3, 256, 256), (1, 3, 512, 512))
    check_in_range("src", (1, 3, 64, 512), rng)
    with pytest.raises(InputError, match=r"received shape \(1, 3, 1024, 64\); expected between"):
        check_in_range("src", (1, 3, 1024, 64), rng)
    with pytest.raises(InputError):
        check_in_range("src", (1, 3, 64), rng)


def test_check_profiles_completes_static_inputs():
    inputs = (TensorSpec("src", (1, 3, None, None), "float32"), TensorSpec("r1", (1, 16, 8, 8), "float32"))
    rng = ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32))
    assert check_profiles(inputs, {"src": rng}) == {"src": rng, "r1": ((1, 16, 8, 8),) * 3}
