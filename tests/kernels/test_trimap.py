"""make_trimap: bit-exact parity with the OpenCV seed code, cross-checks and properties."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import edgematte
from edgematte.kernels import kernels
from edgematte.kernels._reference import seed_trimap

RNG = np.random.default_rng(20261121)


def make_mask(kind, h, w, rng=RNG):
    """binary: 0/255 speckle; soft: uniform 0..255; blob: a blurred disc with soft edges."""
    if kind == "binary":
        return ((rng.random((h, w)) < rng.uniform(0.6, 0.98)) * 255).astype(np.uint8)
    if kind == "soft":
        return rng.integers(0, 256, (h, w), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cv2.circle(mask, (w // 2, h // 2), max(1, min(h, w) // 3), 255, -1)
    return cv2.GaussianBlur(mask, (7, 7), 0)


SHAPES = [(1, 1), (1, 97), (97, 1), (2, 3), (13, 9), (63, 65), (64, 128), (67, 131)]
KSIZES = list(range(1, 32, 2))


def test_ellipse_matches_opencv():
    cpu = pytest.importorskip("edgematte.kernels._cpu")
    for ks in range(1, 258, 2):
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ks, ks))
        ours = np.zeros((ks, ks), np.uint8)
        for i, hw in enumerate(cpu.ellipse_halfwidths(ks)):
            ours[i, ks // 2 - hw: ks // 2 + hw + 1] = 1
        assert np.array_equal(ours, k), ks


@pytest.mark.parametrize("ks", KSIZES)
@pytest.mark.parametrize("iterations", [1, 2, 3, 4, 5])
def test_parity_every_kernel_and_iteration(impl, ks, iterations):
    for kind in ("binary", "soft", "blob"):
        mask = make_mask(kind, 67, 131)
        expected = seed_trimap(mask, ks, iterations)
        assert np.array_equal(impl.make_trimap(mask, ks, iterations), expected), kind
    mid = make_mask("soft", 67, 131)
    assert np.array_equal(impl.make_trimap(mid, ks, iterations, 200, 60), seed_trimap(mid, ks, iterations, 200, 60))


@pytest.mark.parametrize("shape", SHAPES)
def test_parity_small_and_odd_shapes(impl, shape):
    for ks in (1, 3, 7, 15, 31):
        for iterations in (1, 3, 5):
            for kind in ("binary", "soft", "blob"):
                mask = make_mask(kind, *shape)
                assert np.array_equal(impl.make_trimap(mask, ks, iterations), seed_trimap(mask, ks, iterations))


@pytest.mark.parametrize("shape,ks,iterations", [((1080, 1920), 7, 3), ((2160, 3840), 7, 3), ((2160, 3840), 31, 5),
                                                 ((1081, 1927), 13, 2)])
def test_parity_large_frames(impl, shape, ks, iterations):
    if impl.name == "reference":
        pytest.skip("the reference is the seed code itself; large frames only test the fast implementations")
    mask = make_mask("blob", *shape)
    mask[::97, ::89] = 0  # speckles inside the foreground
    assert np.array_equal(impl.make_trimap(mask, ks, iterations), seed_trimap(mask, ks, iterations))


@pytest.mark.parametrize("fg,bg", [(255, 0), (1, 0), (255, 254), (128, 127), (200, 10)])
def test_parity_threshold_extremes(impl, fg, bg):
    mask = make_mask("blob", 41, 77)
    mask[3, 5] = 255
    mask[30, 60] = 0
    for iterations in (1, 2):
        assert np.array_equal(impl.make_trimap(mask, 5, iterations, fg, bg), seed_trimap(mask, 5, iterations, fg, bg))


def test_float_mask_is_round_half_even_of_x_times_255(impl):
    mask = RNG.random((57, 83), dtype=np.float32)
    mask[0, :10] = np.float32([0.0, 1.0, 0.5, 253.5 / 255, 254.5 / 255, 0.5 / 255, 1.5 / 255, 254 / 255, 1 / 255, 2e-3])
    mask[10:30, 20:60] = 1.0
    as_u8 = np.rint(mask * np.float32(255)).astype(np.uint8)
    for ks, iterations in ((3, 1), (7, 3)):
        assert np.array_equal(impl.make_trimap(mask, ks, iterations), seed_trimap(as_u8, ks, iterations))
        assert np.array_equal(impl.make_trimap(mask, ks, iterations, 128, 127),
                              seed_trimap(as_u8, ks, iterations, 128, 127))


def test_reference_agrees_with_scipy_binary_morphology(ref):
    """Independent check of the semantics: thresholds then binary erosion with a 'never wins' border."""
    ndimage = pytest.importorskip("scipy.ndimage")
    mask = make_mask("blob", 45, 70)
    mask[20, 30] = 100
    for ks, iterations in ((3, 1), (5, 2), (7, 3)):
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ks, ks)).astype(bool)
        fg = ndimage.binary_erosion(mask >= 254, k, iterations=iterations, border_value=1)
        bg = ~ndimage.binary_dilation(mask > 1, k, iterations=iterations, border_value=0)
        expected = np.where(fg, 255, np.where(bg, 0, 128)).astype(np.uint8)
        assert np.array_equal(ref.make_trimap(mask, ks, iterations), expected)


def test_public_function_and_out(impl):
    mask = make_mask("blob", 30, 40)
    out = np.full((30, 40), 7, np.uint8)
    result = impl.make_trimap(mask, out=out)
    assert result is out
    assert np.array_equal(out, seed_trimap(mask))
    assert np.array_equal(edgematte.make_trimap(mask), out)


@pytest.mark.parametrize("ks,iterations", [(7, 3), (31, 3)])
def test_threads_do_not_change_the_result(ks, iterations):
    mask = make_mask("blob", 1001, 300)  # large enough for several threads and bands
    mask[::13, ::7] = 0
    one = edgematte.make_trimap(mask, ks, iterations, threads=1)
    assert np.array_equal(one, seed_trimap(mask, ks, iterations))
    for threads in (2, 3, 7, 400):
        assert np.array_equal(edgematte.make_trimap(mask, ks, iterations, threads=threads), one)


def test_row_strided_views_work_in_place_without_warning(host_impl, recwarn):
    impl = host_impl
    frame = make_mask("blob", 90, 120)
    crop = frame[10:70, 15:100]
    out_buf = np.zeros((80, 100), np.uint8)
    out = out_buf[5:65, 3:88]
    impl.make_trimap(crop, 5, 2, out=out)
    assert np.array_equal(out, seed_trimap(np.ascontiguousarray(crop), 5, 2))
    flipped = frame[::-1]
    assert np.array_equal(impl.make_trimap(flipped, 5, 2), seed_trimap(np.ascontiguousarray(flipped), 5, 2))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_non_contiguous_rows_are_copied_once_with_a_warning(host_impl):
    impl = host_impl
    frame = make_mask("blob", 60, 80)
    for view in (frame.T, frame[:, ::2]):
        with pytest.warns(RuntimeWarning, match="copied once"):
            result = impl.make_trimap(view, 5, 2)
        assert np.array_equal(result, seed_trimap(np.ascontiguousarray(view), 5, 2))


def test_readonly_mask_is_accepted(impl):
    mask = make_mask("blob", 20, 30)
    mask.flags.writeable = False
    assert np.array_equal(impl.make_trimap(mask, 3, 1), seed_trimap(mask, 3, 1))


# ---- properties ----------------------------------------------------------------------------------

masks = hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40),
                   elements=st.sampled_from([0, 1, 60, 128, 200, 254, 255]))
params = st.tuples(st.sampled_from([1, 3, 5, 7, 9]), st.integers(1, 4))
thresholds = st.tuples(st.integers(0, 254), st.integers(1, 255)).filter(lambda t: t[0] < t[1])


@settings(max_examples=60, deadline=None)
@given(mask=masks, kp=params, th=thresholds)
def test_property_values_and_regions(mask, kp, th):
    ks, iterations = kp
    bg, fg = th
    for name in ("cpu", "reference"):
        trimap = kernels(name).make_trimap(mask, ks, iterations, fg, bg)
        assert trimap.shape == mask.shape and trimap.dtype == np.uint8
        assert set(np.unique(trimap)) <= {0, 128, 255}
        assert np.all(mask[trimap == 255] >= fg)  # known foreground lies inside the mask
        assert np.all(mask[trimap == 0] <= bg)  # known background lies outside it
    assert np.array_equal(trimap, kernels("cpu").make_trimap(mask, ks, iterations, fg, bg))


@settings(max_examples=40, deadline=None)
@given(mask=masks, ks=st.sampled_from([3, 5, 7]), iterations=st.integers(1, 4))
def test_property_monotone_in_iterations(mask, ks, iterations):
    a = edgematte.make_trimap(mask, ks, iterations)
    b = edgematte.make_trimap(mask, ks, iterations + 1)
    assert np.all((b == 255) <= (a == 255))  # known foreground only shrinks
    assert np.all((b == 0) <= (a == 0))  # known background only shrinks
    assert np.array_equal(b, seed_trimap(mask, ks, iterations + 1))


@settings(max_examples=40, deadline=None)
@given(mask=masks, step=st.integers(1, 3), flip=st.booleans())
def test_property_views(mask, step, flip):
    view = mask[::-1] if flip else mask
    view = view[:, ::step] if step > 1 else view
    dense = np.ascontiguousarray(view)
    if step > 1 and view.shape[1] > 1:
        with pytest.warns(RuntimeWarning):
            result = edgematte.make_trimap(view, 3, 2)
    else:
        result = edgematte.make_trimap(view, 3, 2)
    assert np.array_equal(result, seed_trimap(dense, 3, 2))


@settings(max_examples=80, deadline=None)
@given(
    mask=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=90)),
    ks=st.integers(0, 15).map(lambda i: 2 * i + 1),
    iterations=st.integers(1, 5),
    th=thresholds,
)
def test_property_matches_the_seed_code(mask, ks, iterations, th):
    bg, fg = th
    expected = seed_trimap(mask, ks, iterations, fg, bg)
    assert np.array_equal(edgematte.make_trimap(mask, ks, iterations, fg, bg), expected)


def test_concurrent_calls_from_python_threads():
    """The GIL is released and the kernels keep no shared state: parallel calls give the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    masks = [make_mask(kind, 300 + 7 * i, 500 - 5 * i) for i, kind in enumerate(["blob", "soft", "binary"] * 3)]
    expected = [seed_trimap(m, 5, 2) for m in masks]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda m: edgematte.make_trimap(m, 5, 2, threads=2), masks))
    assert all(np.array_equal(r, e) for r, e in zip(results, expected))
