"""The fused fast path (csrc/guided.c) against its NumPy twin (edgematte/kernels/_guided_reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgematte.kernels import _guided
from edgematte.kernels import _guided_reference as ref


def _inputs(rng, H, W, h, w):
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = np.clip(rng.random((h, w), dtype=np.float32) * 1.6 - 0.3, 0, 1)
    alpha[: h // 3] = 1  # known regions for the clamp
    alpha[-(h // 3):] = 0
    return image, small, alpha


def _coefficients(small, alpha, radius, mean_radius, eps, known_radius):
    coef = np.empty((4,) + alpha.shape, np.float32)
    _guided.guided_coefficients(small, alpha, coef, radius, mean_radius, eps, known_radius, 2)
    return coef


@pytest.mark.parametrize("radius, mean_radius, eps, known_radius", [(3, 1, 1e-5, 1), (1, 0, 1e-2, -1), (2, 2, 1e-4, 0)])
def test_coefficients_match_reference(radius, mean_radius, eps, known_radius):
    rng = np.random.default_rng(radius + 7 * mean_radius)
    _, small, alpha = _inputs(rng, 1, 1, 29, 41)
    got = _coefficients(small, alpha, radius, mean_radius, eps, known_radius)
    want = ref.guided_coefficients(small, alpha, radius, mean_radius, eps, known_radius)
    scale = np.abs(want).max(axis=(1, 2), keepdims=True) + 1
    assert (np.abs(got - want) / scale).max() < 1e-4
    if known_radius >= 0:  # known regions are exact: a = 0, b = 0 or 255
        rows = slice(0, 29 // 3 - known_radius)
        assert (got[:3, rows] == 0).all() and (got[3, rows] == 255).all()


@pytest.mark.parametrize("background", ["image", "colour", "bgra", None])
@pytest.mark.parametrize("with_blurs", [True, False])
def test_apply_matches_reference(background, with_blurs):
    rng = np.random.default_rng(5)
    image, small, alpha = _inputs(rng, 75, 103, 17, 23)
    coef = _coefficients(small, alpha, 3, 1, 1e-5, 1)
    blurs = None
    if with_blurs:
        blurs = np.empty((6, 17, 23), np.float32)
        _guided.foreground_blurs(small, alpha, blurs, 4, 1, 2)
        np.testing.assert_allclose(blurs, ref.foreground_blurs(small, alpha, 4, 1), rtol=1e-4, atol=1e-2)
        one = np.empty_like(blurs)
        _guided.foreground_blurs(small, alpha, one, 4, -1, 1)
        np.testing.assert_allclose(one, ref.foreground_blurs(small, alpha, 4, -1), rtol=1e-4, atol=1e-2)
    bg = rng.integers(0, 256, image.shape, dtype=np.uint8) if background == "image" else None
    colour = (10, 200, 30) if background == "colour" else None
    got_alpha = np.empty(image.shape[:2], np.uint8)
    got_fg = np.empty(image.shape, np.uint8) if with_blurs else None
    comp = None
    if background is not None:
        comp = np.empty(image.shape[:2] + ((4,) if background == "bgra" else (3,)), np.uint8)
    _guided.guided_apply(coef, blurs, image, got_alpha, got_fg, bg, colour, comp, 2)
    want_alpha, want_fg, want_comp = ref.guided_apply(coef, blurs, image, bg, colour)
    # float32 in C, float64 in NumPy: a value may round the other way at .5
    assert np.abs(got_alpha.astype(int) - want_alpha).max() <= 1
    assert (got_alpha != want_alpha).mean() < 0.01
    if with_blurs:
        assert np.abs(got_fg.astype(int) - want_fg).max() <= 2
    if comp is not None:
        assert np.abs(comp.astype(int) - want_comp).max() <= 2


def test_known_regions_come_out_exact_and_row_strided_frames_work():
    rng = np.random.default_rng(1)
    image, small, alpha = _inputs(rng, 60, 80, 30, 40)
    alpha[:] = 0
    alpha[:, :20] = 1
    coef = _coefficients(small, alpha, 3, 1, 1e-5, 1)
    wide = np.zeros((60, 100, 3), np.uint8)
    wide[:, :80] = image
    out = np.empty((60, 80), np.uint8)
    _guided.guided_apply(coef, None, wide[:, :80], out, None, None, None, None, 1)  # a row-strided crop
    assert (out[:, :30] == 255).all() and (out[:, 50:] == 0).all()
    assert np.abs(out.astype(int) - ref.guided_apply(coef, None, image, None, None)[0]).max() <= 1


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), radius=st.integers(0, 4), fg_radius=st.integers(0, 9),
       fg_small=st.integers(-1, 2), threads=st.integers(0, 3), with_blurs=st.booleans(), with_scratch=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_fit_is_both_fits_side_by_side(h, w, radius, fg_radius, fg_small, threads, with_blurs, with_scratch, seed):
    """guided_fit (both fits concurrently when threads != 1) gives exactly what the two calls give one by one."""
    rng = np.random.default_rng(seed)
    _, small, alpha = _inputs(rng, 1, 1, h, w)
    want_coef = _coefficients(small, alpha, radius, 1, 1e-4, 1)
    want_blurs = np.empty((6, h, w), np.float32)
    _guided.foreground_blurs(small, alpha, want_blurs, fg_radius, fg_small, 1)
    coef, blurs = np.full_like(want_coef, np.nan), np.full_like(want_blurs, np.nan)
    scratch = None
    if with_scratch:
        scratch = np.empty(2 * _guided.scratch_size(h, w, max(radius, 1, fg_radius, fg_small)), np.float32)
    _guided.guided_fit(small, alpha, coef, radius, 1, 1e-4, 1, blurs if with_blurs else None, fg_radius, fg_small,
                       threads, scratch)
    np.testing.assert_array_equal(coef, want_coef)
    if with_blurs:
        np.testing.assert_array_equal(blurs, want_blurs)
    else:
        assert np.isnan(blurs).all()  # not touched


def test_fit_refuses_a_short_scratch_and_mismatched_blurs():
    rng = np.random.default_rng(3)
    _, small, alpha = _inputs(rng, 1, 1, 16, 16)
    coef, blurs = np.empty((4, 16, 16), np.float32), np.empty((6, 16, 16), np.float32)
    with pytest.raises(ValueError, match="2 x scratch_size"):
        _guided.guided_fit(small, alpha, coef, 2, 1, 1e-4, 1, blurs, 8, 1, 2,
                           np.empty(_guided.scratch_size(16, 16, 8), np.float32))
    with pytest.raises(ValueError, match="disagree"):
        _guided.guided_fit(small, alpha, coef, 2, 1, 1e-4, 1, np.empty((6, 16, 15), np.float32), 8, 1, 2)


@settings(max_examples=30, deadline=None)
@given(h=st.integers(0, 33), w=st.integers(0, 33), seed=st.integers(0, 2**32 - 1))
def test_model_input_is_its_twin_exactly(h, w, seed):
    small = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    got, want = np.full((3, h, w), np.nan, np.float32), np.full((3, h, w), np.nan, np.float32)
    _guided.model_input(small, got)
    ref.model_input(small, want)
    np.testing.assert_array_equal(got, want)
    if h * w:
        assert got[0, 0, 0] == np.float32(small[0, 0, 2]) * np.float32(1 / 255)  # red first


def test_model_input_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"disagree: \(4, 5, 3\) and \(3, 5, 4\)"):
        _guided.model_input(np.zeros((4, 5, 3), np.uint8), np.zeros((3, 5, 4), np.float32))


def test_background_variance_ratio_is_one_number():
    """guided.h's EM_BACKGROUND_VARIANCE_RATIO is the NumPy twin's (which the CUDA body's define comes from)."""
    import re
    from pathlib import Path

    header = (Path(__file__).resolve().parents[2] / "csrc" / "guided.h").read_text()
    found = re.search(r"#define EM_BACKGROUND_VARIANCE_RATIO ([0-9.]+)f", header)
    assert found and float(found.group(1)) == ref.BACKGROUND_VARIANCE_RATIO


def test_inconsistent_shapes_raise():
    coef = np.zeros((4, 5, 6), np.float32)
    image = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match="disagree"):
        _guided.guided_apply(coef, None, image, np.empty((10, 11), np.uint8), None, None, None, None, 1)
    with pytest.raises(ValueError, match="needs blurs"):
        _guided.guided_apply(coef, None, image, np.empty((10, 12), np.uint8), np.empty((10, 12, 3), np.uint8),
                             None, None, None, 1)
    with pytest.raises(ValueError, match="blurs"):
        _guided.guided_apply(coef, np.zeros((6, 4, 6), np.float32), image, np.empty((10, 12), np.uint8), None,
                             None, None, None, 1)


