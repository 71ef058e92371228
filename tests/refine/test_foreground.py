"""estimate_foreground: spill removal on synthetic composites, properties and validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgematte import InputError, estimate_foreground


def _synthetic(h=64, w=96):
    """Orange texture over blue, with an 8-pixel soft edge (blur-fusion targets thin transitions)."""
    rng = np.random.default_rng(0)
    fg = np.empty((h, w, 3), np.float32)
    fg[..., 0] = 0.1 + 0.05 * rng.random((h, w))  # B
    fg[..., 1] = 0.5 + 0.05 * rng.random((h, w))  # G
    fg[..., 2] = 0.9  # R
    bg = np.zeros((h, w, 3), np.float32)
    bg[..., 0] = 0.9
    alpha = np.clip((np.arange(w, dtype=np.float32) - 40) / 8, 0, 1)[None, :].repeat(h, 0)
    image = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    return (image * 255 + 0.5).astype(np.uint8), alpha, fg


def test_removes_background_spill():
    image, alpha, fg = _synthetic()
    est = estimate_foreground(image, alpha).astype(np.float32) / 255
    soft = (alpha > 0.1) & (alpha < 0.9)
    raw_error = np.abs(image.astype(np.float32) / 255 - fg)[soft].mean()
    est_error = np.abs(est - fg)[soft].mean()
    assert est_error < 0.1 * raw_error


def test_opaque_pixels_keep_their_colour():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = estimate_foreground(image, np.ones((20, 30), np.float32))
    assert np.abs(out.astype(int) - image).max() <= 1


@settings(max_examples=25, deadline=None)
@given(image=arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 30), st.just(3))), data=st.data())
def test_properties_and_uint8_alpha(image, data):
    h, w = image.shape[:2]
    alpha8 = data.draw(arrays(np.uint8, (h, w)))
    out = estimate_foreground(image, alpha8, radius=data.draw(st.integers(1, 20)), small_radius=2)
    assert out.dtype == np.uint8 and out.shape == image.shape
    # the float alpha a uint8 alpha is read as: k * float32(1 / 255), one ulp off k / 255 for most k (enough to move
    # the foreground by one level at a rounding edge), and what the pinned outputs were made with
    same = estimate_foreground(image, alpha8.astype(np.float32) * np.float32(1 / 255), radius=3, small_radius=2)
    np.testing.assert_array_equal(estimate_foreground(image, alpha8, radius=3, small_radius=2), same)


@pytest.mark.parametrize(
    "alpha, kwargs, match",
    [
        (np.zeros((4, 5), np.float32), {}, r"alpha has shape \(4, 5\) but image \(4, 4, 3\); expected alpha of shape"),
        (np.zeros((4, 4), np.float64), {}, r"alpha has dtype float64; expected HxW float32 0..1 or uint8"),
        (np.full((4, 4), np.nan, np.float32), {}, r"alpha \(float32 array of shape \(4, 4\)\) holds 16 NaN"),
        (np.zeros((4, 4), np.float32), {"radius": 0}, r"radius is 0; expected an int in \[1, "),
        (np.zeros((4, 4), np.float32), {"small_radius": 1.5}, r"small_radius is float 1.5; expected an int"),
        # bounds: radius=10**6 hung and small_radius=2**31 raised a bare cv2.error before
        (np.zeros((4, 4), np.float32), {"radius": 10**6}, r"radius is 1000000; expected an int in \[1, 256\]"),
        (np.zeros((4, 4), np.float32), {"small_radius": 2**31}, r"small_radius is 2147483648; expected an int in"),
    ],
)
def test_rejects_bad_input(alpha, kwargs, match):
    with pytest.raises(InputError, match=match):
        estimate_foreground(np.zeros((4, 4, 3), np.uint8), alpha, **kwargs)


@settings(max_examples=40, deadline=None)
@given(radius=st.integers(-2**40, 2**40), small_radius=st.integers(-2**40, 2**40))
def test_radii_are_bounded_or_accepted(radius, small_radius):
    """Any int radius either runs (1..256: on a 3x2 image it must return at once) or names the bound."""
    image = np.full((2, 3, 3), 90, np.uint8)
    alpha = np.full((2, 3), 0.5, np.float32)
    if 1 <= radius <= 256 and 1 <= small_radius <= 256:
        assert estimate_foreground(image, alpha, radius=radius, small_radius=small_radius).shape == (2, 3, 3)
    else:
        with pytest.raises(InputError, match="expected an int in \\[1, 256\\]"):
            estimate_foreground(image, alpha, radius=radius, small_radius=small_radius)


def _box_mean(x, r):
    """Box mean with OpenCV's default border (reflect-101, numpy's 'reflect')."""
    pad = [(r, r), (r, r)] + [(0, 0)] * (x.ndim - 2)
    c = np.pad(x.astype(np.float64), pad, mode="reflect").cumsum(0).cumsum(1)
    c = np.pad(c, [(1, 0), (1, 0)] + [(0, 0)] * (x.ndim - 2))
    k = 2 * r + 1
    h, w = x.shape[:2]
    return (c[k:k + h, k:k + w] - c[:h, k:k + w] - c[k:k + h, :w] + c[:h, :w]) / k**2


def _reference(image, alpha, radius, small_radius):
    """Blur-fusion (Germer et al. 2021) written plainly in float64."""
    img = image / 255.0
    a = alpha.astype(np.float64)[..., None]

    def one(fg, bg, r):
        ba = _box_mean(a, r)
        bf = _box_mean(fg * a, r) / (ba + 1e-5)
        bb = _box_mean(bg * (1 - a), r) / (1 - ba + 1e-5)
        return np.clip(bf + a * (img - a * bf - (1 - a) * bb), 0, 1), bb

    fg, bb = one(img, img, radius)
    fg, _ = one(fg, bb, small_radius)
    return np.clip(fg * 255 + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("shape, radius, small_radius", [((40, 50), 9, 2), ((23, 31), 4, 1), ((64, 96), 20, 3)])
def test_matches_plain_reference(shape, radius, small_radius):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    alpha = np.clip(rng.random(shape, dtype=np.float32) * 1.6 - 0.3, 0, 1)
    got = estimate_foreground(image, alpha, radius=radius, small_radius=small_radius)
    want = _reference(image, alpha, radius, small_radius)
    assert np.abs(got.astype(int) - want).max() <= 1
