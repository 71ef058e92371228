"""Public refine_alpha / estimate_foreground: contracts, validation, properties and real-data quality."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import edgematte
from edgematte import InputError, estimate_foreground, refine_alpha


def test_exports_are_lazy_and_public():
    assert "refine_alpha" in edgematte.__all__ and "estimate_foreground" in edgematte.__all__
    assert edgematte.refine_alpha is refine_alpha


def test_refine_beats_the_trimap_baseline_on_real_data(matting_crop):
    image, tri, gt = matting_crop()
    unknown = tri == 128
    assert unknown.sum() > 1000
    baseline = np.abs(0.5 - gt[unknown]).sum()
    for kwargs in ({}, {"iterations": (), "final_iterations": 100}, {"final_iterations": 5}):
        alpha = refine_alpha(image, tri, threads=1, **kwargs)
        assert np.abs(alpha - gt)[unknown].sum() < 0.5 * baseline, kwargs


@settings(max_examples=30, deadline=None)
@given(
    image=arrays(np.uint8, st.tuples(st.integers(1, 40), st.integers(1, 40), st.just(3))),
    data=st.data(),
)
def test_refine_alpha_properties(image, data):
    h, w = image.shape[:2]
    trimap = data.draw(arrays(np.uint8, (h, w), elements=st.sampled_from([0, 128, 255])))
    iterations = data.draw(st.sampled_from([(), (5,), (20, 5), (10, 5, 3)]))
    alpha = refine_alpha(image, trimap, iterations=iterations, final_iterations=data.draw(st.integers(0, 3)))
    assert alpha.dtype == np.float32 and alpha.shape == (h, w)
    assert np.isfinite(alpha).all() and (alpha >= 0).all() and (alpha <= 1).all()
    assert (alpha[trimap == 255] == 1).all() and (alpha[trimap == 0] == 0).all()


def test_fully_known_trimap_is_returned_exactly():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)
    trimap = np.where(rng.random((30, 20)) > 0.5, 255, 0).astype(np.uint8)
    np.testing.assert_array_equal(refine_alpha(image, trimap), trimap / np.float32(255))


def test_flat_band_between_fg_and_bg_is_monotone():
    """A constant-colour band between known bg (left) and fg (right) gives a smooth 0 -> 1 ramp."""
    image = np.full((24, 40, 3), 90, np.uint8)
    trimap = np.full((24, 40), 128, np.uint8)
    trimap[:, :5] = 0
    trimap[:, 35:] = 255
    alpha = refine_alpha(image, trimap, iterations=(), final_iterations=400)
    row = alpha[12]
    assert (np.diff(row) >= -1e-4).all() and row[10] < 0.3 and row[29] > 0.7


def test_non_contiguous_inputs_warn_and_work():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)[:, ::2]
    trimap = np.full((40, 60), 128, np.uint8)[:, ::2]
    with pytest.warns(RuntimeWarning, match="is not C-contiguous; copied once"):
        alpha = refine_alpha(image, trimap)
    assert alpha.shape == (40, 30)


I4, T4 = np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)


@pytest.mark.parametrize(
    "image, trimap, kwargs, match",
    [
        (np.zeros((4, 4, 3), np.float32), T4, {}, r"image has dtype float32; expected HxWx3 uint8"),
        (np.zeros((4, 4), np.uint8), T4, {}, r"image has shape \(4, 4\) \(2 dims\); expected HxWx3"),
        (np.zeros((4, 4, 4), np.uint8), T4, {}, r"image has shape \(4, 4, 4\) \(4 channels\)"),
        ([[0]], T4, {}, r"image is list; expected a numpy array"),
        (I4, np.zeros((4, 5), np.uint8), {}, r"trimap has shape \(4, 5\) but image \(4, 4, 3\)"),
        (I4, np.zeros((4, 4), np.float16), {}, r"trimap has dtype float16; expected HxW uint8"),
        (I4, T4, {"iterations": 5}, r"iterations is int 5; expected a sequence of ints"),
        (I4, T4, {"iterations": (-1,)}, r"iterations is -1; expected an int in \[0, 100000\]"),
        (I4, T4, {"final_iterations": 1.5}, r"final_iterations is float 1.5; expected an int"),
        (I4, T4, {"eps": 0}, r"eps is 0.0; expected a number in \(0, 1000\]"),
        (I4, T4, {"eps": "1"}, r"eps is str '1'; expected a number in \(0, 1000\]"),
        (I4, T4, {"guide_eps": float("nan")}, r"guide_eps is nan; expected a number in \(0, 1000\]"),
        (I4, T4, {"guide_radius": 0}, r"guide_radius is 0; expected an int in \[1, 256\]"),
        (I4, T4, {"threads": 0}, r"threads is 0; expected an int in \[1, "),
        # bounds: each of these overflowed in C, raised OverflowError or ran for hours before
        (I4, T4, {"guide_radius": 2**31 - 1}, r"guide_radius is 2147483647; expected an int in \[1, 256\]"),
        (I4, T4, {"iterations": (2**31,)}, r"iterations is 2147483648; expected an int in \[0, 100000\]"),
        (I4, T4, {"final_iterations": 2**31}, r"final_iterations is 2147483648; expected an int in \[0, 100000\]"),
        (I4, T4, {"eps": 1e300}, r"eps is 1e\+300; expected a number in \(0, 1000\]"),
        (I4, T4, {"prior_weight": -1}, r"prior_weight is -1.0; expected a number in \[0, 1e\+06\]"),
        (I4, T4, {"prior": np.zeros((4, 5), np.float32)}, r"prior has shape \(4, 5\) but image"),
        (I4, T4, {"prior": np.full((4, 4), np.nan, np.float32)}, r"prior \(float32 array of shape \(4, 4\)\) holds 16 NaN"),
    ],
)
def test_refine_alpha_rejects_bad_input(image, trimap, kwargs, match):
    with pytest.raises(InputError, match=match):
        refine_alpha(image, trimap, **kwargs)


def test_empty_image():
    assert refine_alpha(np.zeros((0, 5, 3), np.uint8), np.zeros((0, 5), np.uint8)).shape == (0, 5)
    assert estimate_foreground(np.zeros((0, 5, 3), np.uint8), np.zeros((0, 5), np.float32)).shape == (0, 5, 3)


def test_small_images_are_solved_at_full_resolution():
    """Below the pyramid's minimum size the default schedule still solves the band (no 0.5 left)."""
    image = np.zeros((20, 24, 3), np.uint8)
    image[:, 12:] = 255
    trimap = np.full((20, 24), 128, np.uint8)
    trimap[:, :3] = 0
    trimap[:, 21:] = 255
    alpha = refine_alpha(image, trimap)
    assert alpha[:, 6].max() < 0.1 and alpha[:, 17].min() > 0.9


