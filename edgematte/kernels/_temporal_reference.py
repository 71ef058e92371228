"""Executable specification of ``csrc/temporal.c`` in NumPy: clear, not fast.

Motion-adaptive temporal smoothing of a model step's small-size coefficients: averaged over time
where the picture holds still, this frame's as they are where it moves.
"""

from __future__ import annotations

import numpy as np


def motion(guide: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """[h,w] float32: the mean absolute channel difference of two uint8 [h,w,3] frames (0..255),
    averaged over each pixel's 3x3 neighbourhood, indices clamped at the border."""
    total = np.abs(guide.astype(np.int32) - previous).sum(axis=2)
    padded = np.pad(total, 1, mode="edge")
    h, w = total.shape
    window = sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3))
    return window.astype(np.float32) * np.float32(1.0 / 27.0)


def temporal_weights(guide: np.ndarray, previous: np.ndarray, strength: float, still: float,
                     moving: float) -> np.ndarray:
    """[h,w] float32: strength where the motion is <= still, 0 where it is >= moving, linear between;
    ``previous`` (uint8 [h,w,3]) <- ``guide``, in place."""
    d = motion(guide, previous)
    inv_span = np.float32(1.0) / (np.float32(moving) - np.float32(still))
    previous[...] = guide
    return np.float32(strength) * np.clip((np.float32(moving) - d) * inv_span, 0, 1).astype(np.float32)


def temporal_blend(weights: np.ndarray, values: np.ndarray, state: np.ndarray, known_guide: np.ndarray = None,
                   known_tol: float = 0.5) -> None:
    """In place: ``state`` [c,h,w] float32 <- weights * state + (1 - weights) * values. With ``known_guide``
    (uint8 [h,w,3]; values the fast guided filter's coefficients a0, a1, a2, 255 b): a cell known in ``values``
    (a = 0, 255 b in {0, 255}) whose smoothed alpha at the guide's colour, a . I + 255 b, lies within
    ``known_tol`` of it, is set to it exactly."""
    state[...] = weights * state + (np.float32(1) - weights) * values
    if known_guide is None:
        return
    a, k = values[:3], values[3]
    known = (a == 0).all(axis=0) & ((k == 0) | (k == 255))
    guide = known_guide.astype(np.float32).transpose(2, 0, 1)
    alpha = state[0] * guide[0] + state[1] * guide[1] + state[2] * guide[2] + state[3]
    snap = known & (np.abs(alpha - k) < np.float32(known_tol))
    state[:, snap] = values[:, snap]


def temporal_alpha(weights: np.ndarray, alpha: np.ndarray, state: np.ndarray) -> None:
    """In place, at full resolution: ``state`` (float32 [H,W]) <- w * state + (1 - w) * alpha, w = ``weights``
    (float32 [h,w]) upsampled bilinearly (guided.c's lerp: pixel centres aligned, edges clamped; each row first,
    top = w[ya, xa] (1 - fx) + w[ya, xb] fx, then top (1 - fy) + bottom fy), in float32; ``alpha`` (uint8
    [H,W]) <- round-half-even(state). ``weights`` None (the first frame): state <- alpha."""
    if weights is None:
        state[...] = alpha
        return
    from ._guided_reference import lerp_table

    one = np.float32(1)
    ya, yb, fy = lerp_table(alpha.shape[0], weights.shape[0])
    xa, xb, fx = lerp_table(alpha.shape[1], weights.shape[1])
    rows = weights[:, xa] * (one - fx) + weights[:, xb] * fx  # [h, W]
    wgt = rows[ya] * (one - fy[:, None]) + rows[yb] * fy[:, None]
    state[...] = wgt * state + (one - wgt) * alpha.astype(np.float32)
    alpha[...] = np.rint(state)  # a convex mix of 0..255 values


def difference_keep(frame: np.ndarray, previous: np.ndarray) -> int:
    """The scene-cut detector's pass: the sum of |frame - previous| (uint8 arrays of one shape); previous <- frame."""
    total = int(np.abs(frame.astype(np.int64) - previous).sum())
    previous[...] = frame
    return total
