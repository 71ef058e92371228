"""Inputs at the matter's boundary: channel order, input alpha, grey, 16 bit, PIL."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import edgematte
from edgematte.errors import InputError
from edgematte.io import split_alpha


def disc(h=48, w=64):
    """Red disc on blue, uint8 HxWx3 BGR: the tiny model's foreground is the disc."""
    import cv2

    frame = np.empty((h, w, 3), np.uint8)
    frame[...] = (255, 0, 0)
    cv2.circle(frame, (w // 2, h // 2), h // 3, (0, 0, 255), -1)
    return frame


def test_rgb_arrays_need_the_explicit_channel_order(tiny_onnx, matter):
    bgr = disc()
    want = matter.process(bgr).alpha.copy()
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast", channels="rgb") as rgb_matter:
        assert np.array_equal(rgb_matter.process(bgr[..., ::-1].copy()).alpha, want)
    # the same RGB array read as BGR is another picture: nothing is guessed
    assert not np.array_equal(matter.process(bgr[..., ::-1].copy()).alpha, want)
    with pytest.raises(InputError, match="channels"):
        edgematte.Matter(tiny_onnx, backend="ort-cpu", channels="auto")


def test_pil_images_are_read_in_their_own_order(matter):
    from PIL import Image

    bgr = disc()
    want = matter.process(bgr).alpha.copy()
    assert np.array_equal(matter.process(Image.fromarray(bgr[..., ::-1].copy())).alpha, want)
    rgba = Image.fromarray(np.dstack([bgr[..., ::-1], np.full(bgr.shape[:2], 255, np.uint8)]))
    assert np.array_equal(matter.process(rgba).alpha, want)
    composite = matter.replace_background(Image.fromarray(bgr[..., ::-1].copy()), "green")
    assert composite.shape == (48, 64, 3)


def test_input_alpha_multiplies_into_the_matte(matter):
    bgr = disc()
    model = matter.process(bgr).alpha.astype(np.float32)
    own = np.zeros(bgr.shape[:2], np.uint8)
    own[:, 32:] = 255  # the right half is opaque, the left half transparent
    own[:4] = 128
    result = matter.process(np.dstack([bgr, own]), "white")
    want = np.round(model * own / 255).astype(np.uint8)
    assert np.abs(result.alpha.astype(int) - want).max() <= 1
    assert (result.alpha[:, :32] == 0).all() and (result.composite[:, :32] == 255).all()


def test_grey_frames_are_expanded(matter):
    grey = np.full((20, 30), 77, np.uint8)
    assert matter.process(grey).alpha.shape == (20, 30)
    assert matter.process(grey[..., None]).alpha.shape == (20, 30)


def test_sixteen_bit_is_converted_with_a_warning(matter):
    bgr = disc()
    deep = bgr.astype(np.uint16) * 257
    with pytest.warns(UserWarning, match="16-bit"):
        result = matter.process(deep)
    assert np.array_equal(result.alpha, matter.process(bgr).alpha)


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint16, st.tuples(st.integers(1, 5), st.integers(1, 5), st.sampled_from([3, 4]))))
def test_sixteen_bit_scaling_is_rounded_and_monotone(deep):
    with pytest.warns(UserWarning):
        colour, alpha = split_alpha(deep)
    assert np.array_equal(colour, np.round(deep[..., :3] / 257).astype(np.uint8))
    if alpha is not None:
        assert np.array_equal(alpha, np.round(deep[..., 3] / 257).astype(np.uint8))


@pytest.mark.parametrize(
    "frame", [np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 3), np.float64), np.zeros((0, 4, 3), np.uint8), "x"]
)
def test_refused_frames_name_what_was_received(frame):
    with pytest.raises(InputError, match="frame .*expected.* HxWx3 uint8"):
        split_alpha(frame)
