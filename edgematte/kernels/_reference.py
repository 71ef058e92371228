"""Executable specification of the kernels, in NumPy and OpenCV: clear, not fast.

Functions take arguments already validated by :mod:`edgematte.kernels` and fill ``out``.
``threads`` is ignored here (OpenCV uses its own global thread setting).
"""

from __future__ import annotations

import cv2
import numpy as np


def mask_to_u8(mask: np.ndarray) -> np.ndarray:
    """uint8 HxW unchanged; float32 HxW in [0, 1] -> round-half-even(x * 255) computed in float32."""
    if mask.dtype == np.uint8:
        return mask
    return np.rint(mask * np.float32(255)).astype(np.uint8)


def unit_to_u8(values: np.ndarray, out: np.ndarray) -> None:
    """float alpha -> uint8, edgematte's rule: NaN -> 0, clamped to [0, 1], then round-half-even(x * 255)
    computed in float32 (so -inf -> 0, +inf -> 255; for x in [0, 1] exactly :func:`mask_to_u8`)."""
    clamped = np.clip(np.where(np.isnan(values), np.float32(0), values), 0, 1).astype(np.float32)
    out[...] = np.rint(clamped * np.float32(255))


def seed_trimap(mask: np.ndarray, kernel_size=7, iterations=3, fg_threshold=254, bg_threshold=1) -> np.ndarray:
    """The seed pipeline's trimap code, verbatim: mask uint8 HxW -> uint8 HxW {0, 128, 255}."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))
    eroded = cv2.erode(mask, k, iterations=iterations)
    dilated = cv2.dilate(mask, k, iterations=iterations)
    trimap = np.full(mask.shape, 128, np.uint8)
    trimap[eroded >= fg_threshold] = 255
    trimap[dilated <= bg_threshold] = 0
    return trimap


def make_trimap(mask, kernel_size, iterations, fg_threshold, bg_threshold, out, threads):
    """255 where eroded >= fg, 0 where dilated <= bg, 128 elsewhere (see :func:`seed_trimap`)."""
    out[...] = seed_trimap(mask_to_u8(mask), kernel_size, iterations, fg_threshold, bg_threshold)


def composite(image, alpha, background, colour, out, threads):
    """round(I * a + B * (1 - a)) with a = alpha / 255 (uint8) or alpha (float32), in float64.

    With neither background nor colour: out = image with round(alpha * 255) as a fourth channel.
    """
    if background is None and colour is None:
        out[..., :3] = image
        out[..., 3] = mask_to_u8(alpha)
        return
    a = alpha.astype(np.float64)
    if alpha.dtype == np.uint8:
        a /= 255.0
    a = a[..., None]
    back = background if background is not None else np.asarray(colour, np.float64).reshape(1, 1, 3)
    out[...] = np.rint(image * a + back * (1.0 - a))
