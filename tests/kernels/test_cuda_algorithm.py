"""The trimap algorithm of edgematte/kernels/cuda/trimap.cu, replayed in NumPy against OpenCV.

The GPU kernel thresholds first, then ANDs a two-bit state over the ellipse once per iteration,
with pixels outside the image never clearing a bit, and computes the ellipse rows itself. This
file checks that algorithm (same formulas, same pass structure) on the CPU; the CUDA code itself
is compared with OpenCV in test_cuda_gpu.py where a GPU exists.
"""

from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

FG, BG = 1, 2  # EM_TRIMAP_FG, EM_TRIMAP_BG


def ellipse_half_width(r: int, dy: int) -> int:
    """em_ellipse_half_width: round-half-even(r * sqrt((r*r - dy*dy) * (1 / (r*r)))) in double."""
    if r == 0:
        return 0
    inv_r2 = 1.0 / float(r * r)
    return int(np.rint(float(r) * np.sqrt(float(r * r - dy * dy) * inv_r2)))


def erode_pass(state: np.ndarray, r: int) -> np.ndarray:
    """One em_k_trimap_pass: AND over the ellipse rows, outside = both bits set."""
    h, w = state.shape
    padded = np.full((h + 2 * r, w + 2 * r), FG | BG, np.uint8)
    padded[r : r + h, r : r + w] = state
    acc = np.full_like(state, FG | BG)
    for dy in range(-r, r + 1):
        hw = ellipse_half_width(r, dy)
        for dx in range(-hw, hw + 1):
            acc &= padded[r + dy : r + dy + h, r + dx : r + dx + w]
    return acc


def gpu_algorithm(mask, k, it, fg, bg):
    state = ((mask >= fg) * FG | (mask <= bg) * BG).astype(np.uint8)
    for _ in range(it):
        state = erode_pass(state, k // 2)
    return np.where(state & BG, 0, np.where(state & FG, 255, 128)).astype(np.uint8)


def opencv(mask, k, it, fg, bg):
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    out = np.full(mask.shape, 128, np.uint8)
    out[cv2.erode(mask, kernel, iterations=it) >= fg] = 255
    out[cv2.dilate(mask, kernel, iterations=it) <= bg] = 0
    return out


@pytest.mark.parametrize("k", range(1, 258, 2))
def test_ellipse_rows_match_opencv(k):
    element = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    r = k // 2
    widths = [ellipse_half_width(r, dy) for dy in range(-r, r + 1)]
    rebuilt = np.zeros((k, k), np.uint8)
    for row, hw in enumerate(widths):
        rebuilt[row, r - hw : r + hw + 1] = 1
    np.testing.assert_array_equal(rebuilt, element)


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (19, 23), (40, 33)])
@pytest.mark.parametrize("k,it", [(1, 2), (3, 1), (5, 3), (7, 2), (11, 1)])
def test_pass_structure_matches_opencv(shape, k, it):
    rng = np.random.default_rng(k * 100 + it)
    mask = rng.choice(np.array([0, 1, 60, 200, 254, 255], np.uint8), size=shape, p=[0.3, 0.1, 0.1, 0.1, 0.1, 0.3])
    for fg, bg in ((254, 1), (128, 60)):
        np.testing.assert_array_equal(gpu_algorithm(mask, k, it, fg, bg), opencv(mask, k, it, fg, bg))
