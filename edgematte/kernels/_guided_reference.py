"""Executable specification of ``csrc/guided.c`` in NumPy (float64): clear, not fast.

The fast guided filter (He & Sun 2015) fitted at the model's resolution and evaluated at the
frame's, the known-region clamp, blur-fusion foreground (Germer et al. 2021) and the composite.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import numpy as np

from ._reference import composite as _composite
from ._refine_reference import box_mean, linear_sample


def model_input(small: np.ndarray, out: np.ndarray) -> None:
    """uint8 [h,w,3] BGR -> ``out`` float32 [3,h,w] RGB, value * float32(1/255)."""
    np.multiply(small.transpose(2, 0, 1)[::-1], np.float32(1.0 / 255.0), out=out, casting="unsafe")


def _extreme(x: np.ndarray, k: int, fn) -> np.ndarray:
    """min or max over the clipped (2k+1)^2 window."""
    h, w = x.shape
    out = x.copy()
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            ys = np.clip(np.arange(h) + dy, 0, h - 1)
            xs = np.clip(np.arange(w) + dx, 0, w - 1)
            out = fn(out, x[ys][:, xs])
    return out


def guided_coefficients(small_image: np.ndarray, small_alpha: np.ndarray, radius: int, mean_radius: int, eps: float,
                        known_radius: int) -> np.ndarray:
    """[4,h,w] float32: a0, a1, a2 per uint8 colour level and 255 b, of alpha ~= a . I + b (see guided.h)."""
    guide = small_image.astype(np.float64) / 255
    p = small_alpha.astype(np.float64)
    mean_i, mean_p = box_mean(guide, radius), box_mean(p, radius)
    cov_ip = box_mean(guide * p[..., None], radius) - mean_i * mean_p[..., None]
    outer = (guide[..., :, None] * guide[..., None, :]).reshape(guide.shape[:2] + (9,))
    var = box_mean(outer, radius).reshape(guide.shape[:2] + (3, 3)) - mean_i[..., :, None] * mean_i[..., None, :]
    a = np.linalg.solve(var + eps * np.eye(3), cov_ip[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    if mean_radius > 0:
        a, b = box_mean(a, mean_radius), box_mean(b, mean_radius)
    coef = np.concatenate([a.transpose(2, 0, 1), 255 * b[None]])  # a . I / 255 + b -> a . I + 255 b
    if known_radius >= 0:
        fg = _extreme(p, known_radius, np.minimum) >= 254 / 255
        bg = _extreme(p, known_radius, np.maximum) <= 1 / 255
        coef[:, fg | bg] = 0
        coef[3, fg] = 255
    return coef.astype(np.float32)


def foreground_blurs(small_image: np.ndarray, small_alpha: np.ndarray, radius: int, small_radius: int) -> np.ndarray:
    """[6,h,w] float32: blur-fusion's Fb and Bb at the model's resolution, one or two passes (see guided.h)."""
    image = small_image.astype(np.float64)
    a = small_alpha.astype(np.float64)[..., None]

    def one(fg, bg, r):
        fb = box_mean(fg * a, r) / (box_mean(a, r) + 1e-5)
        bb = box_mean(bg * (1 - a), r) / (box_mean(1 - a, r) + 1e-5)
        return fb, bb

    fb, bb = one(image, image, radius)
    if small_radius >= 0:
        fb, bb = one(np.clip(fb + a * (image - a * fb - (1 - a) * bb), 0, 255), bb, small_radius)
    return np.concatenate([fb, bb], -1).transpose(2, 0, 1).astype(np.float32)


#: guided.h's EM_BACKGROUND_VARIANCE_RATIO: the background estimate's variance over the foreground's
BACKGROUND_VARIANCE_RATIO = 4.0


def most_probable_gain(a: np.ndarray, ratio: float = BACKGROUND_VARIANCE_RATIO) -> np.ndarray:
    """g = a / (a^2 + ratio (1 - a)^2): the share of the residual the most probable F takes."""
    return a / (a * a + ratio * (1 - a) ** 2)


def fuse_foreground(blurs: np.ndarray, image: np.ndarray, alpha: np.ndarray,
                    gain: Callable[[np.ndarray], np.ndarray] = most_probable_gain) -> np.ndarray:
    """[H,W,3] uint8 F = Fb + g (I - a Fb - (1 - a) Bb), g = ``gain(a)``, a = alpha / 255 (uint8 [H,W]),
    with Fb and Bb ([6,h,w] from :func:`foreground_blurs`) sampled bilinearly at the image's size; F = I
    where alpha is 0 or 255. The default gain, :func:`most_probable_gain`, gives the most probable F
    given I = a F + (1 - a) B and Gaussian priors around Fb and Bb (the native pass's); blur-fusion's
    own step is ``gain=lambda a: a``."""
    height, width = image.shape[:2]
    bl = linear_sample(blurs.transpose(1, 2, 0).astype(np.float64), height, width)
    fb, bb = bl[..., :3], bl[..., 3:]
    a = alpha[..., None] / 255.0
    fg = np.rint(np.clip(fb + gain(a) * (image - a * fb - (1 - a) * bb), 0, 255)).astype(np.uint8)
    known = (alpha == 0) | (alpha == 255)
    fg[known] = image[known]  # where the alpha is 0 or 255 the foreground is the frame
    return fg


def lerp_table(n_out: int, n_in: int):
    """(lo int32, hi int32, weight float32) per output index: guided.c's lerp_coord (pixel centres aligned,
    edges clamped; computed in float64, the weight then rounded to float32)."""
    f = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    lo = np.minimum(f.astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo.astype(np.int32), hi.astype(np.int32), np.minimum(f - lo, 1.0).astype(np.float32)


#: fixed point of the native foreground step: blurs in 1/64 level, the gain in 1/16384 (see guided.h)
FOREGROUND_SHIFT, GAIN_ONE = 6, 16384


def _i16(x: np.ndarray) -> np.ndarray:
    """int16 wrap-around, as the C casts (the values stay in range; this only pins the semantics)."""
    return ((x.astype(np.int64) + 32768) & 0xFFFF) - 32768


def _mulhrs(a: np.ndarray, b) -> np.ndarray:
    """round(a b / 2^15) of int16 values (pmulhrsw)."""
    return _i16((((a.astype(np.int64) * b) >> 14) + 1) >> 1)


def _round_half_even(v: np.ndarray) -> np.ndarray:
    return np.rint(v).astype(np.int64)


def fixed_foreground(blurs: np.ndarray, image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """[H,W,3] uint8: the native pass's foreground, bit for bit, given its alpha (uint8 [H,W]).

    The fixed-point form of :func:`fuse_foreground`'s most probable F: the blurs Fb, Bb ([6,h,w] from
    :func:`foreground_blurs`) sampled along x in float32 (lo + w (hi - lo)) and rounded to 1/64 level,
    then along y in int16 (t + round((b - t) wq / 2^15), wq the weight in 1/32768);
    u = 64 I - Bb - round((Fb - Bb) aq / 2^15) with aq = 128 alpha + alpha // 2 (a in 1/32768);
    F = Fb + round(2u gq / 2^15) with gq = rint(16384 g), g the float32 gain a / (a^2 + k (1 - a)^2);
    then (F + 32) >> 6 clamped to 0..255, and F = I where the alpha is 0 or 255.
    """
    height, width = image.shape[:2]
    h, w = blurs.shape[1:]
    xa, xb, wx = lerp_table(width, w)
    ya, yb, wy = lerp_table(height, h)
    one = np.float32(1 << FOREGROUND_SHIFT)
    row = blurs[:, :, xa] + wx * (blurs[:, :, xb] - blurs[:, :, xa])  # [6,h,W] float32, as the C expression
    q = _round_half_even(row.astype(np.float32) * one)
    wq = np.minimum(_round_half_even(wy * np.float32(32768)), 32767)[None, :, None]
    top, bot = q[:, ya], q[:, yb]
    lerp = _i16(top + _mulhrs(_i16(bot - top), wq))  # [6,H,W]
    a8 = alpha.astype(np.int64)
    v = alpha.astype(np.float32)
    a, b = v * np.float32(1 / 255), np.float32(1) - v * np.float32(1 / 255)
    gain = a / (a * a + np.float32(BACKGROUND_VARIANCE_RATIO) * (b * b))
    gq = _round_half_even(gain * np.float32(GAIN_ONE))
    aq = (a8 << 7) + (a8 >> 1)
    out = np.empty(image.shape, np.uint8)
    for c in range(3):
        i = image[..., c].astype(np.int64)
        fb, bg = lerp[c], lerp[3 + c]
        u = _i16((i << FOREGROUND_SHIFT) - bg - _mulhrs(_i16(fb - bg), aq))
        f = _i16(fb + _mulhrs(_i16(u << 1), gq))
        f = np.clip((f + (1 << (FOREGROUND_SHIFT - 1))) >> FOREGROUND_SHIFT, 0, 255)
        out[..., c] = np.where((a8 == 0) | (a8 == 255), i, f)
    return out


def guided_apply(coef: np.ndarray, blurs: Optional[np.ndarray], image: np.ndarray, background: Optional[np.ndarray],
                 colour: Optional[Sequence[int]]):
    """(alpha [H,W] uint8, foreground [H,W,3] uint8 or None, composite [H,W,3|4] uint8) (see guided.h).
    The alpha in float64 (the native pass's float32 rounds within 1 of it); the foreground in the native
    pass's fixed point from that alpha (:func:`fixed_foreground`)."""
    height, width = image.shape[:2]
    img = image.astype(np.float64)
    c = linear_sample(coef.transpose(1, 2, 0).astype(np.float64), height, width)
    alpha = np.rint(np.clip((c[..., :3] * img).sum(-1) + c[..., 3], 0, 255)).astype(np.uint8)
    fg = None if blurs is None else fixed_foreground(blurs, image, alpha)
    out = np.empty((height, width, 3 if background is not None or colour is not None else 4), np.uint8)
    _composite(image if fg is None else fg, alpha, background, colour, out, None)
    return alpha, fg, out
