"""Parity of the native closed-form solver (csrc/refine.c) with its NumPy specification."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edgematte.kernels import _refine
from edgematte.kernels._refine_reference import Laplacian, box_sum, guided_upsample, linear_sample, refine_cf


def _native(image, trimap, alpha, radius=1, eps=1e-7, iterations=10):
    out = np.ascontiguousarray(alpha, dtype=np.float32).copy()
    _refine.refine_cf(image, trimap, out, radius, eps, iterations, 0.0, 1)
    return out


def _scene(rng, h, w, unknown_frac=0.4):
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), size=(h, w), p=[(1 - unknown_frac) / 2, unknown_frac,
                                                                            (1 - unknown_frac) / 2])
    alpha = rng.random((h, w), dtype=np.float32)
    return image, trimap, alpha


def _dense_levin(image, r, eps):
    """Explicit sum over clipped windows of Levin's per-window matrices: [HW, HW] float64."""
    h, w = image.shape[:2]
    img = image.astype(np.float64).reshape(-1, 3) / 255
    dense = np.zeros((h * w, h * w))
    for y in range(h):
        for x in range(w):
            ys, xs = np.meshgrid(np.arange(max(0, y - r), min(h, y + r + 1)),
                                 np.arange(max(0, x - r), min(w, x + r + 1)), indexing="ij")
            idx = (ys * w + xs).ravel()
            n = idx.size
            d = img[idx] - img[idx].mean(0)
            cov = d.T @ d / n + eps / n * np.eye(3)
            dense[np.ix_(idx, idx)] += np.eye(n) - (1 + d @ np.linalg.inv(cov) @ d.T) / n
    return dense


def test_reference_laplacian_matches_dense_levin_matrix():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    v = rng.random(30)
    got = Laplacian(image, 1, 1e-3)(v.reshape(5, 6)).ravel()
    np.testing.assert_allclose(got, _dense_levin(image, 1, 1e-3) @ v, atol=1e-9)


def test_native_converges_to_the_direct_solution():
    """Enough CG iterations reach the direct solve of L_UU x_U = -L_UK x_K (then clipped)."""
    rng = np.random.default_rng(3)
    h, w, eps = 12, 14, 1e-2
    image, trimap, alpha = _scene(rng, h, w, unknown_frac=0.3)
    lap = _dense_levin(image, 1, eps)
    u = ((trimap != 0) & (trimap != 255)).ravel()
    known = np.where(trimap == 255, 1.0, 0.0).ravel()
    x = known.copy()
    x[u] = np.linalg.solve(lap[np.ix_(u, u)], -lap[np.ix_(u, ~u)] @ known[~u])
    got = _native(image, trimap, alpha, eps=eps, iterations=3000)
    np.testing.assert_allclose(got.ravel(), np.clip(x, 0, 1), atol=1e-4)


def test_box_sum_counts_clipped_windows():
    n = box_sum(np.ones((4, 5)), 1)
    assert n[0, 0] == 4 and n[0, 2] == 6 and n[1, 1] == 9


@pytest.mark.parametrize("iterations", [0, 1, 5, 40])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (17, 23), (40, 33)])
def test_native_matches_reference(shape, iterations):
    rng = np.random.default_rng(sum(shape) + iterations)
    image, trimap, alpha = _scene(rng, *shape)
    want = refine_cf(image, trimap, alpha, 1, 1e-4, iterations)
    got = _native(image, trimap, alpha, eps=1e-4, iterations=iterations)
    np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("radius", [1, 2])
def test_native_matches_reference_on_real_crop(matting_crop, radius):
    image, trimap, _ = matting_crop(crop=(slice(200, 248), slice(300, 364)))
    assert (trimap == 128).any()
    alpha = np.full(trimap.shape, 0.5, np.float32)
    want = refine_cf(image, trimap, alpha, radius, 1e-7, 30)
    np.testing.assert_allclose(_native(image, trimap, alpha, radius=radius, iterations=30), want, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(
    image=arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3))),
    data=st.data(),
)
def test_native_matches_reference_property(image, data):
    h, w = image.shape[:2]
    trimap = data.draw(arrays(np.uint8, (h, w), elements=st.sampled_from([0, 128, 255, 7])))
    alpha = data.draw(arrays(np.float32, (h, w), elements=st.floats(-1, 2, width=32)))
    iterations = data.draw(st.integers(0, 8))
    want = refine_cf(image, trimap, alpha, 1, 1e-3, iterations)
    got = _native(image, trimap, alpha, eps=1e-3, iterations=iterations)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert ((got == 1) | (trimap != 255)).all() and ((got == 0) | (trimap != 0)).all()
    assert ((got >= 0) & (got <= 1)).all()


