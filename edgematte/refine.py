"""Matte refinement: solve a trimap's unknown band, and estimate spill-free foreground colours.

``refine_alpha`` is closed-form matting (Levin et al. 2008, 3x3 windows) solved coarse to fine:
conjugate gradients on the matting Laplacian restricted to the unknown band at 1/4 then 1/2
resolution (native kernel ``em_refine_cf``: matrix-free, cost proportional to the band), then
guided-filter upsampling of the local linear model ``alpha = a . I + b`` to full resolution
(native ``em_guided_upsample``; He et al. 2013), optionally followed by a few CG iterations at full
resolution. The schedule was chosen by measurement (bench/quality.py, README "Quality").
``estimate_foreground`` is blur-fusion (Germer et al. 2021).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import validate as v
from .kernels import native, threads_now

__all__ = ["refine_alpha", "estimate_foreground"]

_MIN_LEVEL_SIDE = 8  # a pyramid level smaller than this is skipped
_COARSE_MARGIN = 0.125  # see downsample_trimap
#: bounds of the parameters: far beyond any useful value, and small enough that no index or
#: window sum overflows a C int and no call runs for hours
MAX_ITERATIONS = 100_000
MAX_RADIUS = 256
MAX_EPS = 1e3
MAX_PRIOR_WEIGHT = 1e6


class FastSettings(NamedTuple):
    """The pipeline's real-time refinement ("fast"); chosen on bench/quality.py's
    low-resolution-segmenter benchmark (README "Quality"). Radii in pixels of the fitting level."""

    scale: int = 2  # the fit runs at 1/scale of the model's resolution (measured: better and 4x cheaper than 1)
    radius: int = 2  # guided-filter fitting window (2r+1)^2
    mean_radius: int = 1  # window over which the coefficients are averaged
    eps: float = 1e-5  # colour covariance regularisation (colours 0..1)
    known_radius: int = 1  # alpha >= 254/255 (<= 1/255) over (2k+1)^2 -> exactly 255 (0)
    foreground_radius: int = 8  # blur-fusion's first box blur radius
    foreground_small_radius: int = 1  # ... and its second (then per pixel: guided.h EM_BACKGROUND_VARIANCE_RATIO)


FAST = FastSettings()


class FullSettings(NamedTuple):
    """The pipeline's "full" refinement: closed form in the band with the "fast" alpha as soft prior,
    solved at 1/2 resolution from the prior and carried to full resolution by guided-filter
    upsampling; chosen on bench/quality.py's low-resolution-segmenter benchmark (README "Quality"):
    within 0.01 x off of 60 iterations at full resolution from the prior, at ~1/9 of the CPU time."""

    prior_weight: float = 3e-4  # weight of |alpha - prior|^2 against the matting Laplacian
    iterations: Tuple[int, ...] = (25,)  # CG iterations at 1/2 resolution (more drift from the prior: worse)
    final_iterations: int = 0  # CG iterations at full resolution after the upsampling (measured: no gain)


FULL = FullSettings()


_IMAGE = "HxWx3 uint8 BGR"
_U8 = (np.dtype(np.uint8),)


def downsample_trimap(trimap: np.ndarray, size: Tuple[int, int], margin: float = _COARSE_MARGIN) -> np.ndarray:
    """[H,W] uint8 trimap -> [h,w] (size = (w, h)) by area averaging (0, 128, 255 read as 0, 1/2, 1).

    A coarse pixel is foreground when its average is >= 1/2 + margin, background when <= 1/2 - margin,
    unknown otherwise. Trimaps are usually wider than the true transition, so pixels that are mostly
    known are fixed at the coarse levels: fewer unknowns and, measured on bench/quality.py, lower
    error than the conservative rule (known only if every covered pixel is known).
    """
    import cv2

    small = cv2.resize(trimap, size, interpolation=cv2.INTER_AREA)
    out = np.full(small.shape, 128, np.uint8)
    out[small >= 255 * (0.5 + margin)] = 255
    out[small <= 255 * (0.5 - margin)] = 0
    return out


def refine_alpha(
    image: np.ndarray,
    trimap: np.ndarray,
    *,
    iterations: Sequence[int] = (50, 8),
    final_iterations: int = 0,
    eps: float = 1e-7,
    guide_radius: int = 1,
    guide_eps: float = 1e-5,
    prior: Optional[np.ndarray] = None,
    prior_weight: float = 3e-4,
    threads: Optional[int] = None,
) -> np.ndarray:
    """Solve the unknown band of a trimap by coarse-to-fine closed-form matting.

    image: [H,W,3] uint8 BGR. trimap: [H,W] uint8; 0 = background, 255 = foreground, anything
    else (128 by convention) = unknown. Returns [H,W] float32 alpha in [0,1], exactly 0 and 1 at
    known pixels.

    ``prior`` ([H,W] float32 0..1 or uint8 0..255, e.g. a segmentation model's upsampled alpha)
    makes the band's solution a trade-off: it minimises alpha' L alpha + prior_weight |alpha -
    prior|^2 in the band, and CG starts from the prior (Levin et al. 2008's soft constraints).
    Bounds: iterations and final_iterations <= 100000, guide_radius <= 256, eps and guide_eps
    in (0, 1000], prior_weight in [0, 1e6].

    ``iterations[i]`` CG iterations run at scale 1/2**(len(iterations) - i), coarse to fine; each
    level starts from the previous one, upsampled. The finest solved level is carried to full
    resolution by guided-filter coefficients (``guide_radius``, ``guide_eps``), then
    ``final_iterations`` CG iterations run at full resolution. Levels under 8 pixels a side are
    dropped; with none left (small images, or ``iterations=()``), ``sum(iterations) +
    final_iterations`` CG iterations run at full resolution from alpha = 0.5: plain closed-form matting.
    ``eps`` regularises each 3x3 window's colour covariance (colours in 0..1).
    """
    image = v.check_array("image", image, 3, _U8, _IMAGE, channels=3, c_contiguous=True, empty_ok=True)
    trimap = v.check_array("trimap", trimap, 2, _U8, "HxW uint8 trimap (0, 128, 255)", c_contiguous=True,
                           empty_ok=True)
    v.check_same_hw("trimap", trimap.shape, "image", image.shape)
    iterations = v.check_ints("iterations", iterations, 0, MAX_ITERATIONS)
    final_iterations = v.check_int("final_iterations", final_iterations, 0, MAX_ITERATIONS)
    eps = v.check_number("eps", eps, 0, MAX_EPS)
    guide_eps = v.check_number("guide_eps", guide_eps, 0, MAX_EPS)
    guide_radius = v.check_int("guide_radius", guide_radius, 1, MAX_RADIUS)
    prior_weight = v.check_number("prior_weight", prior_weight, 0, MAX_PRIOR_WEIGHT, lo_open=False)
    if prior is not None:
        prior = v.check_array("prior", prior, 2, (np.dtype(np.float32), np.dtype(np.uint8)),
                              "HxW float32 0..1 or uint8 0..255", c_contiguous=True, empty_ok=True)
        v.check_same_hw("prior", prior.shape, "image", image.shape)
        v.check_finite("prior", prior)
    threads = v.check_threads(threads)
    return solve_band(image, trimap, iterations=iterations, final_iterations=final_iterations, eps=eps,
                      guide_radius=guide_radius, guide_eps=guide_eps, prior=prior, prior_weight=prior_weight,
                      threads=threads)


def solve_band(image: np.ndarray, trimap: np.ndarray, *, iterations: Sequence[int] = (50, 8), final_iterations: int = 0,
               eps: float = 1e-7, guide_radius: int = 1, guide_eps: float = 1e-5, prior: Optional[np.ndarray] = None,
               prior_weight: float = 3e-4, threads: int = 0) -> np.ndarray:
    """:func:`refine_alpha` without argument checks, for callers that validated once (the pipeline).

    image: C-contiguous uint8 HxWx3; trimap: C-contiguous uint8 HxW; prior: None or C-contiguous
    HxW float32 (finite) or uint8; parameters as refine_alpha accepts them, ``threads`` a checked
    count (0 = all cores).
    """
    if prior is not None:
        prior = prior.astype(np.float32) * np.float32(1 / 255) if prior.dtype == np.uint8 else np.clip(prior, 0, 1)
    weight = prior_weight if prior is not None else 0.0
    _refine = native("_refine")
    nthreads = threads_now(threads)  # shared with the trimap/composite kernels: one thread after fork
    hw = image.shape[:2]
    height, width = hw
    if height == 0 or width == 0:
        return np.zeros(hw, np.float32)
    levels = [
        (iters, 2 ** (len(iterations) - i))
        for i, iters in enumerate(iterations)
        if min(height, width) // 2 ** (len(iterations) - i) >= _MIN_LEVEL_SIDE
    ]
    if levels:
        import cv2

        # pyramid, finest level first: each level is area-averaged from the one above it
        pyramid = []
        level_image, level_trimap, level_prior = image, trimap, prior
        for iters, scale in reversed(levels):
            size = (width // scale, height // scale)
            level_image = cv2.resize(level_image, size, interpolation=cv2.INTER_AREA)
            level_trimap = downsample_trimap(level_trimap, size)
            if prior is not None:
                level_prior = cv2.resize(level_prior, size, interpolation=cv2.INTER_AREA)
            pyramid.append((iters, size, level_image, level_trimap, level_prior))
        small_alpha = None
        for iters, size, small_image, small_trimap, small_prior in reversed(pyramid):
            if small_alpha is None:
                small_alpha = small_prior.copy() if prior is not None else np.full(small_trimap.shape, 0.5, np.float32)
            else:
                small_alpha = cv2.resize(small_alpha, size, interpolation=cv2.INTER_LINEAR)
            _refine.refine_cf(small_image, small_trimap, small_alpha, 1, eps, iters, 0.0, nthreads, small_prior, weight)
        alpha = np.empty(hw, np.float32)  # every pixel is written: known ones exactly, the band clipped
        _refine.guided_upsample(small_image, small_alpha, image, trimap, alpha, guide_radius, guide_eps, nthreads)
    else:
        # too small for a pyramid (or iterations=()): solve at full resolution; small images are cheap
        alpha = prior.copy() if prior is not None else np.full(hw, 0.5, np.float32)
        final_iterations += sum(iterations)
    if final_iterations or not levels:
        _refine.refine_cf(image, trimap, alpha, 1, eps, final_iterations, 0.0, nthreads, prior, weight)
    return alpha


def estimate_foreground(
    image: np.ndarray,
    alpha: np.ndarray,
    *,
    radius: int = 45,
    small_radius: int = 3,
) -> np.ndarray:
    """Spill-free foreground colours by blur-fusion (Germer et al. 2021, two passes).

    image: [H,W,3] uint8 (any channel order; the output keeps it). alpha: [H,W] float32 0..1 or
    uint8 0..255. Returns [H,W,3] uint8 foreground F with image ~= alpha F + (1 - alpha) B, F
    extended smoothly into the background so it composites without halo. ``radius`` and
    ``small_radius`` (1..256) are the box-blur radii of the two passes.
    """
    import cv2

    image = v.check_array("image", image, 3, _U8, "HxWx3 uint8", channels=3, c_contiguous=True, empty_ok=True)
    alpha = v.check_array("alpha", alpha, 2, (np.dtype(np.float32), np.dtype(np.uint8)),
                          "HxW float32 0..1 or uint8 0..255", c_contiguous=True, empty_ok=True)
    v.check_same_hw("alpha", alpha.shape, "image", image.shape)
    radius = v.check_int("radius", radius, 1, MAX_RADIUS)
    small_radius = v.check_int("small_radius", small_radius, 1, MAX_RADIUS)
    v.check_finite("alpha", alpha)
    if image.size == 0:
        return image.copy()
    if alpha.dtype == np.uint8:
        a = alpha.astype(np.float32) * np.float32(1 / 255)
    else:
        a = np.clip(alpha, 0, 1)
    a3 = cv2.merge([a, a, a])
    img = image.astype(np.float32)
    img *= np.float32(1 / 255)
    fg, bg = _blur_fusion(img, img, img, a, a3, radius)
    fg, _ = _blur_fusion(img, fg, bg, a, a3, small_radius)
    fg *= 255
    fg += 0.5
    return fg.astype(np.uint8)


def _blur_fusion(image, fg, bg, alpha, alpha3, radius):
    """One blur-fusion pass on [H,W,3] float32 0..1 planes (alpha [H,W], alpha3 its 3-channel copy).

    F = Fb + alpha (I - alpha Fb - (1 - alpha) Bb), with Fb = blur(F alpha) / blur(alpha) and
    Bb = blur(B (1 - alpha)) / blur(1 - alpha). In-place arithmetic: full-size temporaries are costly.
    """
    import cv2

    size = (2 * radius + 1, 2 * radius + 1)
    blur_alpha = cv2.blur(alpha, size)
    blur_alpha3 = cv2.merge([blur_alpha, blur_alpha, blur_alpha])
    tmp = cv2.multiply(fg, alpha3)
    blur_fg = cv2.blur(tmp, size)
    blur_fg /= blur_alpha3 + np.float32(1e-5)
    np.subtract(np.float32(1), alpha3, out=tmp)
    tmp *= bg
    blur_bg = cv2.blur(tmp, size)
    np.subtract(np.float32(1 + 1e-5), blur_alpha3, out=blur_alpha3)
    blur_bg /= blur_alpha3
    out = cv2.multiply(alpha3, blur_fg)
    np.subtract(image, out, out=out)
    np.subtract(np.float32(1), alpha3, out=tmp)
    tmp *= blur_bg
    out -= tmp
    out *= alpha3
    out += blur_fg
    np.clip(out, 0, 1, out=out)
    return out, blur_bg