@settings(max_examples=40, deadline=None)
@given(
    key=st.sampled_from(["guide_radius", "iterations", "final_iterations", "eps", "guide_eps", "prior_weight"]),
    value=st.one_of(st.integers(-2**63, 2**63), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_parameters_are_bounded_or_accepted(key, value):
    """Any number either runs on a small image (its result stays in [0, 1]) or raises an InputError naming the bound."""
    image = np.random.default_rng(0).integers(0, 256, (12, 12, 3), dtype=np.uint8)
    trimap = np.full((12, 12), 128, np.uint8)
    trimap[:, :2], trimap[:, -2:] = 0, 255
    kwargs = {key: (value,) if key == "iterations" else value}
    if key == "prior_weight":
        kwargs["prior"] = np.full((12, 12), 0.5, np.float32)
    bounds = {"guide_radius": (1, 256), "iterations": (0, 100_000), "final_iterations": (0, 100_000),
              "eps": (0, 1e3), "guide_eps": (0, 1e3), "prior_weight": (0, 1e6)}
    lo, hi = bounds[key]
    is_int = isinstance(value, int)
    ok = (lo <= value <= hi and is_int) if key in ("guide_radius", "iterations", "final_iterations") else (
        value == value and (lo < value if key != "prior_weight" else lo <= value) and value <= hi)
    if ok and key in ("iterations", "final_iterations") and value > 200:
        value = 200  # keep the run short: the bound itself is what is tested
        kwargs[key] = (value,) if key == "iterations" else value
    if ok:
        alpha = refine_alpha(image, trimap, **kwargs)
        assert alpha.dtype == np.float32 and (alpha >= 0).all() and (alpha <= 1).all()
    else:
        with pytest.raises(InputError, match=f"{key} is .*; expected an? (int|number) in"):
            refine_alpha(image, trimap, **kwargs)