def test_native_rejects_bad_arguments():
    from edgematte.errors import KernelError

    image = np.zeros((4, 4, 3), np.uint8)
    trimap = np.full((4, 4), 128, np.uint8)
    alpha = np.zeros((4, 4), np.float32)
    with pytest.raises(KernelError, match="invalid"):
        _refine.refine_cf(image, trimap, alpha, 0, 1e-7, 1, 0.0, 1)
    with pytest.raises(KernelError, match="invalid"):
        _refine.refine_cf(image, trimap, alpha, 1, -1.0, 1, 0.0, 1)
    with pytest.raises(ValueError, match="shapes"):
        _refine.refine_cf(image, trimap[:3], alpha, 1, 1e-7, 1, 0.0, 1)


@pytest.mark.parametrize("small, full", [((10, 12), (40, 48)), ((7, 5), (30, 17)), ((1, 1), (3, 4)), ((20, 20), (20, 20)),
                                         ((5, 9), (11, 37))])
@pytest.mark.parametrize("radius", [1, 2])
def test_guided_upsample_matches_reference(small, full, radius):
    rng = np.random.default_rng(small[0] * 100 + full[1] + radius)
    small_image = rng.integers(0, 256, small + (3,), dtype=np.uint8)
    small_alpha = rng.random(small, dtype=np.float32)
    image = rng.integers(0, 256, full + (3,), dtype=np.uint8)
    trimap = rng.choice(np.array([0, 128, 255], np.uint8), size=full, p=[0.3, 0.4, 0.3])
    got = np.full(full, -1, np.float32)
    _refine.guided_upsample(small_image, small_alpha, image, trimap, got, radius, 1e-3, 1)
    want = guided_upsample(small_image, small_alpha, image, trimap, radius, 1e-3)
    np.testing.assert_allclose(got, want, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), hs=st.integers(1, 10), ws=st.integers(1, 10), h=st.integers(1, 30), w=st.integers(1, 30))
def test_guided_upsample_property(data, hs, ws, h, w):
    small_image = data.draw(arrays(np.uint8, (hs, ws, 3)))
    small_alpha = data.draw(arrays(np.float32, (hs, ws), elements=st.floats(0, 1, width=32)))
    image = data.draw(arrays(np.uint8, (h, w, 3)))
    trimap = data.draw(arrays(np.uint8, (h, w), elements=st.sampled_from([0, 128, 255])))
    got = np.empty((h, w), np.float32)
    _refine.guided_upsample(small_image, small_alpha, image, trimap, got, 1, 1e-4, 1)
    np.testing.assert_allclose(got, guided_upsample(small_image, small_alpha, image, trimap, 1, 1e-4), atol=1e-4)
    assert (got[trimap == 255] == 1).all() and (got[trimap == 0] == 0).all()
    assert ((got >= 0) & (got <= 1)).all()


def test_linear_sample_matches_opencv():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(5)
    for (h, w), (oh, ow) in [((7, 9), (20, 31)), ((20, 31), (7, 9)), ((4, 4), (4, 4)), ((1, 3), (5, 2))]:
        x = rng.random((h, w))
        np.testing.assert_allclose(linear_sample(x, oh, ow), cv2.resize(x, (ow, oh), interpolation=cv2.INTER_LINEAR),
                                   atol=1e-6)


def test_guided_upsample_of_a_linear_alpha_is_exact():
    """If alpha is exactly a . I + b on the small level (and eps -> 0), the full level reproduces a . I + b."""
    rng = np.random.default_rng(6)
    image = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    small_image = image[::2, ::2].copy()
    a = np.array([0.2, -0.1, 0.5])
    small_alpha = (small_image / 255.0 @ a + 0.1).astype(np.float32)
    trimap = np.full((32, 40), 128, np.uint8)
    # the full image is sampled at half-pixel offsets: use a constant-per-2x2 image so sampling is exact
    image = np.repeat(np.repeat(small_image, 2, 0), 2, 1)
    got = np.empty((32, 40), np.float32)
    _refine.guided_upsample(small_image, small_alpha, image, trimap, got, 1, 1e-9, 1)
    np.testing.assert_allclose(got, np.clip(image / 255.0 @ a + 0.1, 0, 1), atol=2e-3)


def test_threads_give_the_same_result():
    """Runs are split across threads, dot products stay serial: the result does not depend on threads."""
    rng = np.random.default_rng(8)
    image, trimap, alpha = _scene(rng, 160, 260, unknown_frac=0.9)  # > 2 x 16384 unknown pixels
    one = _native(image, trimap, alpha, iterations=15)
    two = alpha.copy()
    _refine.refine_cf(image, trimap, two, 1, 1e-7, 15, 0.0, 2)
    np.testing.assert_array_equal(one, two)


def test_singular_band_stops_at_round_off():
    """No known pixel in reach: the system is singular, and steps past round-off would drift both twins apart."""
    image = np.zeros((1, 3, 3), np.uint8)
    trimap = np.full((1, 3), 128, np.uint8)
    alpha = np.array([[1.2121e-4, 0, 0]], np.float32)
    want = refine_cf(image, trimap, alpha, 1, 1e-3, 8)
    np.testing.assert_allclose(want, alpha.mean(), rtol=1e-5)  # CG reaches the mean, then must stop
    np.testing.assert_allclose(_native(image, trimap, alpha, eps=1e-3, iterations=8), want, atol=1e-7)
