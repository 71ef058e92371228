"""Executable specification of ``csrc/edges.c`` in NumPy: clear, not fast.

Edge controls on a finished uint8 alpha: grow or shrink (grey dilation or erosion by a square),
feather (a square mean, rows then columns, each rounded half up), hard cut (threshold).
"""

from __future__ import annotations

import numpy as np


def _windows(x: np.ndarray, r: int, axis: int):
    """The 2r + 1 shifted copies of ``x`` along ``axis``, indices clamped at the border."""
    n = x.shape[axis]
    for d in range(-r, r + 1):
        yield np.take(x, np.clip(np.arange(n) + d, 0, n - 1), axis=axis)


def _separable(x: np.ndarray, r: int, reduce) -> np.ndarray:
    for axis in (1, 0):  # rows, then columns
        x = reduce(list(_windows(x, r, axis)))
    return x


def edge_controls(alpha: np.ndarray, shift: int, feather: int, threshold: int) -> np.ndarray:
    """A new uint8 [H,W]: ``alpha`` dilated (shift > 0) or eroded (shift < 0) by the (2|shift| + 1)^2 square,
    then averaged over the (2 feather + 1)^2 square, then cut at ``threshold`` (1..255; 0: none)."""
    out = alpha.copy()
    if shift:
        out = _separable(out, abs(shift), lambda ws: np.maximum.reduce(ws) if shift > 0 else np.minimum.reduce(ws))
    if feather:
        k = 2 * feather + 1
        out = _separable(out, feather, lambda ws: ((sum(w.astype(np.int64) for w in ws) + feather) // k).astype(np.uint8))
    if threshold:
        out = np.where(out >= threshold, 255, 0).astype(np.uint8)
    return out