@settings(max_examples=30, deadline=None)
@given(
    H=st.integers(1, 40), W=st.integers(1, 40), h=st.integers(1, 12), w=st.integers(1, 12),
    radius=st.integers(0, 4), mean_radius=st.integers(0, 2), known_radius=st.integers(-1, 2),
    seed=st.integers(0, 2**32 - 1), threads=st.integers(1, 3),
)
def test_properties(H, W, h, w, radius, mean_radius, known_radius, seed, threads):
    """Any sizes (upsampling or downsampling), radii and thread counts: alpha within 1 of the twin, in 0..255,
    the composite between the foreground and the background colour, and the same result on any thread count."""
    rng = np.random.default_rng(seed)
    image, small, alpha = _inputs(rng, H, W, h, w)
    coef = np.empty((4, h, w), np.float32)
    _guided.guided_coefficients(small, alpha, coef, radius, mean_radius, 1e-4, known_radius, threads)
    assert np.isfinite(coef).all()
    blurs = np.empty((6, h, w), np.float32)
    _guided.foreground_blurs(small, alpha, blurs, 2, 1, threads)
    out, fg, comp = np.empty((H, W), np.uint8), np.empty((H, W, 3), np.uint8), np.empty((H, W, 3), np.uint8)
    _guided.guided_apply(coef, blurs, image, out, fg, None, (0, 255, 0), comp, threads)
    want_alpha, _, _ = ref.guided_apply(coef, blurs, image, None, (0, 255, 0))
    assert np.abs(out.astype(int) - want_alpha).max() <= 1
    lo, hi = np.minimum(fg, (0, 255, 0)), np.maximum(fg, (0, 255, 0))
    assert ((comp >= lo) & (comp <= hi)).all()
    one = np.empty((H, W), np.uint8)
    _guided.guided_apply(coef, blurs, image, one, None, None, None, None, 1)
    np.testing.assert_array_equal(one, out)


