"""Interim OpenCV versions of make_trimap/composite, used only until the native kernels are in the package.

Same signatures and semantics as ``edgematte.make_trimap`` / ``edgematte.composite``; no validation.
"""

from __future__ import annotations

import numpy as np


def make_trimap(mask, kernel_size=7, iterations=3, fg_threshold=254, bg_threshold=1, *, out=None, threads=None):
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_size, kernel_size))
    eroded = cv2.erode(mask, k, iterations=iterations)
    dilated = cv2.dilate(mask, k, iterations=iterations)
    out = np.full(mask.shape, 128, np.uint8) if out is None else out
    out[...] = 128
    out[eroded >= fg_threshold] = 255
    out[dilated <= bg_threshold] = 0
    return out


def composite(image, alpha, background=None, *, out=None, threads=None):
    a = alpha.astype(np.float32)[..., None] / 255.0
    if background is None:
        result = np.concatenate([image, alpha[..., None]], axis=2)
    else:
        bg = np.broadcast_to(np.asarray(background, np.float32), image.shape)
        result = np.clip(np.rint(image * a + bg * (1 - a)), 0, 255).astype(np.uint8)
    if out is None:
        return result
    out[...] = result
    return out
