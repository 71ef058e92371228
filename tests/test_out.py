"""``Matter.process(..., out=)``: the composite written into the caller's array (the GStreamer element's own
buffer), equal to the composite Matter makes in its own buffer, also when ``out`` is the frame itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgematte
from edgematte.errors import InputError
from edgematte.pipeline import NO_COMPOSITE

BACKGROUNDS = {"colour": (64, 177, 0), "image": "image", "blur": "blur", "none": None}


def _frame(rng, h, w):
    """A frame the tiny model (alpha = sigmoid(20 (R - B))) cuts with an edge band: red left, blue right, noise."""
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    frame[:, : w // 2, 2] = np.maximum(frame[:, : w // 2, 2], 200)
    frame[:, w // 2:, 0] = np.maximum(frame[:, w // 2:, 0], 200)
    return frame


def _background(name, rng, h, w):
    value = BACKGROUNDS[name]
    return rng.integers(0, 256, (h + 3, w + 5, 3), dtype=np.uint8) if value == "image" else value


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 70), w=st.integers(1, 90),
       refine=st.sampled_from(["fast", "off", "full"]), background=st.sampled_from(sorted(BACKGROUNDS)),
       in_place=st.booleans())
def test_out_receives_the_same_composite(tiny_onnx, seed, h, w, refine, background, in_place):
    rng = np.random.default_rng(seed)
    frame = _frame(rng, h, w)
    bg = _background(background, rng, h, w)
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine=refine, temporal=0) as matter:
        expected = matter.process(frame.copy(), bg).composite.copy()
        channels = 4 if bg is None else 3
        source = frame.copy()
        out = source if in_place and channels == 3 else np.full((h, w, channels), 7, np.uint8)
        result = matter.process(source, bg, out=out)
    assert result.composite is out
    np.testing.assert_array_equal(out, expected)


def test_rvm_writes_into_out_and_over_its_frame(rvm_onnx, asl_book):
    import av

    with av.open(str(asl_book)) as container:
        frames = [f.to_ndarray(format="bgr24") for _, f in zip(range(3), container.decode(video=0))]
    with edgematte.Matter(rvm_onnx, backend="ort-cpu") as matter:
        expected = [matter.process(f, "green").composite.copy() for f in frames]
        matter.reset()
        got = []
        for f in frames:
            own = f.copy()
            got.append(matter.process(own, "green", out=own).composite)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("out, background, words", [
    (np.zeros((8, 8, 3), np.uint8), NO_COMPOSITE, "without a background"),
    (np.zeros((8, 9, 3), np.uint8), "green", "shape (8, 9, 3)"),
    (np.zeros((8, 8, 3), np.uint8), None, "shape (8, 8, 4)"),
    (np.zeros((8, 8, 3), np.float32), "green", "dtype float32"),
    (np.zeros((8, 16, 3), np.uint8)[:, ::2], "green", "not writable and C-contiguous"),
    (np.zeros((8, 8, 3), np.uint8, order="F"), "green", "not writable and C-contiguous"),
    ([[0]], "green", "expected a writable C-contiguous uint8 array of shape (8, 8, 3)"),
])
def test_a_bad_out_is_refused_with_what_was_expected(matter, out, background, words):
    with pytest.raises(InputError, match="out") as info:
        matter.process(np.zeros((8, 8, 3), np.uint8), background, out=out)
    assert words in str(info.value)


def test_a_read_only_out_is_refused(matter):
    out = np.zeros((8, 8, 3), np.uint8)
    out.flags.writeable = False
    with pytest.raises(InputError, match="not writable"):
        matter.process(np.zeros((8, 8, 3), np.uint8), "green", out=out)