@settings(max_examples=40, deadline=None)
@given(H=st.integers(1, 60), W=st.integers(1, 90), h=st.integers(1, 20), w=st.integers(1, 20),
       seed=st.integers(0, 2**32 - 1), threads=st.integers(1, 3))
def test_foreground_is_its_fixed_point_twin_exactly_and_within_one_level_of_the_float_step(H, W, h, w, seed, threads):
    """Given the pass's alpha, the foreground is fixed_foreground's bit for bit, and within 1 level of the
    float64 most probable F (fuse_foreground): the fixed point (blurs in 1/64 level, int16 lerps, the gain
    in 1/16384) stays well within half a level before the rounding, on any sizes and thread count."""
    rng = np.random.default_rng(seed)
    image, small, alpha = _inputs(rng, H, W, h, w)
    coef = _coefficients(small, alpha, 2, 1, 1e-4, 1)
    blurs = np.empty((6, h, w), np.float32)
    _guided.foreground_blurs(small, alpha, blurs, 3, 1, 1)
    got_alpha, got_fg = np.empty((H, W), np.uint8), np.empty((H, W, 3), np.uint8)
    _guided.guided_apply(coef, blurs, image, got_alpha, got_fg, None, None, None, threads)
    np.testing.assert_array_equal(got_fg, ref.fixed_foreground(blurs, image, got_alpha))
    assert np.abs(got_fg.astype(int) - ref.fuse_foreground(blurs, image, got_alpha)).max() <= 1


