"""Matting quality on real ground truth: baseline vs edgematte.refine_alpha vs pymatting closed-form.

    python bench/quality.py            # writes bench/results/quality.md and bench/results/hair_crop.png

Data: ``../shared/data/alphamatting_lowres`` beside the repository (``--data`` to override):
``input/``, ``gt/``, ``trimap1/``, ``trimap2/`` (alphamatting.com training images, ~0.5 MP).

Metrics (alphamatting.com / Composition-1k conventions; alpha in 0..1; summed or averaged over the
*unknown region* of the trimap the method was given, i.e. pixels that are neither 0 nor 255):
  SAD   sum |alpha - gt|, in thousands.
  MSE   mean (alpha - gt)^2 over the unknown pixels, reported x 1e3.
  Grad  sum (|grad alpha| - |grad gt|)^2, gradients by first-order Gaussian derivative filters with
        sigma = 1.4 (Rhemann et al. 2009), in thousands.
  Conn  sum |phi(alpha) - phi(gt)|, phi(x) = 1 - (x - l) [x - l >= 0.15] where l is the threshold
        (step 0.1) at which a pixel leaves the largest 4-connected component common to both mattes
        thresholded (Rhemann et al. 2009), in thousands.

Rows: "baseline" = trimap with unknown = 0.5; "refine" = edgematte.refine_alpha (defaults);
"closed-form" = pymatting.estimate_alpha_cf (defaults: eps 1e-7, 3x3 windows, ichol-preconditioned CG).
Trimaps: Trimap1, Trimap2 and "seed" = the pipeline's own trimap from a binary mask (GT alpha > 0.5
-> make_trimap). Times: refine is the median of --repeat runs after one warm-up run per image;
closed-form is one run per image after a numba warm-up on a small crop. Both single process, the
same thread count (--threads, default 1: pymatting's CG and Laplacian are single-threaded).

Foreground: the true foreground of a real photo is unknown, so a plausible one is fixed first,
F = pymatting's multilevel estimate from the photo and its GT alpha (this favours the multilevel
row below), and a new image is composited with the GT alpha onto another photo of the set:
I1 = a F + (1 - a) B1. Foregrounds estimated from (I1, alpha) are composited onto a green screen B2
and compared with a F + (1 - a) B2: mean absolute error in 8-bit levels over pixels with 0 < gt < 1.
The "end-to-end" rows start from I1 and the seed trimap instead of the GT alpha.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

# BLAS is not on either hot path; idle BLAS threads would only compete with the timed code
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# idle OpenMP workers spin by default; on a shared CPU that spinning steals time from the timed thread
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data" / "alphamatting_lowres"
GREEN = (0, 177, 64)  # B2 for foreground composites, BGR


# ---------------------------------------------------------------- metrics
def sad(alpha: np.ndarray, gt: np.ndarray, region: np.ndarray) -> float:
    return float(np.abs(alpha - gt)[region].sum() / 1000)


def mse(alpha: np.ndarray, gt: np.ndarray, region: np.ndarray) -> float:
    return float(((alpha - gt) ** 2)[region].mean()) if region.any() else 0.0


def _gauss_gradient_magnitude(x: np.ndarray, sigma: float = 1.4) -> np.ndarray:
    import cv2

    eps = 1e-2
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * eps))))
    t = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(t**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    kernel = np.outer(g, -t * g / sigma**2)  # d/dx of a 2-D Gaussian, rows = y
    kernel /= np.sqrt((kernel**2).sum())
    gx = cv2.filter2D(x.astype(np.float64), cv2.CV_64F, kernel, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.filter2D(x.astype(np.float64), cv2.CV_64F, kernel.T, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx**2 + gy**2)


def gradient_error(alpha: np.ndarray, gt: np.ndarray, region: np.ndarray) -> float:
    diff = (_gauss_gradient_magnitude(alpha) - _gauss_gradient_magnitude(gt)) ** 2
    return float(diff[region].sum() / 1000)


def connectivity_error(alpha: np.ndarray, gt: np.ndarray, region: np.ndarray, step: float = 0.1) -> float:
    import cv2

    thresholds = np.arange(0, 1 + step, step)
    level = np.full(alpha.shape, -1.0)
    for i in range(1, len(thresholds)):
        both = ((alpha >= thresholds[i]) & (gt >= thresholds[i])).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=4)
        if count > 1:
            largest = labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        else:
            largest = np.zeros(alpha.shape, bool)
        level[(level == -1) & ~largest] = thresholds[i - 1]
    level[level == -1] = 1
    da, dg = alpha - level, gt - level
    phi_a = 1 - da * (da >= 0.15)
    phi_g = 1 - dg * (dg >= 0.15)
    return float(np.abs(phi_a - phi_g)[region].sum() / 1000)


METRICS = {"SAD": sad, "MSE": lambda a, g, r: 1e3 * mse(a, g, r), "Grad": gradient_error, "Conn": connectivity_error}


# ---------------------------------------------------------------- data and methods
def load(data: Path):
    import cv2

    items = []
    for path in sorted((data / "input").glob("*.png")):
        gt = cv2.imread(str(data / "gt" / path.name), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
        items.append(
            {
                "name": path.stem,
                "image": cv2.imread(str(path)),
                "gt": gt,
                "trimap1": cv2.imread(str(data / "trimap1" / path.name), cv2.IMREAD_GRAYSCALE),
                "trimap2": cv2.imread(str(data / "trimap2" / path.name), cv2.IMREAD_GRAYSCALE),
                "seed": seed_trimap(gt),
            }
        )
    return items


def seed_trimap(gt: np.ndarray) -> np.ndarray:
    """Pipeline trimap from the binary mask gt > 0.5 (edgematte.make_trimap defaults)."""
    mask = np.where(gt > 0.5, 255, 0).astype(np.uint8)
    from edgematte import make_trimap

    return make_trimap(mask)


def baseline(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    return np.where(trimap == 255, 1.0, np.where(trimap == 0, 0.0, 0.5)).astype(np.float32)


def closed_form(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    from pymatting import estimate_alpha_cf

    rgb = image[..., ::-1].astype(np.float64) / 255
    return estimate_alpha_cf(rgb, trimap.astype(np.float64) / 255).astype(np.float32)


def timed(fn: Callable, *args, repeat: int = 1, warmup: int = 0):
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return out, float(np.median(times))


# ---------------------------------------------------------------- foreground
def foreground_errors(items, refine: Callable) -> Dict[str, List[float]]:
    import cv2
    from pymatting import estimate_foreground_ml

    import edgematte
    from edgematte.refine import FAST

    errors: Dict[str, List[float]] = {}
    for k, item in enumerate(items):
        image, gt = item["image"], item["gt"]
        a = gt[..., None]
        # a plausible true foreground: the multilevel estimate from the photo and its GT alpha
        fg_true = estimate_foreground_ml(image[..., ::-1] / 255.0, gt.astype(np.float64))[..., ::-1] * 255
        other = items[(k + 1) % len(items)]["image"]
        b1 = cv2.resize(other, image.shape[1::-1], interpolation=cv2.INTER_AREA).astype(np.float32)
        i1 = np.clip(a * fg_true + (1 - a) * b1 + 0.5, 0, 255).astype(np.uint8)
        green = np.empty_like(b1)
        green[:] = GREEN
        reference = a * fg_true + (1 - a) * green
        soft = (gt > 0) & (gt < 1)

        def err(fg: np.ndarray, alpha: np.ndarray) -> float:
            al = alpha[..., None]
            comp = al * fg.astype(np.float32) + (1 - al) * green
            return float(np.abs(comp - reference)[soft].mean())

        rows = {
            "raw colours (no estimation)": lambda: i1,
            "estimate_foreground (blur-fusion)": lambda: edgematte.estimate_foreground(i1, gt),
            "pymatting estimate_foreground_ml": lambda: np.clip(
                estimate_foreground_ml(i1[..., ::-1] / 255.0, gt.astype(np.float64))[..., ::-1] * 255, 0, 255
            ),
        }
        for radius, small_radius in FOREGROUND_RADII:
            passes = f"radius {radius}" + (f", then {small_radius}" if small_radius >= 0 else "")
            rows[f"fast foreground (blur-fusion at 128x128, {passes})"] = (
                lambda radius=radius, small_radius=small_radius: fast_foreground(i1, gt, radius, small_radius))
        radii = (FAST.foreground_radius, FAST.foreground_small_radius)
        for step, ratio in FOREGROUND_STEPS.items():
            rows[f"fast foreground, radius {radii[0]}, then {radii[1]}, final step: {step}"] = (
                lambda ratio=ratio: fast_foreground(i1, gt, *radii, variance_ratio=ratio))
        for label, make in rows.items():
            fg, seconds = timed(make)
            errors.setdefault(label, []).append(err(fg, gt))
            errors.setdefault(label + " time", []).append(seconds)
        # what a user sees: the real-time pipeline with a 256x256 segmenter, composited on green
        from edgematte.pipeline import Pipeline

        pipeline = Pipeline(LowResSegmenter(lowres_alpha(gt)), refine="fast", threads=1)
        result = pipeline.process(i1, GREEN)
        fast_alpha = result.alpha.astype(np.float32) / 255
        errors.setdefault("end-to-end: fast pipeline (256x256 segmenter), raw colours", []).append(
            err(i1, fast_alpha))
        errors.setdefault("end-to-end: fast pipeline (256x256 segmenter), its foreground", []).append(
            float(np.abs(result.composite.astype(np.float32) - reference)[soft].mean()))
        alpha = refine(i1, item["seed"])
        errors.setdefault("end-to-end: hard mask (GT > 0.5), raw colours", []).append(
            err(i1, (gt > 0.5).astype(np.float32)))
        errors.setdefault("end-to-end: seed trimap -> refine_alpha, raw colours", []).append(err(i1, alpha))
        errors.setdefault("end-to-end: seed trimap -> refine_alpha -> estimate_foreground", []).append(
            err(edgematte.estimate_foreground(i1, alpha), alpha)
        )
    return errors


#: blur radii (model pixels) measured for the fast foreground; FAST.foreground_radius is the pipeline's
FOREGROUND_RADII = ((8, -1), (8, 1), (16, 1))
#: final per-pixel steps measured with the pipeline's radii: blur-fusion's own, and the most probable F
#: for variance ratios around the pipeline's (csrc/guided.h EM_BACKGROUND_VARIANCE_RATIO = 4)
FOREGROUND_STEPS = {"blur-fusion's F = Fb + a r": "blur-fusion", "most probable F, ratio 1": 1.0,
                    "most probable F, ratio 3": 3.0, "most probable F, ratio 5": 5.0, "most probable F, ratio 8": 8.0}


def fast_foreground(image: np.ndarray, alpha: np.ndarray, radius: int, small_radius: int, size: int = 128,
                    variance_ratio: Optional[Union[float, str]] = None) -> np.ndarray:
    """The "fast" mode's foreground for a given alpha: blur-fusion's blurs at size x size, fused at full
    resolution by the NumPy twins of the native pass, so that any alpha can be given. ``variance_ratio``
    None: the pass's own step, in its fixed point (``fixed_foreground``); 0 < ratio, or "blur-fusion" for
    Germer et al.'s own step: the float step (``fuse_foreground``) with that gain."""
    import functools

    import cv2

    from edgematte.kernels import _guided_reference as ref

    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    small_alpha = cv2.resize(alpha.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    alpha8 = np.rint(np.clip(alpha, 0, 1) * 255).astype(np.uint8)
    blurs = ref.foreground_blurs(small, small_alpha, radius, small_radius)
    if variance_ratio is None:
        return ref.fixed_foreground(blurs, image, alpha8)
    if variance_ratio == "blur-fusion":
        gain = lambda a: a  # noqa: E731
    else:
        gain = functools.partial(ref.most_probable_gain, ratio=variance_ratio)
    return ref.fuse_foreground(blurs, image, alpha8, gain)


def hair_crop(items, out: Path, size: int = 128) -> str:
    """Before/after panel on the image with the most soft-alpha pixels in a size x size window: the real
    Pipeline with a 256x256 segmenter (LowResSegmenter), composited on green."""
    import cv2

    from edgematte.pipeline import Pipeline

    best = None
    for item in items:
        soft = ((item["gt"] > 0.05) & (item["gt"] < 0.95)).astype(np.float32)
        density = cv2.boxFilter(soft, -1, (size, size), normalize=False)
        y, x = np.unravel_index(np.argmax(density), density.shape)
        if best is None or density[y, x] > best[0]:
            best = (density[y, x], item, y, x)
    _, item, cy, cx = best
    image, gt = item["image"], item["gt"]
    h, w = gt.shape
    y0, x0 = int(np.clip(cy - size // 2, 0, h - size)), int(np.clip(cx - size // 2, 0, w - size))
    green = np.empty(image.shape, np.float32)
    green[:] = GREEN

    def comp(fg: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        al = alpha[..., None]
        return np.clip(al * fg + (1 - al) * green + 0.5, 0, 255).astype(np.uint8)

    model_alpha = lowres_alpha(gt)
    panels = [("input", image)]
    for mode in ("off", "fast", "full"):
        result = Pipeline(LowResSegmenter(model_alpha), refine=mode, threads=1).process(image, GREEN)
        panels.append((f"{mode}", result.composite.copy()))
    panels.append(("ground truth", comp(image.astype(np.float32), gt)))
    tiles = []
    for label, pic in panels:
        tile = cv2.resize(pic[y0 : y0 + size, x0 : x0 + size], (2 * size, 2 * size), interpolation=cv2.INTER_NEAREST)
        tile = np.ascontiguousarray(tile)
        cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    cv2.imwrite(str(out), np.hstack(tiles))
    return f"{item['name']} y {y0}:{y0 + size} x {x0}:{x0 + size}"


# ---------------------------------------------------------------- low-resolution segmenter
class LowResSegmenter:
    """Backend stand-in for a perfect but low-resolution segmentation model.

    Implements the Backend protocol (runtime/base.py) for a fixed [h,w] float32 alpha: whatever
    frame the pipeline feeds, ``infer`` returns that alpha, so the real Pipeline runs every
    other stage exactly as with a model.
    """

    def __init__(self, alpha: np.ndarray) -> None:
        from edgematte.types import TensorSpec

        h, w = alpha.shape
        self.alpha = np.ascontiguousarray(alpha, np.float32).reshape(1, 1, h, w)
        self.inputs = (TensorSpec("src", (1, 3, h, w), "float32"),)
        self.outputs = (TensorSpec("alpha", (1, 1, h, w), "float32"),)

    def open(self) -> "LowResSegmenter":
        return self

    def infer(self, feed, *, validate: bool = True):
        return {"alpha": self.alpha}

    def close(self) -> None:
        pass

    def __enter__(self) -> "LowResSegmenter":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def lowres_alpha(gt: np.ndarray, size: int = 256, soften: float = 1.0) -> np.ndarray:
    """The best a size x size segmenter can do: GT shrunk (INTER_AREA), hard-decided (> 0.5), softened
    by a Gaussian of ``soften`` model pixels. [size,size] float32 0..1."""
    import cv2

    small = cv2.resize(gt, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur((small > 0.5).astype(np.float32), (0, 0), soften)


def _small_frame(image: np.ndarray, hw) -> np.ndarray:
    import cv2

    return cv2.resize(image, (hw[1], hw[0]), interpolation=cv2.INTER_AREA)


def _fgf(radius: int, mean_radius: int, eps: float, known_radius: int = 1, scale: int = 1) -> Callable:
    """The fast guided filter kernel with other settings, fitted at 1/scale of the model's size."""

    def run(image: np.ndarray, model_alpha: np.ndarray) -> np.ndarray:
        import cv2

        from edgematte.kernels import _guided

        fh, fw = model_alpha.shape[0] // scale, model_alpha.shape[1] // scale
        fit_image = cv2.resize(_small_frame(image, model_alpha.shape), (fw, fh), interpolation=cv2.INTER_AREA)
        fit_alpha = cv2.resize(model_alpha, (fw, fh), interpolation=cv2.INTER_AREA)
        coef = np.empty((4, fh, fw), np.float32)
        _guided.guided_coefficients(fit_image, fit_alpha, coef, radius, mean_radius, eps, known_radius, 1)
        alpha = np.empty(image.shape[:2], np.uint8)
        _guided.guided_apply(coef, None, image, alpha, None, None, None, None, 1)
        return alpha.astype(np.float32) / 255

    return run


def _upsampled(image: np.ndarray, model_alpha: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.resize(model_alpha, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    import cv2

    return cv2.blur(x, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def _guided_full(radius: int, eps: float) -> Callable:
    """Plain guided filter of the upsampled alpha at full resolution, the frame as guide (He et al. 2013)."""

    def run(image: np.ndarray, model_alpha: np.ndarray) -> np.ndarray:
        guide = image.astype(np.float32) / 255
        p = _upsampled(image, model_alpha)
        mean_i, mean_p = _box(guide, radius), _box(p, radius)
        cov = np.empty(guide.shape[:2] + (3, 3), np.float32)
        for i in range(3):
            for j in range(i, 3):
                cov[..., i, j] = cov[..., j, i] = _box(guide[..., i] * guide[..., j], radius) - mean_i[..., i] * mean_i[..., j]
        cov += np.float32(eps) * np.eye(3, dtype=np.float32)
        cov_ip = _box(guide * p[..., None], radius) - mean_i * mean_p[..., None]
        a = np.linalg.solve(cov, cov_ip[..., None])[..., 0]
        b = mean_p - (a * mean_i).sum(-1)
        return np.clip((_box(a, radius) * guide).sum(-1) + _box(b, radius), 0, 1)

    return run


def _joint_bilateral(sigma: float, taps: int) -> Callable:
    """Joint bilateral upsampling (Kopf et al. 2007): taps x taps model pixels around each frame pixel,
    bilinear spatial weights times a Gaussian of the colour difference (sigma, colours 0..1)."""

    def run(image: np.ndarray, model_alpha: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        mh, mw = model_alpha.shape
        small = _small_frame(image, model_alpha.shape).astype(np.float32) / 255
        guide = image.astype(np.float32) / 255
        fy, fx = (np.arange(h) + 0.5) * mh / h - 0.5, (np.arange(w) + 0.5) * mw / w - 0.5
        y0, x0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
        half = taps // 2
        num = np.zeros((h, w), np.float32)
        den = np.zeros((h, w), np.float32)
        for dy in range(1 - half, half + 1):
            for dx in range(1 - half, half + 1):
                ys, xs = np.clip(y0 + dy, 0, mh - 1), np.clip(x0 + dx, 0, mw - 1)
                wy = np.maximum(0, 1 - np.abs(fy - (y0 + dy)) / half)
                wx = np.maximum(0, 1 - np.abs(fx - (x0 + dx)) / half)
                colour = ((guide - small[ys][:, xs]) ** 2).sum(-1)
                weight = (wy[:, None] * wx[None, :]).astype(np.float32) * np.exp(-colour / (2 * sigma**2))
                num += weight * model_alpha[ys][:, xs]
                den += weight
        return num / np.maximum(den, 1e-8)

    return run


def _closed_form_prior(prior_fn: Callable, band: int, weight: float, iterations: int) -> Callable:
    """Matting Laplacian with a soft prior: refine_alpha in a band of +-band pixels around prior_fn's edge."""

    def run(image: np.ndarray, model_alpha: np.ndarray) -> np.ndarray:
        import edgematte

        prior = np.rint(prior_fn(image, model_alpha) * 255).astype(np.uint8)
        trimap = edgematte.make_trimap(prior, 2 * band + 1, 1)
        return edgematte.refine_alpha(image, trimap, prior=prior, prior_weight=weight, iterations=(),
                                      final_iterations=iterations, threads=1)

    return run


def _hard_trimap_refine(image: np.ndarray, model_alpha: np.ndarray) -> np.ndarray:
    """The previous "full": make_trimap (7x7, 3 iterations) of the upsampled alpha, refine_alpha's defaults."""
    import edgematte

    trimap = edgematte.make_trimap(np.rint(_upsampled(image, model_alpha) * 255).astype(np.uint8))
    return edgematte.refine_alpha(image, trimap, threads=1)


#: every candidate measured for the real-time and the full refinement (the modes run in the Pipeline)
LOWRES_CANDIDATES: Dict[str, Callable] = {
    "fast guided filter at 1/2 model size, r2 m1 eps1e-5 (= fast)": _fgf(2, 1, 1e-5, scale=2),
    "fast guided filter at 1/2 model size, r2 m1 eps1e-5, no clamp": _fgf(2, 1, 1e-5, -1, scale=2),
    "fast guided filter at 1/2 model size, r1 m0 eps1e-5": _fgf(1, 0, 1e-5, scale=2),
    "fast guided filter at 1/4 model size, r1 m1 eps1e-5": _fgf(1, 1, 1e-5, scale=4),
    "fast guided filter at model size, r3 m1 eps1e-5": _fgf(3, 1, 1e-5),
    "fast guided filter at model size, r2 m2 eps1e-4": _fgf(2, 2, 1e-4),
    "fast guided filter at model size, r1 m1 eps1e-3": _fgf(1, 1, 1e-3),
    "guided filter at full resolution r8 eps1e-3": _guided_full(8, 1e-3),
    "joint bilateral upsampling 2x2 sigma 0.1": _joint_bilateral(0.1, 2),
    "joint bilateral upsampling 4x4 sigma 0.05": _joint_bilateral(0.05, 4),
    "matting Laplacian, soft prior = upsampled alpha (band 5, 50 it)": _closed_form_prior(_upsampled, 5, 3e-4, 50),
    "matting Laplacian, soft prior = fast, band 2, 30 it": _closed_form_prior(_fgf(2, 1, 1e-5, scale=2), 2, 3e-4, 30),
    "matting Laplacian, soft prior = fast, band 3, 60 it": _closed_form_prior(_fgf(2, 1, 1e-5, scale=2), 3, 3e-4, 60),
    "matting Laplacian, soft prior = fast, band 8, 50 it": _closed_form_prior(_fgf(2, 1, 1e-5, scale=2), 8, 3e-4, 50),
    "previous full: hard trimap (7x7, 3 it) + refine_alpha": _hard_trimap_refine,
}


def lowres_suite(items, repeat: int, candidates: bool, size: int = 256) -> List[str]:
    """The low-resolution-segmenter benchmark: markdown lines, metrics over the whole image."""
    from edgematte.pipeline import Pipeline

    results: Dict[str, List[Dict[str, float]]] = {}
    for item in items:
        image, gt = item["image"], item["gt"]
        everywhere = np.ones(gt.shape, bool)
        model_alpha = lowres_alpha(gt, size)
        methods: Dict[str, Callable] = {}
        for mode in ("off", "fast", "full"):
            pipeline = Pipeline(LowResSegmenter(model_alpha), refine=mode, threads=1)
            methods[mode] = lambda pipeline=pipeline: pipeline.process(image).alpha.astype(np.float32) / 255
        if candidates:
            for name, fn in LOWRES_CANDIDATES.items():
                methods[name] = lambda fn=fn: fn(image, model_alpha)
        for name, fn in methods.items():
            slow = name not in ("off", "fast", "full")
            alpha, seconds = timed(fn, repeat=1 if slow else repeat, warmup=0 if slow else 1)
            row = {metric: f(alpha, gt, everywhere) for metric, f in METRICS.items()}
            row["ms/MP"] = seconds * 1e3 / (gt.size / 1e6)
            results.setdefault(name, []).append(row)
            print(f"{item['name']} lowres {name:60s} SAD {row['SAD']:7.2f}  {row['ms/MP']:8.1f} ms/MP", flush=True)
    off = np.mean([r["SAD"] for r in results["off"]])
    rows = []
    for name, per in results.items():
        mean = {k: np.mean([r[k] for r in per]) for k in per[0]}
        rows.append([name] + [f"{mean[k]:.2f}" for k in METRICS]
                    + [f"{mean['SAD'] / off:.3f}", f"{np.median([r['ms/MP'] for r in per]):.1f}"])
    fast = np.mean([r["SAD"] for r in results["fast"]]) / off
    full = np.mean([r["SAD"] for r in results["full"]]) / off
    return [
        "## Low-resolution segmenter (alphamatting.com low-res training set)",
        "",
        f"{len(items)} images. Model alpha: GT shrunk to {size}x{size} (INTER_AREA), > 0.5, Gaussian sigma 1 model "
        "pixel, returned by a Backend stand-in so that the real Pipeline runs every other stage. Metrics over the "
        "whole image, means over images; ms/MP: median over images of the time per megapixel, 1 thread "
        "(modes: Pipeline.process without composite, median of runs after a warm-up; candidates: one run, "
        "NumPy/OpenCV prototypes except the guided-filter kernel rows).",
        "",
        table(["method", "SAD", "MSE x1e3", "Grad", "Conn", "SAD / off", "ms/MP"], rows),
        "",
        f"fast SAD = {fast:.3f} x off (goal <= 0.80); full SAD = {full:.3f} x off (goal <= 0.70).",
    ]


# ---------------------------------------------------------------- temporal stability (video, no ground truth)
SHARED = REPO.parent / "shared"


def portraits_report(portraits: Path, weights: Path, picture: Optional[Path]) -> str:
    """Markdown: agreement between RVM and the selfie pipeline on photos without ground truth."""
    import cv2
    from temporal import RVM_WEIGHTS, edge_band

    import edgematte

    os.environ.setdefault("EDGEMATTE_WEIGHTS", str(weights))
    rvm = weights / RVM_WEIGHTS
    photos = sorted(portraits.glob("*.jpg"))
    models = {
        "RVM": edgematte.Matter(rvm, backend="ort-cpu"),
        "selfie full": edgematte.Matter("selfie", backend="ort-cpu", refine="full"),
        "selfie fast": edgematte.Matter("selfie", backend="ort-cpu", refine="fast"),
    }
    alphas: Dict[str, List[np.ndarray]] = {name: [] for name in models}
    for path in photos:
        image = cv2.imread(str(path))
        for name, matter in models.items():
            matter.reset()  # a photo is a first frame
            alphas[name].append(matter.process(image).alpha.astype(np.float32) / 255)
    rows = []
    names = list(models)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            sads = [np.abs(x - y).sum() / 1000 for x, y in zip(alphas[a], alphas[b])]
            bands = [np.abs(x - y)[edge_band(np.rint(x * 255).astype(np.uint8))].mean() * 255
                     for x, y in zip(alphas[a], alphas[b])]
            rows.append([f"{a} vs {b}", f"{np.mean(sads):.1f}", f"{np.mean(bands):.1f}"])
    if picture is not None:
        tiles = []
        for path, rvm_alpha, selfie_alpha in list(zip(photos, alphas["RVM"], alphas["selfie fast"]))[:3]:
            image = cv2.imread(str(path))
            tile = [image] + [edgematte.composite(image, a, GREEN) for a in (selfie_alpha, rvm_alpha)]
            tiles.append(cv2.resize(np.hstack(tile), None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA))
        width = max(t.shape[1] for t in tiles)
        cv2.imwrite(str(picture), np.vstack([cv2.copyMakeBorder(t, 0, 0, 0, width - t.shape[1], cv2.BORDER_CONSTANT)
                                             for t in tiles]))
    for matter in models.values():
        matter.close()
    return "\n".join([
        "## Photos without ground truth: agreement between models",
        "",
        f"{len(photos)} portraits ({portraits.name}); each photo is a first frame (RVM states reset). "
        "SAD in thousands (alpha 0..1, whole image); edge band: mean |difference| in levels where the first "
        "model's alpha is soft (9..246), dilated 9x9 (bench/temporal.py's band).",
        "",
        table(["pair", "SAD", "edge-band difference (levels)"], rows),
    ]) + "\n"


def _clip_alphas(matter, decoded: Dict[str, List[np.ndarray]]) -> Dict[str, List[np.ndarray]]:
    """Every clip's alphas through ``matter``, frames in order (states reset per clip)."""
    out = {}
    for name, frames in decoded.items():
        matter.reset()
        out[name] = [matter.process(f).alpha.copy() for f in frames]
    return out


def precision_report(variants: Dict[str, Path], videos: Path, weights: Path, portraits: Path) -> str:
    """Markdown: each INT8 graph (``{"selfie"|"rvm": path}``) against its FP32 original, through Matter.

    Flicker and pops on the shared clips (as ``--temporal``); alpha parity (|INT8 - FP32| in levels, 99th
    percentile over every pixel of every clip frame) through the pipeline, each carrying its own states,
    beside the FP32 graph against itself on the frames with +-1 level of noise (a recurrent network's
    floor for that figure); for RVM also one step from the same states (edgematte.export.int8.rvm_parity);
    portraits: SAD (thousands, alpha 0..1) of INT8 and of the noisy FP32 against FP32 on the P3M photos,
    and against the ground truth of the lemur photo; ms/frame through Matter (all cores).
    """
    import temporal

    import edgematte
    from edgematte.export.int8 import _frames, _session, rvm_parity

    os.environ.setdefault("EDGEMATTE_WEIGHTS", str(weights))
    originals = {"selfie": "selfie", "rvm": weights / temporal.RVM_WEIGHTS}
    clips = temporal.clips(videos)
    decoded = {p.name: temporal.read_clip(p) for p in clips}
    motion = {name: temporal.picture_motion(frames) for name, frames in decoded.items()}
    rng = np.random.default_rng(0)
    noisy = {n: [np.clip(f.astype(np.int16) + rng.integers(-1, 2, f.shape), 0, 255).astype(np.uint8) for f in fs]
             for n, fs in decoded.items()}
    photos = sorted(portraits.glob("p3m/*.jpg"))
    lemur = (cv2_read(portraits / "lemur.png"), cv2_read(portraits / "lemur_alpha.png", grey=True))
    rows = []
    for kind, path in variants.items():
        results = {}
        for label, model in (("FP32", originals[kind]), ("INT8", path)):
            start = time.perf_counter()
            with edgematte.Matter(model, backend="ort-cpu") as matter:
                alphas = _clip_alphas(matter, decoded)
                seconds = time.perf_counter() - start
                figures = temporal.Figures()
                for name in decoded:
                    figures += temporal.clip_figures(alphas[name], motion[name])
                stills = []
                for photo in photos + [None]:
                    matter.reset()
                    image = lemur[0] if photo is None else cv2_read(photo)
                    stills.append(matter.process(image).alpha.astype(np.float32) / 255)
                floor = _clip_alphas(matter, noisy) if label == "FP32" else None
                floor_stills = None
                if label == "FP32":
                    floor_stills = []
                    for photo in photos:
                        matter.reset()
                        image = cv2_read(photo)
                        floor_stills.append(matter.process(np.clip(image.astype(np.int16) + rng.integers(
                            -1, 2, image.shape), 0, 255).astype(np.uint8)).alpha.astype(np.float32) / 255)
            results[label] = dict(alphas=alphas, stills=stills, floor=floor, floor_stills=floor_stills,
                                  flicker=figures.flicker, pops=100 * figures.pops,
                                  ms=1e3 * seconds / sum(len(f) for f in decoded.values()))
        fp, q = results["FP32"], results["INT8"]

        def p99(a: Dict[str, List[np.ndarray]], b: Dict[str, List[np.ndarray]]) -> float:
            d = np.concatenate([np.abs(x.astype(np.int16) - y).ravel() for n in a for x, y in zip(a[n], b[n])])
            return float(np.percentile(d, 99))

        def portrait_sad(stills: List[np.ndarray]) -> float:
            return float(np.mean([np.abs(x - y).sum() / 1000 for x, y in zip(stills, fp["stills"][:len(photos)])]))

        gt = lemur[1].astype(np.float32) / 255
        step = ""
        if kind == "rvm":
            fp32, int8 = _session(os.fspath(originals[kind]), 0), _session(os.fspath(path), 0)
            step_levels, _ = rvm_parity(fp32, int8, [_frames(c, 32) for c in clips if c.suffix == ".mkv"])
            step = f"{step_levels[0]:.1f}"
        for label, r in (("FP32", fp), ("INT8", q)):
            rows.append([
                f"{kind} {label}", f"{r['flicker']:.2f}", f"{r['pops']:.1f}%",
                (f"{p99(fp['alphas'], fp['floor']):.1f} (floor)" if label == "FP32"
                 else f"{p99(fp['alphas'], q['alphas']):.1f}"),
                "" if label == "FP32" else step,
                f"{portrait_sad(fp['floor_stills']):.2f} (floor)" if label == "FP32" else f"{portrait_sad(q['stills']):.2f}",
                f"{np.abs(r['stills'][-1] - gt).sum() / 1000:.2f}", f"{r['ms']:.0f}",
            ])
        print(rows[-2], rows[-1], flush=True)
    return "\n".join([
        "## INT8 against FP32 (reduced precision on the CPU)",
        "",
        f"{len(decoded)} clips, {sum(len(f) for f in decoded.values())} frames; {len(photos)} P3M portraits; git "
        f"{git_sha()}. INT8: `edgematte export selfie|rvm --int8 --calibration ../shared/data/videos` "
        "(edgematte/export/int8.py). Flicker and pops as in the temporal table. Parity: |INT8 - FP32| alpha in "
        "levels, 99th percentile over every pixel of every clip frame, each graph carrying its own states; the "
        "FP32 row's figure is FP32 against itself with +-1 level of noise on the frames (the floor of a "
        "recurrent network); RVM one step: INT8 from FP32's inputs and states of each frame (odd frames of the "
        "first 32 of each .mkv clip). Portraits: mean SAD (thousands) against the FP32 matte (FP32 row: the "
        "same noise). Lemur: SAD against its ground truth. ms/frame: through Matter, all cores, this run.",
        "",
        table(["model", "flicker", "pops", "parity p99 (carried)", "parity p99 (one step)", "portrait SAD vs FP32",
               "lemur SAD vs GT", "ms/frame"], rows),
    ]) + "\n"


def cv2_read(path: Path, grey: bool = False) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(path)
    return image


def precision_main(args) -> int:
    """``--int8 KIND=PATH``: the INT8 table, written to ``<out>/int8.md``."""
    variants = {}
    for item in args.int8:
        kind, _, path = item.partition("=")
        if kind not in ("selfie", "rvm") or not path:
            print(f"--int8 {item!r}: expected selfie=PATH or rvm=PATH", file=sys.stderr)
            return 2
        variants[kind] = Path(path)
    report = precision_report(variants, SHARED / "data" / "videos", SHARED / "weights", SHARED / "data" / "portraits")
    report += "\nCommand: `python bench/quality.py " + " ".join(sys.argv[1:]) + "`\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "int8.md").write_text(report)
    print(report)
    return 0


def temporal_main(args) -> int:
    """``--temporal``: the temporal table (bench/temporal.py; and ``--portraits``), written to ``<out>/temporal.md``."""
    import temporal

    weights = SHARED / "weights"
    os.environ.setdefault("EDGEMATTE_WEIGHTS", str(weights))
    videos = SHARED / "data" / "videos"
    if args.rvm_ratios:
        report = temporal.ratio_report(videos, weights, args.limit or 45) + "\n" + temporal.ratio_timing(videos, weights)
    elif args.per_clip:
        report = temporal.clip_report(videos, weights, args.limit)
    else:
        report = temporal.report(videos, weights, temporal.configs(weights), args.limit)
        if args.picture is not None and not args.portraits:
            report += "\nPicture `" + str(args.picture) + "`: " + temporal.picture(videos, args.picture) + ".\n"
    if args.portraits:
        report += "\n" + portraits_report(SHARED / "data" / "portraits" / "p3m", weights, args.picture)
    report += "\nCommand: `python bench/quality.py " + " ".join(sys.argv[1:]) + "`\n"
    args.out.mkdir(parents=True, exist_ok=True)
    name = "rvm_ratios.md" if args.rvm_ratios else "temporal_clips.md" if args.per_clip else "temporal.md"
    (args.out / name).write_text(report)
    print(report)
    return 0


# ---------------------------------------------------------------- report
def table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", default=None, help="refine_alpha CG schedule, e.g. 80,12 (default: its own)")
    parser.add_argument("--final-iterations", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of refine_alpha per image (median)")
    parser.add_argument("--trimaps", default="trimap1,trimap2,seed")
    parser.add_argument("--no-pymatting", action="store_true", help="skip the closed-form comparison")
    parser.add_argument("--limit", type=int, default=0,
                        help="use only the first N images, or with --temporal the first N frames of each clip (smoke runs)")
    parser.add_argument("--suites", default="lowres,trimap", help="lowres (segmenter benchmark), trimap (+ foreground)")
    parser.add_argument("--no-candidates", action="store_true", help="lowres: only the off/fast/full modes")
    parser.add_argument("--temporal", action="store_true", help="only the temporal table (flicker, pops, lag) on ../shared/data/videos")
    parser.add_argument("--rvm-ratios", action="store_true",
                        help="with --temporal: RVM's network input size against flicker, SAD and time (rvm_ratios.md)")
    parser.add_argument("--per-clip", action="store_true",
                        help="with --temporal: the defaults clip by clip, and RVM's worst held-out clip at other "
                             "ratios (temporal_clips.md)")
    parser.add_argument("--portraits", action="store_true", help="with --temporal: model agreement on the P3M photos")
    parser.add_argument("--picture", type=Path, default=None,
                        help="with --portraits: write a comparison picture here; with --temporal alone: three frames "
                        "of a moving arm, unsmoothed, EMA 0.5 and the default")
    parser.add_argument("--int8", action="append", default=[], metavar="KIND=PATH",
                        help="only the INT8 table: selfie=PATH and/or rvm=PATH (from edgematte export --int8)")
    args = parser.parse_args(argv)
    if args.int8:
        return precision_main(args)
    if args.temporal:
        return temporal_main(args)
    if not (args.data / "input").is_dir():
        print(f"data folder {args.data} has no input/; pass --data", file=sys.stderr)
        return 2

    import cv2

    import edgematte

    cv2.setNumThreads(args.threads)
    items = load(args.data)
    if args.limit:
        items = items[: args.limit]
    lines: List[str] = []
    suites = args.suites.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    if "lowres" in suites:
        lines += lowres_suite(items, args.repeat, not args.no_candidates) + [""]
    if "trimap" in suites:
        options = {"threads": args.threads, "final_iterations": args.final_iterations}
        if args.iterations is not None:
            options["iterations"] = tuple(int(n) for n in args.iterations.split(",") if n)

        def refine(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
            return edgematte.refine_alpha(image, trimap, **options)

        methods = {"baseline": baseline, "refine": refine}
        if not args.no_pymatting:
            small = (items[0]["image"].shape[1] // 8, items[0]["image"].shape[0] // 8)  # numba JIT warm-up
            closed_form(cv2.resize(items[0]["image"], small, interpolation=cv2.INTER_AREA),
                        cv2.resize(items[0]["trimap1"], small, interpolation=cv2.INTER_NEAREST))
            methods["closed-form"] = closed_form
        trimaps = args.trimaps.split(",")
        results = {}  # (trimap, method) -> per-image dicts
        for item in items:
            for tri_name in trimaps:
                tri = item[tri_name]
                region = (tri != 0) & (tri != 255)
                for method, fn in methods.items():
                    repeat, warmup = (args.repeat, 1) if method == "refine" else (1, 0)
                    alpha, seconds = timed(fn, item["image"], tri, repeat=repeat, warmup=warmup)
                    row = {name: metric(alpha, item["gt"], region) for name, metric in METRICS.items()}
                    row["time"] = seconds
                    results.setdefault((tri_name, method), []).append(row)
                    print(f"{item['name']} {tri_name:8s} {method:12s} SAD {row['SAD']:7.2f}  {seconds * 1e3:8.1f} ms",
                          flush=True)

        lines += [
            "## Alpha quality (alphamatting.com low-res training set)",
            "",
            f"{len(items)} images, mean {np.mean([it['gt'].size for it in items]) / 1e6:.2f} MP; "
            f"means over images; metrics over each trimap's unknown region; "
            f"threads = {args.threads}; refine_alpha options {options}; git {git_sha()}.",
            "",
        ]
        rows = []
        for tri_name in trimaps:
            ref_time = None
            if (tri_name, "closed-form") in results:
                ref_time = np.array([r["time"] for r in results[(tri_name, "closed-form")]])
            for method in methods:
                per = results[(tri_name, method)]
                mean = {k: np.mean([r[k] for r in per]) for k in per[0]}
                times = np.array([r["time"] for r in per])
                speed = ""
                if ref_time is not None and method != "baseline":
                    speed = f"{ref_time.sum() / times.sum():.0f}x (median {np.median(ref_time / times):.0f}x)"
                rows.append(
                    [tri_name, method]
                    + [f"{mean[k]:.2f}" for k in METRICS]
                    + ["" if method == "baseline" else f"{1e3 * np.median(times):.1f}", speed]
                )
        lines.append(table(["trimap", "method", "SAD", "MSE x1e3", "Grad", "Conn", "median ms", "speed vs closed-form"],
                           rows))
        if ("trimap1", "closed-form") in results:
            ours = np.mean([r["SAD"] for r in results[("trimap1", "refine")]])
            cf = np.mean([r["SAD"] for r in results[("trimap1", "closed-form")]])
            lines += ["", f"Trimap1: refine mean SAD = {ours / cf:.2f} x closed-form's (goal <= 1.5x)."]
        per_image = [[it["name"]] + [f"{results[(t, m)][k]['SAD']:.2f}" for t in trimaps for m in methods]
                     for k, it in enumerate(items)]
        lines += ["", "<details><summary>SAD per image</summary>", "",
                  table(["image"] + [f"{t} {m}" for t in trimaps for m in methods], per_image), "", "</details>"]

        args.out.mkdir(parents=True, exist_ok=True)
        if not args.no_pymatting:
            fg = foreground_errors(items, refine)
            fg_rows = [[label, f"{np.mean(v):.2f}", f"{1e3 * np.median(fg[label + ' time']):.1f}" if label + " time" in fg
                        else ""] for label, v in fg.items() if not label.endswith(" time")]
            from edgematte.refine import FAST

            ours = np.mean(fg[f"fast foreground (blur-fusion at 128x128, radius {FAST.foreground_radius}, then "
                              f"{FAST.foreground_small_radius})"])
            ml = np.mean(fg["pymatting estimate_foreground_ml"])
            lines += [
                "",
                "## Foreground colour (composite error, 8-bit levels, pixels with 0 < GT alpha < 1)",
                "",
                table(["foreground", "mean abs error", "median ms"], fg_rows),
                "",
                f"fast foreground (the pipeline's: radii {FAST.foreground_radius}, {FAST.foreground_small_radius}, "
                f"most probable F) = {ours / ml:.3f} x pymatting's multilevel estimate (goal <= 1.5x).",
            ]
    crop = hair_crop(items, args.out / "hair_crop.png")
    lines += [
        "",
        f"Hair edge, before/after (`hair_crop.png`, {crop}, 2x nearest): input | off (bilinear model alpha, the "
        "frame's colours) | fast (guided filter + its foreground) | full (closed form with the fast alpha as "
        "prior + estimate_foreground) | ground-truth alpha, the frame's colours; 256x256 segmenter, on green.",
    ]
    lines += ["", "Command: `python bench/quality.py " + " ".join(argv if argv is not None else sys.argv[1:]) + "`"]
    report = "\n".join(lines) + "\n"
    (args.out / "quality.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
