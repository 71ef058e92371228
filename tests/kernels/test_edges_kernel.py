"""csrc/edges.c (edge controls: shift, feather, threshold, in place) against its NumPy twin and OpenCV."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgematte.kernels import _edges_reference as ref
from edgematte.kernels import native


def _native(alpha, shift=0, feather=0, threshold=0, threads=1):
    native("_edges").edge_controls(alpha, shift, feather, threshold, threads)
    return alpha


def _matte(rng, h, w):
    """A soft blob with noise: every value 0..255 appears."""
    y, x = np.mgrid[:h, :w]
    r = np.hypot(y - h / 2, x - w / 3) / max(h, w)
    a = np.clip((0.35 - r) * 800 + rng.normal(0, 20, (h, w)), 0, 255)
    return a.astype(np.uint8)


@pytest.mark.parametrize("shape", [(1, 1), (1, 40), (40, 1), (37, 70), (64, 33), (120, 161)])
@pytest.mark.parametrize("shift, feather, threshold", [(1, 0, 0), (-1, 0, 0), (4, 0, 0), (-7, 0, 0), (0, 1, 0),
                                                       (0, 5, 0), (0, 0, 128), (3, 2, 0), (-2, 3, 200), (40, 0, 0),
                                                       (0, 40, 1), (0, 0, 255)])
@pytest.mark.parametrize("threads", [1, 2])
def test_native_matches_the_reference(shape, shift, feather, threshold, threads):
    rng = np.random.default_rng(sum(shape))
    alpha = _matte(rng, *shape)
    expected = ref.edge_controls(alpha, shift, feather, threshold)
    assert np.array_equal(_native(alpha.copy(), shift, feather, threshold, threads), expected)


def test_a_view_with_a_row_stride_is_changed_in_place_and_only_there():
    rng = np.random.default_rng(5)
    big = _matte(rng, 50, 80)
    view = big[5:45, 10:70]
    outside = big.copy()
    expected = ref.edge_controls(view.copy(), -3, 2, 0)
    _native(view, -3, 2, 0, threads=2)
    assert np.array_equal(view, expected)
    outside[5:45, 10:70] = expected
    assert np.array_equal(big, outside)


@pytest.mark.parametrize("shift", [1, 2, 5, -1, -4])
def test_shift_is_opencv_morphology_with_a_square(shift):
    import cv2

    rng = np.random.default_rng(6)
    alpha = _matte(rng, 45, 60)
    kernel = np.ones((2 * abs(shift) + 1,) * 2, np.uint8)
    op = cv2.dilate if shift > 0 else cv2.erode
    assert np.array_equal(_native(alpha.copy(), shift), op(alpha, kernel, borderType=cv2.BORDER_REPLICATE))


def test_feather_turns_a_hard_edge_into_a_ramp_2f_plus_1_wide():
    alpha = np.zeros((9, 40), np.uint8)
    alpha[:, 20:] = 255
    row = _native(alpha, feather=3)[4]
    ramp = row[17:24]
    assert row[16] == 0 and row[24] == 255 and np.all(np.diff(ramp.astype(int)) > 0)
    assert ramp.tolist() == [round(255 * k / 7 + 1e-9) for k in range(1, 8)]


def test_threshold_cuts_at_its_level():
    alpha = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = _native(alpha.copy(), threshold=128)
    assert set(np.unique(out)) == {0, 255} and out.reshape(-1)[127] == 0 and out.reshape(-1)[128] == 255


def test_shrinking_then_growing_a_solid_square_gives_it_back():
    alpha = np.zeros((40, 40), np.uint8)
    alpha[10:30, 10:30] = 255
    assert (_native(alpha.copy(), -3) == 255).sum() == 14 * 14
    assert (_native(alpha.copy(), 3) == 255).sum() == 26 * 26


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 30), w=st.integers(1, 30), shift=st.integers(-9, 9), feather=st.integers(0, 9),
       threshold=st.integers(0, 255), seed=st.integers(0, 2**16))
def test_any_settings_match_the_reference(h, w, shift, feather, threshold, seed):
    alpha = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    expected = ref.edge_controls(alpha, shift, feather, threshold)
    assert np.array_equal(_native(alpha.copy(), shift, feather, threshold, 2), expected)


@pytest.mark.parametrize("shift, feather, threshold", [(257, 0, 0), (-257, 0, 0), (0, -1, 0), (0, 257, 0),
                                                       (0, 0, -1), (0, 0, 256)])
def test_the_kernel_refuses_out_of_range_settings(shift, feather, threshold):
    from edgematte.errors import KernelError

    with pytest.raises(KernelError, match="EM_ERR_ARG"):
        _native(np.zeros((4, 4), np.uint8), shift, feather, threshold)