_BUILD_HARNESS = r"""
#include "guided.h"
int run(const float *coef, const float *blurs, int h, int w, const unsigned char *image, int H, int W,
        unsigned char *alpha, unsigned char *fg, const unsigned char *bg, const unsigned char *colour,
        unsigned char *comp, int threads)
{
    return em_guided_apply(coef, blurs, h, w, image, 3 * (long)W, H, W, alpha, fg, bg, colour, comp, threads);
}
"""


def test_every_build_of_the_pass_gives_the_same_bytes(tmp_path):
    """csrc/guided.c compiled three ways (AVX2 intrinsics where the CPU has them; GCC vector extensions;
    plain C one pixel at a time) gives identical alpha, foreground and composites, upsampling and
    downsampling, known and unknown runs, with and without blurs."""
    import ctypes
    import shutil
    import subprocess
    from pathlib import Path

    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler here")
    root = Path(__file__).resolve().parents[2]
    (tmp_path / "harness.c").write_text(_BUILD_HARNESS)
    builds = {}
    for name, flags in {"default": [], "vectors": ["-DEM_NO_AVX2"], "plain": ["-DEM_NO_AVX2", "-DEM_NO_VECTORS"]}.items():
        lib = tmp_path / f"{name}.so"
        subprocess.run([gcc, "-O2", "-std=c99", "-shared", "-fPIC", *flags, f"-I{root / 'csrc'}",
                        f"-I{root / 'edgematte' / 'kernels'}", "-o", str(lib), str(tmp_path / "harness.c"),
                        str(root / "csrc" / "guided.c"), str(root / "csrc" / "composite.c"), "-lm"], check=True)
        builds[name] = ctypes.CDLL(str(lib)).run
    ptr = lambda a: None if a is None else ctypes.c_void_p(a.ctypes.data)  # noqa: E731
    rng = np.random.default_rng(11)
    for H, W, h, w in [(75, 103, 17, 23), (8, 300, 5, 40), (200, 150, 64, 64), (33, 17, 40, 50), (1, 1, 3, 2)]:
        image, small, alpha = _inputs(rng, H, W, h, w)
        coef = _coefficients(small, alpha, 2, 1, 1e-4, 1)
        blurs = np.empty((6, h, w), np.float32)
        _guided.foreground_blurs(small, alpha, blurs, 3, 1, 1)
        background = rng.integers(0, 256, image.shape, dtype=np.uint8)
        for bg, colour, with_blurs in [(None, (10, 200, 30), True), (background, None, True), (None, None, True),
                                       (None, (1, 2, 3), False), (None, None, False)]:
            outs = []
            for run in builds.values():
                a, fg = np.empty((H, W), np.uint8), np.empty((H, W, 3), np.uint8) if with_blurs else None
                comp = np.empty((H, W, 3 if bg is not None or colour else 4), np.uint8)
                col = None if colour is None else (ctypes.c_uint8 * 3)(*colour)
                assert run(ptr(coef), ptr(blurs if with_blurs else None), h, w, ptr(image), H, W, ptr(a), ptr(fg),
                           ptr(bg), col, ptr(comp), 2) == 0
                outs.append((a, fg, comp))
            for other in outs[1:]:
                for want, got in zip(outs[0], other):
                    if want is not None:
                        np.testing.assert_array_equal(got, want)
