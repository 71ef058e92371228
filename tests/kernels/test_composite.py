"""composite: within 1 LSB of the float formula, exact endpoints, layouts and properties."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import edgematte
from edgematte.kernels import kernels

RNG = np.random.default_rng(7)


def float_formula(image, alpha, background):
    """round(I * a + B * (1 - a)), a = alpha / 255 (uint8) or alpha (float32), in float64."""
    a = alpha.astype(np.float64) / (255.0 if alpha.dtype == np.uint8 else 1.0)
    back = np.broadcast_to(np.asarray(background, np.float64), image.shape)
    return np.rint(image * a[..., None] + back * (1 - a[..., None]))


def frame(h, w, dtype=np.uint8):
    image = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    background = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if dtype == np.uint8:
        alpha = RNG.integers(0, 256, (h, w), dtype=np.uint8)
        alpha.flat[:2] = (0, 255)[: alpha.size]
    else:
        alpha = RNG.random((h, w), dtype=np.float32)
        alpha.flat[:3] = (0.0, 1.0, 0.5)[: alpha.size]
    return image, alpha, background


SHAPES = [(1, 1), (1, 600), (600, 1), (7, 13), (37, 515), (120, 1031)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_image_background_within_one(impl, shape, dtype):
    image, alpha, background = frame(*shape, dtype)
    result = impl.composite(image, alpha, background)
    assert result.shape == image.shape and result.dtype == np.uint8
    diff = np.abs(result.astype(np.int64) - float_formula(image, alpha, background))
    assert diff.max() <= (0 if dtype == np.uint8 else 1)  # uint8 alpha: the fixed point rounds exactly


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (12, 200, 77), [1, 2, 3], np.array([9, 8, 7])])
def test_colour_background(impl, dtype, colour):
    image, alpha, _ = frame(33, 257, dtype)
    result = impl.composite(image, alpha, colour)
    diff = np.abs(result.astype(np.int64) - float_formula(image, alpha, np.asarray(colour)))
    assert result.shape == image.shape and diff.max() <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_no_background_appends_alpha(impl, dtype):
    image, alpha, _ = frame(31, 45, dtype)
    result = impl.composite(image, alpha)
    assert result.shape == (31, 45, 4) and result.dtype == np.uint8
    assert np.array_equal(result[..., :3], image)
    expected = alpha if dtype == np.uint8 else np.rint(alpha * np.float32(255)).astype(np.uint8)
    assert np.array_equal(result[..., 3], expected)


def test_exhaustive_uint8_rounding():
    """Every (I, alpha) pair with 16 backgrounds: the fixed point equals round(I * a + B * (1 - a)) exactly."""
    backs = np.unique(np.concatenate([[0, 1, 2, 127, 128, 254, 255], RNG.integers(0, 256, 9)]))
    a, i, b = np.meshgrid(np.arange(256), np.arange(256), backs, indexing="ij")
    image = np.repeat(i.reshape(256, -1, 1), 3, axis=2).astype(np.uint8)
    background = np.repeat(b.reshape(256, -1, 1), 3, axis=2).astype(np.uint8)
    alpha = a.reshape(256, -1).astype(np.uint8)
    result = edgematte.composite(image, alpha, background).astype(np.int64)
    num = image.astype(np.int64) * alpha[..., None] + background.astype(np.int64) * (255 - alpha[..., None].astype(np.int64))
    assert np.array_equal(result, (2 * num + 255) // 510)


def test_out_and_in_place(impl):
    image, alpha, background = frame(40, 50)
    expected = impl.composite(image, alpha, background)
    out = np.zeros_like(image)
    assert impl.composite(image, alpha, background, out=out) is out
    assert np.array_equal(out, expected)
    inplace = image.copy()
    assert impl.composite(inplace, alpha, background, out=inplace) is inplace
    assert np.array_equal(inplace, expected)
    back = background.copy()
    impl.composite(image, alpha, back, out=back)
    assert np.array_equal(back, expected)


def test_threads_do_not_change_the_result():
    image, alpha, background = frame(601, 333, np.float32)  # large enough for several threads
    one = edgematte.composite(image, alpha, background, threads=1)
    for threads in (2, 5, 1000):
        assert np.array_equal(edgematte.composite(image, alpha, background, threads=threads), one)


def test_crops_work_in_place_and_other_layouts_are_copied(host_impl, recwarn):
    impl = host_impl
    image, alpha, background = frame(60, 80)
    crop = (image[5:50, 7:70], alpha[5:50, 7:70], background[5:50, 7:70])
    dense = tuple(np.ascontiguousarray(x) for x in crop)
    out = np.zeros((60, 80, 3), np.uint8)[5:50, 7:70]
    impl.composite(*crop, out=out)
    assert np.array_equal(out, impl.composite(*dense))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    with pytest.warns(RuntimeWarning, match="copied once"):
        bgr = impl.composite(image[..., ::-1], alpha, background)
    assert np.array_equal(bgr, impl.composite(np.ascontiguousarray(image[..., ::-1]), alpha, background))


# ---- properties ----------------------------------------------------------------------------------

@st.composite
def triples(draw):
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 70))
    image = draw(hnp.arrays(np.uint8, (h, w, 3)))
    background = draw(hnp.arrays(np.uint8, (h, w, 3)))
    if draw(st.booleans()):
        alpha = draw(hnp.arrays(np.uint8, (h, w), elements=st.sampled_from([0, 1, 127, 128, 254, 255])))
    else:
        alpha = draw(hnp.arrays(np.float32, (h, w), elements=st.floats(0, 1, width=32)))
    return image, alpha, background


@settings(max_examples=80, deadline=None)
@given(data=triples())
def test_property_endpoints_and_betweenness(data):
    image, alpha, background = data
    full = alpha == (255 if alpha.dtype == np.uint8 else 1.0)
    none = alpha == 0
    for name in ("cpu", "reference"):
        result = kernels(name).composite(image, alpha, background)
        assert result.shape == image.shape and result.dtype == np.uint8
        assert np.array_equal(result[full], image[full])
        assert np.array_equal(result[none], background[none])
        lo, hi = np.minimum(image, background), np.maximum(image, background)
        assert np.all((lo <= result) & (result <= hi))
        assert np.abs(result.astype(np.int64) - float_formula(image, alpha, background)).max(initial=0) <= 1


@settings(max_examples=40, deadline=None)
@given(data=triples(), step=st.sampled_from([1, 2]), flip=st.booleans())
def test_property_views(data, step, flip):
    image, alpha, background = data
    views = [x[::-1] if flip else x for x in (image, alpha, background)]
    views = [x[:, ::step] for x in views]
    dense = [np.ascontiguousarray(x) for x in views]
    expected = edgematte.composite(*dense)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = edgematte.composite(*views)
    assert np.array_equal(result, expected)
    copied = step > 1 and views[1].shape[1] > 1
    assert any(issubclass(w.category, RuntimeWarning) for w in caught) == copied


def test_concurrent_calls_from_python_threads():
    """The GIL is released and the kernel keeps no shared state: parallel calls give the serial results."""
    from concurrent.futures import ThreadPoolExecutor

    frames = [frame(200 + 3 * i, 300, np.float32 if i % 2 else np.uint8) for i in range(8)]
    expected = [edgematte.composite(*f, threads=1) for f in frames]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda f: edgematte.composite(*f, threads=2), frames))
    assert all(np.array_equal(r, e) for r, e in zip(results, expected))
