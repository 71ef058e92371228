"""The per-frame pipeline: preprocess -> model -> upsample -> trimap -> refine -> composite.

One function, :meth:`Pipeline.process`, takes a frame through every stage, composite
included, and returns a finished :class:`Result`. Frames are uint8 HxWx3 BGR (OpenCV order),
already checked by the caller (:class:`edgematte.Matter` checks them once at its boundary).
Every stage writes into buffers allocated once per frame size and calling thread and reused,
so the steady state allocates nothing frame-sized: the arrays in a :class:`Result` are
**overwritten by the next call from the same thread** (copy them to keep them).

Threads: a Pipeline serves one call at a time (a lock; a second thread waits). Each thread
gets its own buffers and temporal state, so a result is never overwritten by another thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from .background import Background
from .errors import InputError
from .kernels import native, threads_now, trusted
from .refine import FAST, FULL, solve_band
from .runtime.base import Backend
from .validate import check_threads, check_trimap_params

__all__ = ["TrimapConfig", "TemporalConfig", "Result", "Pipeline", "Background", "REFINE_MODES", "NO_COMPOSITE"]

log = logging.getLogger(__name__)

#: refinement of a segmentation model's alpha: "off" (upsampled model alpha, no trimap), "fast"
#: (joint upsampling guided by the frame, known regions exactly 0/255, background colour removed
#: from the edge, composite: one full-resolution pass, real time), "full" (trimap; the band solved
#: by closed-form matting with the "fast" alpha as soft prior: best edges, for photos)
REFINE_MODES = ("off", "fast", "full")

#: ``Pipeline.process``'s default ``background``: stop after the alpha, make no composite
NO_COMPOSITE = "no-composite"


@dataclass(frozen=True)
class TrimapConfig:
    """refine="full": ``make_trimap`` parameters that turn the "fast" alpha (uint8 0..255) into the
    band that closed-form matting solves (default: 2 pixels either side of the edge; measured
    best of 2..5 on bench/quality.py's low-resolution-segmenter benchmark)."""

    kernel_size: int = 5
    iterations: int = 1
    fg_threshold: int = 254
    bg_threshold: int = 1

    def __post_init__(self) -> None:  # checked here once: the pipeline calls the trusted kernel
        check_trimap_params(self.kernel_size, self.iterations, self.fg_threshold, self.bg_threshold)


@dataclass(frozen=True)
class TemporalConfig:
    """Exponential moving average of the model alpha, reset on scene cuts.

    ``alpha_t = strength * alpha_{t-1} + (1 - strength) * model_t`` at the model's resolution.
    A cut is a mean absolute difference above ``cut_threshold`` (0..1 scale) between the
    model-size input frames of consecutive calls; the average then restarts from the new frame.
    """

    strength: float = 0.5
    cut_threshold: float = 0.12

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise InputError(f"received temporal strength {self.strength!r}; expected 0 <= strength < 1")
        if not 0.0 < self.cut_threshold <= 1.0:
            raise InputError(f"received cut_threshold {self.cut_threshold!r}; expected 0 < cut_threshold <= 1")


@dataclass(frozen=True)
class Result:
    """One processed frame, complete when returned. Arrays are the pipeline's buffers, valid
    until the same thread's next call.

    ``alpha`` uint8 HxW 0..255; ``trimap`` uint8 HxW {0,128,255} for segmentation models
    with refine="full", else None; ``foreground`` uint8 HxWx3 BGR, the colour to composite under
    the alpha with the old background's colour removed from the edge, when the pipeline
    estimates one (a background given with refine "fast" or "full", or RVM; else None: the
    frame is used);
    ``composite`` uint8 HxWx3 BGR (HxWx4 BGRA for a None background) when a background was
    given; ``timings`` milliseconds per stage plus ``total``; ``cut`` True when temporal
    smoothing restarted on this frame.
    """

    alpha: np.ndarray
    trimap: Optional[np.ndarray] = None
    foreground: Optional[np.ndarray] = None
    composite: Optional[np.ndarray] = None
    timings: Dict[str, float] = field(default_factory=dict)
    cut: bool = False


class _Buffers:
    """Every array the pipeline writes, for one frame size."""

    def __init__(self, frame_hw: Tuple[int, int], model_hw: Tuple[int, int]) -> None:
        h, w = frame_hw
        mh, mw = model_hw
        self.frame_hw = frame_hw
        # downscale: exact 2x box filters while both sides stay >= 2x the model's (or, when that
        # never holds, on the one side that does), then one bilinear resize; see _downscale
        self.halves = []
        hh, hw = h, w
        while hh // 2 >= mh and hw // 2 >= mw:
            hh, hw = hh // 2, hw // 2
            self.halves.append(np.empty((hh, hw, 3), np.uint8))
        one_side = not self.halves
        while one_side and (hh // 2 >= mh or hw // 2 >= mw):
            hh, hw = (hh // 2 if hh // 2 >= mh else hh), (hw // 2 if hw // 2 >= mw else hw)
            self.halves.append(np.empty((hh, hw, 3), np.uint8))
        self.small = np.empty((mh, mw, 3), np.uint8)  # resized BGR frame
        self.previous = np.empty((mh, mw, 3), np.uint8)  # last small frame, for the cut detector
        self.diff = np.empty((mh, mw, 3), np.uint8)
        self.ema = np.empty((mh, mw), np.float32)
        self.small_alpha = np.empty((mh, mw), np.uint8)
        # "fast": the fitting level (1/FAST.scale of the model's size), its coefficients and blurs
        fh, fw = max(1, mh // FAST.scale), max(1, mw // FAST.scale)
        self.fit_image = np.empty((fh, fw, 3), np.uint8)
        self.fit_alpha = np.empty((fh, fw), np.float32)
        self.coef = np.empty((4, fh, fw), np.float32)
        self.blurs = np.empty((6, fh, fw), np.float32)
        self.fit_scratch: Optional[np.ndarray] = None  # sized by the kernel on first use
        self.foreground = np.empty((h, w, 3), np.uint8)
        self.raw_alpha = np.empty((h, w), np.uint8)  # upsampled model alpha
        self.trimap = np.empty((h, w), np.uint8)
        self.alpha = np.empty((h, w), np.uint8)  # final alpha
        self.scratch = np.empty((h, w), np.uint8)
        self.out3 = np.empty((h, w, 3), np.uint8)
        self.out4 = np.empty((h, w, 4), np.uint8)
        self.background = np.empty((h, w, 3), np.uint8)
        self.background_key: Any = None
        self.blur_small = np.empty((max(1, h // 8), max(1, w // 8), 3), np.uint8)
        self.has_previous = False
        self.last_alpha: Optional[np.ndarray] = None  # every > 1: the model-size alpha the frames between reuse
        self.since_model = 0


class Pipeline:
    """Segmentation or matting model plus the classic stages, with reused buffers.

    ``backend`` is an opened :class:`~edgematte.runtime.base.Backend` taking ``src``
    [1,3,h,w] RGB float32 0..1 and returning ``alpha`` [1,1,h,w] float32 0..1.
    ``task`` "segmentation" refines the model alpha (:data:`REFINE_MODES`); "matting" uses
    the model alpha as is. ``refine``: one of :data:`REFINE_MODES`, or True ("full") /
    False ("off"). ``input_size`` (h, w) is needed only when the model's input shape is dynamic.

    A RobustVideoMatting graph (:func:`edgematte.models.rvm.is_rvm`) runs as its own model step
    (:class:`~edgematte.models.rvm.RvmModel`): alpha and foreground colour straight from the
    model, no trimap or refinement, ``downsample_ratio`` None (automatic) or in (0, 1]; its
    recurrent state needs the frames of one stream in order. Other models refuse ``downsample_ratio``.

    ``every`` N > 1 (segmentation models): the model runs on every Nth frame of the calling thread
    (and on the first after :meth:`reset`, a frame-size change or, with temporal smoothing, a scene
    cut); the frames between reuse its last model-size alpha and run only the rest of the stages
    ("fast": the guided filter fitted and applied on the new frame, so the edge follows the picture).
    """

    def __init__(
        self,
        backend: Backend,
        *,
        task: str = "segmentation",
        refine: Union[bool, str] = True,
        trimap: Optional[TrimapConfig] = None,
        temporal: Optional[TemporalConfig] = None,
        input_size: Optional[Tuple[int, int]] = None,
        threads: Optional[int] = None,
        downsample_ratio: Optional[float] = None,
        every: int = 1,
    ) -> None:
        _check_task(task)
        self.every = check_every(every)
        self.backend = backend
        self.task = task
        self.refine = _refine_mode(refine)
        self.trimap_config = trimap if trimap is not None else TrimapConfig()
        self.temporal = temporal
        self.threads = check_threads(threads)
        self._kernels = trusted("cpu")  # arguments are checked once, here and at Matter's boundary
        self.rvm = _recurrent_step(backend, downsample_ratio, temporal, threads)
        if self.rvm is not None and self.every > 1:
            raise InputError(f"received every={every!r} for a RobustVideoMatting model; expected every=1 (the "
                             "frames between model runs are refitted by the segmentation models' refinement)")
        if self.rvm is not None:  # RobustVideoMatting: its own model step, see _process_recurrent
            self.model_hw = None
            self._lock = threading.Lock()
            self._local = threading.local()
            return
        self.input_name, self.output_name, self.model_hw = _model_io(backend, input_size)
        # model input [1,3,h,w] RGB float32 0..1; a backend's own (e.g. page-locked) input buffer saves a copy
        src_shape = (1, 3) + self.model_hw
        input_buffer = getattr(backend, "input_buffer", None)
        self._src = input_buffer(self.input_name, src_shape) if input_buffer else np.empty(src_shape, np.float32)
        self._lock = threading.Lock()
        self._local = threading.local()  # per thread: .buffers

    def reset(self) -> None:
        """Forget the calling thread's temporal state (call between unrelated clips)."""
        b = getattr(self._local, "buffers", None)
        if b is not None:
            b.has_previous = False
            b.last_alpha = None
        if self.rvm is not None:
            self.rvm.reset()

    # -- the hot path ----------------------------------------------------------------
    def process(
        self, frame: np.ndarray, background: Any = NO_COMPOSITE, *, input_alpha: Optional[np.ndarray] = None,
        keep_foreground: bool = True,
    ) -> Result:
        """Every stage for one checked uint8 HxWx3 BGR frame -> a finished Result.

        ``background`` (parsed by :func:`edgematte.background.parse_background`): a uint8 HxWx3
        BGR image (resized to cover, cached while the same array object is passed), a (B, G, R)
        colour, ``"blur"``, or None for BGRA with the alpha as 4th channel. The default,
        :data:`NO_COMPOSITE`, stops after the alpha. ``input_alpha`` (uint8 HxW, the frame's own
        transparency) multiplies into the alpha. ``keep_foreground=False``: only the composite is
        wanted, so "fast" does not write ``Result.foreground`` (None; the composite is the same),
        which saves a frame-sized write.
        """
        with self._lock:
            if self.rvm is not None:
                return self._process_recurrent(frame, background, input_alpha)
            return self._process(frame, background, input_alpha, keep_foreground)

    def _process(self, frame: np.ndarray, background: Any, input_alpha: Optional[np.ndarray],
                 keep_foreground: bool = True) -> Result:
        import cv2

        timings: Dict[str, float] = {}
        t0 = tick = time.perf_counter()
        b = self._buffers_for(frame.shape[:2])
        mh, mw = self.model_hw

        _downscale(frame, b)
        cut = self._detect_cut(b)
        if model_due(b, self.every, cut):
            native("_guided").model_input(b.small, self._src[0])  # BGR HWC uint8 -> RGB CHW float32 0..1, one pass
            tick = _lap(timings, "preprocess", tick)

            alpha = self.backend.infer({self.input_name: self._src}, validate=False)[self.output_name]
            tick = _lap(timings, "model", tick)

            alpha = alpha.reshape(mh, mw)
            if self.temporal is not None:
                if cut or not b.has_previous:
                    np.copyto(b.ema, alpha)
                else:
                    s = self.temporal.strength
                    cv2.addWeighted(b.ema, s, alpha, 1.0 - s, 0.0, dst=b.ema)
                alpha = b.ema
                b.has_previous = True
            keep_model_alpha(b, alpha, self.every, np)
        else:
            alpha = b.last_alpha
            tick = _lap(timings, "preprocess", tick)
        trimap = foreground = composite = None
        if self.task == "segmentation" and self.refine == "fast" and input_alpha is None:
            # one full-resolution pass: upsample, refine, known-region clamp, foreground, composite
            bg = NO_COMPOSITE if background is NO_COMPOSITE else self._background(frame, background, b)
            final, foreground, composite = self._fast(frame, alpha, bg, b, keep_foreground)
            tick = _lap(timings, "refine", tick)
        else:
            if self.task == "segmentation" and self.refine != "off":
                # "fast" (with the frame's own alpha to apply) or "full"'s prior: the guided filter
                wants = "foreground" if self.refine == "fast" and background is not NO_COMPOSITE else NO_COMPOSITE
                final, foreground, _ = self._fast(frame, alpha, wants, b)
                tick = _lap(timings, "upsample", tick)
            else:
                cv2.convertScaleAbs(alpha, dst=b.small_alpha, alpha=255.0)  # rounds and saturates to 0..255
                h, w = b.frame_hw
                cv2.resize(b.small_alpha, (w, h), dst=b.raw_alpha, interpolation=cv2.INTER_LINEAR)
                final = b.raw_alpha
                tick = _lap(timings, "upsample", tick)
            if self.task == "segmentation" and self.refine == "full":
                c = self.trimap_config
                trimap = self._kernels.make_trimap(
                    final, c.kernel_size, c.iterations, c.fg_threshold, c.bg_threshold, b.trimap, self.threads
                )
                tick = _lap(timings, "trimap", tick)
                final = self._refine(frame, b)
                if background is not NO_COMPOSITE:
                    foreground = self._estimate_foreground(frame, final)
                tick = _lap(timings, "refine", tick)
            if input_alpha is not None:
                final = cv2.multiply(final, input_alpha, dst=b.alpha, scale=1.0 / 255.0)

            if background is not NO_COMPOSITE:
                bg = self._background(frame, background, b)
                out = b.out4 if bg is None else b.out3
                source = frame if foreground is None else foreground
                composite = self._kernels.composite(source, final, bg, out, self.threads)
                tick = _lap(timings, "composite", tick)

        timings["total"] = (tick - t0) * 1e3
        return Result(alpha=final, trimap=trimap, foreground=foreground, composite=composite, timings=timings, cut=cut)

    def _process_recurrent(self, frame: np.ndarray, background: Any, input_alpha: Optional[np.ndarray]) -> Result:
        """RVM: alpha and foreground from the model step, optional EMA, composite of the foreground."""
        import cv2

        timings: Dict[str, float] = {}
        t0 = tick = time.perf_counter()
        b = self._buffers_for(frame.shape[:2])
        alpha, foreground, cut = self.rvm.run(frame)
        tick = _lap(timings, "model", tick)

        if self.temporal is not None:  # on the full-size uint8 alpha: ema holds 0..255 here
            if cut or not b.has_previous:
                np.copyto(b.ema, alpha, casting="unsafe")
            else:
                s = self.temporal.strength
                cv2.addWeighted(b.ema, s, alpha, 1.0 - s, 0.0, dst=b.ema, dtype=cv2.CV_32F)
            b.has_previous = True
            cv2.convertScaleAbs(b.ema, dst=b.alpha)
            alpha = b.alpha
            tick = _lap(timings, "temporal", tick)
        if input_alpha is not None:
            alpha = cv2.multiply(alpha, input_alpha, dst=b.alpha, scale=1.0 / 255.0)

        composite = None
        if background is not NO_COMPOSITE:
            bg = self._background(frame, background, b)
            out = b.out4 if bg is None else b.out3
            composite = self._kernels.composite(foreground, alpha, bg, out, self.threads)
            tick = _lap(timings, "composite", tick)

        timings["total"] = (tick - t0) * 1e3
        return Result(alpha=alpha, foreground=foreground, composite=composite, timings=timings, cut=cut)

    # -- stages ----------------------------------------------------------------------
    def _fast(self, frame: np.ndarray, alpha: np.ndarray, background: Any, b: _Buffers, keep_foreground: bool = True):
        """"fast": (alpha, foreground or None, composite or None) from the model-size alpha.

        The fast guided filter is fitted at half the model's resolution (guide: the model-size
        frame, halved) and evaluated at the frame's in one native pass that also makes known
        regions exactly 0/255 and, with a background, removes the old background's colour from
        the edge (blur-fusion with its blurs at the fitting level) and composites.
        ``background`` "foreground": the foreground without a composite. Without
        ``keep_foreground`` the composite still uses the foreground colours, row by row.
        """
        guided = native("_guided")
        threads = threads_now(self.threads)
        fit_fast(b.small, alpha, b, threads, foreground=background is not NO_COMPOSITE)
        if background is NO_COMPOSITE:
            guided.guided_apply(b.coef, None, frame, b.alpha, None, None, None, None, threads)
            return b.alpha, None, None
        if isinstance(background, str):  # "foreground"
            guided.guided_apply(b.coef, b.blurs, frame, b.alpha, b.foreground, None, None, None, threads)
            return b.alpha, b.foreground, None
        image = background if isinstance(background, np.ndarray) else None
        colour = background if isinstance(background, tuple) else None
        out = b.out4 if background is None else b.out3
        foreground = b.foreground if keep_foreground else None
        guided.guided_apply(b.coef, b.blurs, frame, b.alpha, foreground, image, colour, out, threads)
        return b.alpha, foreground, out

    def _estimate_foreground(self, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
        from .refine import estimate_foreground

        return estimate_foreground(frame, alpha)

    def _refine(self, frame: np.ndarray, b: _Buffers) -> np.ndarray:
        """"full": the trimap's band solved by closed-form matting with the "fast" alpha (in
        ``b.alpha``) as soft prior and starting point, at 1/2 resolution then guided-upsampled
        (``FULL``); the result replaces ``b.alpha``.

        (``solve_band`` and ``estimate_foreground`` return new frame-sized arrays: the only
        full-size allocations per frame, in this mode only.)
        """
        import cv2

        cv2.convertScaleAbs(solve_full(frame, b.trimap, b.alpha, self.threads), dst=b.alpha, alpha=255.0)
        return b.alpha

    def _detect_cut(self, b: _Buffers) -> bool:
        """Scene cut: mean |small_t - small_{t-1}| / 255 above the threshold (only with temporal)."""
        if self.temporal is None:
            return False
        import cv2

        cut = False
        if b.has_previous:
            cv2.absdiff(b.small, b.previous, dst=b.diff)
            cut = sum(cv2.mean(b.diff)[:3]) / (3 * 255.0) > self.temporal.cut_threshold
        np.copyto(b.previous, b.small)
        return cut

    def _background(self, frame: np.ndarray, background: Background, b: _Buffers):
        """The parsed background as the composite kernel takes it: None, a colour or b.background."""
        import cv2

        if background is None or isinstance(background, tuple):
            return background
        if isinstance(background, str):  # "blur": the frame, blurred at 1/8 size and scaled back
            sh, sw = b.blur_small.shape[:2]
            cv2.resize(frame, (sw, sh), dst=b.blur_small, interpolation=cv2.INTER_AREA)
            cv2.GaussianBlur(b.blur_small, (0, 0), 2.0, dst=b.blur_small)
            h, w = b.frame_hw
            cv2.resize(b.blur_small, (w, h), dst=b.background, interpolation=cv2.INTER_LINEAR)
            b.background_key = None
            return b.background
        key = (id(background), background.shape)
        if b.background_key != key:
            _cover(background, b.background)
            b.background_key = key
            b.background_source = background  # keep it alive so its id stays unique
        return b.background

    def _buffers_for(self, frame_hw: Tuple[int, int]) -> _Buffers:
        b = getattr(self._local, "buffers", None)
        if b is None or b.frame_hw != tuple(frame_hw):
            log.debug("allocating pipeline buffers for %dx%d", frame_hw[1], frame_hw[0])
            b = self._local.buffers = _Buffers(tuple(frame_hw), self.model_hw or tuple(frame_hw))
        return b


# -- helpers -----------------------------------------------------------------------------
def fit_fast(small: np.ndarray, alpha: np.ndarray, b: Any, threads: int, *, foreground: bool) -> None:
    """The "fast" guided filter's fit, shared by both pipelines: ``small`` (uint8 mh x mw x 3 BGR) and
    the model ``alpha`` (float32 mh x mw, 0..1) area-averaged to the fitting level (``b.fit_image``,
    ``b.fit_alpha``), then the coefficients into ``b.coef`` and, with ``foreground``, the
    blur-fusion blurs into ``b.blurs``, side by side (``FAST`` settings; ``b.fit_scratch`` made on first use)."""
    import cv2

    guided = native("_guided")
    fh, fw = b.fit_alpha.shape
    cv2.resize(small, (fw, fh), dst=b.fit_image, interpolation=cv2.INTER_AREA)
    cv2.resize(alpha, (fw, fh), dst=b.fit_alpha, interpolation=cv2.INTER_AREA)
    if b.fit_scratch is None:  # for both fits at once
        radius = max(FAST.radius, FAST.mean_radius, FAST.foreground_radius, FAST.foreground_small_radius)
        b.fit_scratch = np.empty(2 * guided.scratch_size(fh, fw, radius), np.float32)
    guided.guided_fit(b.fit_image, b.fit_alpha, b.coef, FAST.radius, FAST.mean_radius, FAST.eps, FAST.known_radius,
                      b.blurs if foreground else None, FAST.foreground_radius, FAST.foreground_small_radius, threads,
                      b.fit_scratch)


def solve_full(frame: np.ndarray, trimap: np.ndarray, prior: np.ndarray, threads: int) -> np.ndarray:
    """The "full" solve, shared by both pipelines: ``trimap``'s band by closed form with ``prior``
    (uint8 HxW, the "fast" alpha) as soft prior (``FULL`` settings) -> float32 HxW 0..1 (a new array)."""
    return solve_band(frame, trimap, prior=prior, prior_weight=FULL.prior_weight, iterations=FULL.iterations,
                      final_iterations=FULL.final_iterations, threads=threads)


def check_every(every: Any) -> int:
    """``every``: run the model on every Nth frame, an int >= 1."""
    from .validate import check_int

    return check_int("every", every, 1, 1 << 16)


def model_due(b: Any, every: int, cut: bool) -> bool:
    """Whether this frame runs the model, shared by both pipelines: always with ``every`` 1; else on
    every ``every``-th frame of ``b`` and whenever ``b`` holds no model alpha or the scene cut."""
    if every == 1:
        return True
    due = b.last_alpha is None or cut or b.since_model + 1 >= every
    b.since_model = 0 if due else b.since_model + 1
    return due


def keep_model_alpha(b: Any, alpha: Any, every: int, xp: Any) -> None:
    """With ``every`` > 1, a copy of the model-size ``alpha`` in ``b.last_alpha`` for the frames between
    (a copy: the backend may reuse its output buffer, and another thread may run the model meanwhile)."""
    if every == 1:
        return
    if b.last_alpha is None or b.last_alpha.shape != alpha.shape or b.last_alpha.dtype != alpha.dtype:
        b.last_alpha = alpha.copy()
    else:
        xp.copyto(b.last_alpha, alpha)


def _lap(timings: Dict[str, float], stage: str, tick: float) -> float:
    now = time.perf_counter()
    timings[stage] = (now - tick) * 1e3
    return now


def _downscale(frame: np.ndarray, b: _Buffers) -> None:
    """``frame`` -> ``b.small``: exact 2x box filters while both sides stay >= 2x the model's
    (or on the one side that is, when the other never is), then bilinear to the model size.

    At exactly 2x, INTER_LINEAR samples midway between pixel pairs, which is the box filter,
    and runs ~2x faster than INTER_AREA; a direct INTER_AREA resize by a non-integer factor
    costs many times more (1280x720 -> 256x256: ~9 ms direct, ~0.3 ms this way; 640x360: one
    halving of the width only, ~4x faster than direct INTER_AREA), and a direct bilinear
    resize by more than 2x aliases.
    """
    import cv2

    src = frame
    for half in b.halves:
        hh, hw = half.shape[:2]
        sh, sw = (2 * hh if 2 * hh <= src.shape[0] else hh), (2 * hw if 2 * hw <= src.shape[1] else hw)
        cv2.resize(src[:sh, :sw], (hw, hh), dst=half, interpolation=cv2.INTER_LINEAR)
        src = half
    mh, mw = b.small.shape[:2]
    cv2.resize(src, (mw, mh), dst=b.small, interpolation=cv2.INTER_LINEAR)


def _check_task(task: Any) -> None:
    if task not in ("segmentation", "matting"):
        raise InputError(f"received task {task!r}; expected 'segmentation' or 'matting'")


def _refine_mode(refine: Any) -> str:
    if refine is True or refine is False:
        return "full" if refine else "off"
    if refine not in REFINE_MODES:
        raise InputError(f"received refine={refine!r}; expected True, False or one of {REFINE_MODES}")
    return refine


def _recurrent_step(backend: Backend, downsample_ratio: Optional[float], temporal: Optional[TemporalConfig],
                    threads: Optional[int]):
    """An RvmModel for a RobustVideoMatting graph, else None (and no downsample_ratio allowed)."""
    from .models.rvm import RvmModel, check_downsample_ratio, is_rvm

    ratio = check_downsample_ratio(downsample_ratio)
    if not is_rvm(backend.inputs, backend.outputs):
        if ratio is not None:
            raise InputError(
                f"received downsample_ratio={downsample_ratio!r} for a model with inputs "
                f"{[s.name for s in backend.inputs]}; expected it only for RobustVideoMatting models"
            )
        return None
    cut_threshold = temporal.cut_threshold if temporal is not None else TemporalConfig().cut_threshold
    return RvmModel(backend, downsample_ratio=ratio, cut_threshold=cut_threshold, threads=threads)


def _model_io(backend: Backend, input_size: Optional[Tuple[int, int]]) -> Tuple[str, str, Tuple[int, int]]:
    """(input name, alpha output name, model (h, w)) from the backend's specs."""
    inputs, outputs = backend.inputs, backend.outputs
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] not in (3, None):
        raise InputError(f"received a model with inputs {inputs}; expected one src [1,3,H,W] RGB float32 input")
    names = [o.name for o in outputs]
    output = "alpha" if "alpha" in names else names[0]
    shape_hw = inputs[0].shape[2:]
    if input_size is not None:
        hw = (int(input_size[0]), int(input_size[1]))
        if any(s is not None and s != v for s, v in zip(shape_hw, hw)):
            raise InputError(f"received input_size {hw}; the model's input is fixed at {shape_hw}")
    elif None in shape_hw:
        raise InputError(f"received a model with dynamic input {inputs[0].shape}; expected input_size=(h, w)")
    else:
        hw = (int(shape_hw[0]), int(shape_hw[1]))
    return inputs[0].name, output, hw


def _cover(image: np.ndarray, out: np.ndarray) -> None:
    """Resize ``image`` (uint8 HxWx3) to cover ``out`` keeping its aspect, centre-cropped, into ``out``.

    Memory stays O(frame). When the resized image would hold more than 4 frames' pixels (a long
    strip: a 1x2000 background behind 1280x720 would be resized to 1,440,000x720), only the source
    pixels that cover the frame, and 2 more on each side for the interpolation, are resized, at the
    same scale, into a crop placed to the nearest resized pixel: within half an output pixel of the
    whole resize. Backgrounds whose aspect is within 4x of the frame's are resized whole, as before.
    """
    import cv2

    h, w = out.shape[:2]
    ih, iw = image.shape[:2]
    scale = max(h / ih, w / iw)
    rh, rw = max(h, round(ih * scale)), max(w, round(iw * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    y, x = (rh - h) // 2, (rw - w) // 2
    if rh * rw <= 4 * h * w:
        resized = cv2.resize(image, (rw, rh), interpolation=interpolation)
        np.copyto(out, resized[y : y + h, x : x + w])
        return

    def span(n: int, resized: int, offset: int, size: int) -> Tuple[slice, int, int]:
        """Source pixels covering resized [offset, offset + size) with 2 to spare, and their resized start and end."""
        step = resized / n  # resized pixels per source pixel
        first, end = max(0, int(offset / step) - 2), min(n, int(np.ceil((offset + size) / step)) + 2)
        return slice(first, end), round(first * step), round(end * step)

    (rows, top, bottom), (cols, left, right) = span(ih, rh, y, h), span(iw, rw, x, w)
    part = cv2.resize(image[rows, cols], (right - left, bottom - top), interpolation=interpolation)
    np.copyto(out, part[y - top : y - top + h, x - left : x - left + w])
