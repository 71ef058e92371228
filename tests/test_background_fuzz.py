"""The background parser under fuzzing: any sequence of values gives a background or an InputError.

Found by fuzzing (issue 19): an array followed by text or a path made ``Backgrounds`` compare them
with ``==`` (an array), which raised NumPy's "truth value of an array is ambiguous".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgematte.background import COLOURS, Backgrounds, parse_background
from edgematte.errors import InputError

FRAME = np.zeros((12, 16, 3), np.uint8)
FRAME[..., 0] = 255  # blue: alpha ~0 for the tiny model, so the composite shows the background


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("bg") / "bg.png"
    cv2.imwrite(str(path), np.full((6, 9, 3), (1, 2, 3), np.uint8))
    return path


@pytest.mark.parametrize(
    "first",
    [np.zeros((48, 64, 3), np.uint8), np.array([0, 0, 255]), np.array([0, 0, 255], np.uint8)],
    ids=["image array", "1-D colour array", "1-D uint8 colour array"],
)
@pytest.mark.parametrize("then", ["green", "path", "str path"])
def test_a_value_after_an_array_is_parsed_anew(matter, image_file, first, then):
    """Defect 1: array then "green", 1-D colour array then "green", array then a Path."""
    second = {"green": "green", "path": image_file, "str path": str(image_file)}[then]
    matter.process(FRAME, background=first)
    composite = matter.process(FRAME, background=second).composite
    assert tuple(composite[0, 0]) == ((64, 177, 0) if then == "green" else (1, 2, 3))


def test_an_array_after_text_and_the_same_text_again(image_file):
    backgrounds = Backgrounds()
    colour = np.array([1, 2, 3])
    assert backgrounds("green") == (64, 177, 0)
    assert backgrounds(colour) == (1, 2, 3)
    assert backgrounds("green") == (64, 177, 0)
    first = backgrounds(image_file)
    assert backgrounds(image_file) is first  # parsed once
    assert backgrounds(Path(str(image_file))) is first  # an equal path is the same value
    assert backgrounds(str(image_file)) is not first  # its text is another value, parsed again


# -- the CLI's words ---------------------------------------------------------------------------

CLI_WORDS = ("PIL", "uint8", "HxWx3", "tuple", "None")


@pytest.mark.parametrize("text", ["plaid", "1.7,2,3", "True,0,0", "#12345", "#gggggg", "1,2", "", "  "])
def test_the_cli_is_told_what_it_can_type(text):
    with pytest.raises(InputError) as error:
        parse_background(text, name="--background")
    message = str(error.value)
    assert "--background" in message and "#rrggbb" in message and "R,G,B" in message and "0..255" in message
    assert not any(word in message for word in CLI_WORDS), message


@pytest.mark.parametrize("text", ["300,0,0", "0,0,256", "-1,0,0", "0, 999 ,0"])
def test_an_out_of_range_r_g_b_names_the_range(text):
    expected = r"not all in 0\.\.255; expected R,G,B with each value a whole number 0\.\.255"
    with pytest.raises(InputError, match=expected):
        parse_background(text, name="--background")


def test_the_api_still_lists_its_python_values():
    with pytest.raises(InputError, match="a PIL image or a uint8 HxWx3 BGR image"):
        parse_background("plaid")


# -- fuzzing -----------------------------------------------------------------------------------

_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(sorted(COLOURS) + ["blur", "BLUR", " green ", "#00ff00", "#00FF00", "#0f0", "#+1+2+3"]),
    st.builds(lambda a, b, c, sep: sep.join(map(str, (a, b, c))), st.integers(-300, 300), st.integers(-300, 300),
              st.integers(-300, 300), st.sampled_from([",", ", ", " ,"])),
    st.sampled_from(["²,1,1", "١,٢,٣", "x" * 5000, "a\x00b", "~", "~nobody_here/x.png", "/", ".", "0x10,1,1"]),
)
_arrays = st.one_of(
    hnp.arrays(st.sampled_from([np.uint8, np.int64, np.float32, np.bool_, np.uint16]),
               hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)),
    hnp.arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(3))),
)
_values = st.one_of(
    st.none(),
    _texts,
    _arrays,
    st.lists(st.one_of(st.integers(-5, 300), st.floats(), st.booleans(), st.text(max_size=3)), max_size=4),
    st.tuples(st.integers(-5, 300), st.integers(-5, 300), st.integers(-5, 300)),
    st.binary(max_size=4),
    st.integers(),
    st.floats(),
    st.dictionaries(st.integers(0, 3), st.integers(0, 3), max_size=3),
    st.builds(Path, st.text(max_size=20)),
)


def _parse(backgrounds, value):
    try:
        return backgrounds(value)
    except InputError as exc:
        return exc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_values, min_size=1, max_size=6), st.sampled_from(["background", "--background"]))
def test_any_sequence_of_values_parses_or_is_refused(values, name):
    """Each call gives what a fresh parse of the same value gives: a background or an InputError."""
    backgrounds = Backgrounds(name)
    try:
        for value in values:
            got = _parse(backgrounds, value)
            fresh = _parse(Backgrounds(name), value)
            assert type(got) is type(fresh)
            if isinstance(got, InputError):
                message = str(got)
                assert "expected" in message and "\n" not in message
                if name.startswith("-") and isinstance(value, str):
                    assert not any(word in message for word in CLI_WORDS), message
            elif isinstance(got, np.ndarray):
                assert got.dtype == np.uint8 and got.ndim == 3 and got.shape[2] == 3
                np.testing.assert_array_equal(got, fresh)
            else:
                assert got == fresh
    finally:
        backgrounds.close()
