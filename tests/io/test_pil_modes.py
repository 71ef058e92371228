"""PIL images in modes I and F (issue 19, defect 10): scaled to 8 bits by the range their values span, with a
warning, as 16-bit arrays are, instead of PIL's clipping (a 16-bit ramp in mode I came out 99.6% white, an F
image in 0..1 black)."""

from __future__ import annotations

import numpy as np
import pytest

import edgematte
from edgematte.io import split_alpha

Image = pytest.importorskip("PIL.Image")


def _grey(image) -> np.ndarray:
    with pytest.warns(UserWarning, match=r"PIL image in mode '[IF]'\) has values .*; converting .* to 8 bits"):
        bgr, alpha = split_alpha(image)
    assert alpha is None and bgr.dtype == np.uint8 and bgr.ndim == 3
    assert np.array_equal(bgr[..., 0], bgr[..., 1]) and np.array_equal(bgr[..., 0], bgr[..., 2])
    return bgr[..., 0]


def test_a_16_bit_ramp_in_mode_i_is_scaled_as_16_bit_arrays_are():
    ramp = np.arange(256 * 256, dtype=np.int32).reshape(256, 256)
    got = _grey(Image.fromarray(ramp))
    with pytest.warns(UserWarning, match="16-bit"):
        as_array, _ = split_alpha(ramp.astype(np.uint16))
    np.testing.assert_array_equal(got, as_array[..., 0])
    assert (got == 255).mean() < 0.01


@pytest.mark.parametrize(
    "values, expected",
    [
        (np.array([[0.0, 0.5], [1.0, 0.25]], np.float32), [[0, 128], [255, 64]]),  # 0..1
        (np.array([[0.0, 100.0], [255.0, 7.0]], np.float32), [[0, 100], [255, 7]]),  # 0..255
        (np.array([[0, 100], [255, 7]], np.int32), [[0, 100], [255, 7]]),
        (np.array([[-10.0, 0.0], [10.0, np.nan]], np.float32), [[0, 128], [255, 0]]),  # its own range; NaN -> 0
        (np.array([[-1000, 0], [1000, 500]], np.int32), [[0, 128], [255, 191]]),
    ],
    ids=["F 0..1", "F 0..255", "I 0..255", "F -10..10 with NaN", "I -1000..1000"],
)
def test_values_are_scaled_by_their_range(values, expected):
    np.testing.assert_array_equal(_grey(Image.fromarray(values)), expected)


def test_the_matter_takes_them(tiny_onnx):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="off") as matter:
        with pytest.warns(UserWarning, match="mode 'F'"):
            result = matter.process(Image.fromarray(np.full((24, 32), 0.5, np.float32)))
    assert result.alpha.shape == (24, 32)
