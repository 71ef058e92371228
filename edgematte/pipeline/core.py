"""The one pipeline: a model step and the stages around it, written once against an array space.

:meth:`Pipeline.process` takes a checked frame through every stage and returns a finished :class:`Result`: take -> model
step -> temporal -> refine (off / fast / full, or the step's own) -> input alpha -> composite -> deliver. Where the
arrays live and which kernels run is the space's business (``host.HostSpace``: NumPy, OpenCV and the CPU kernels;
``cuda.CudaSpace``: CuPy and the CUDA kernels); what the network takes and gives is the step's (``steps.SegmentStep``,
``steps.RvmStep``). Every array a stage writes is a buffer made once per frame size and calling thread and reused: the
arrays in a Result are **overwritten by the same thread's next call** (copy them to keep them).

Threads: a Pipeline serves one call at a time (a lock; a second thread waits). Each thread has its own buffers and
temporal state, so a result is never overwritten by another thread; a recurrent model's state (RVM) is the backend's,
shared by every thread: give each stream its own Pipeline.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

from ..errors import BackendUnavailableError, InputError
from ..edges import EdgeConfig
from ..refine import FAST
from ..temporal import CUT_THRESHOLD, STRENGTH, Temporal
from ..runtime.base import Backend
from ..validate import check_int, check_threads, check_trimap_params

__all__ = ["TrimapConfig", "TemporalConfig", "Result", "Temporal", "Pipeline", "REFINE_MODES", "NO_COMPOSITE",
           "space_for"]

log = logging.getLogger("edgematte")

#: refinement of a segmentation model's alpha: "off" (upsampled model alpha, no trimap), "fast"
#: (joint upsampling guided by the frame, known regions exactly 0/255, background colour removed
#: from the edge, composite: one full-resolution pass, real time), "full" (trimap; the band solved
#: by closed-form matting with the "fast" alpha as soft prior: best edges, for photos)
REFINE_MODES = ("off", "fast", "full")

#: ``Pipeline.process``'s default ``background``: stop after the alpha, make no composite
NO_COMPOSITE = "no-composite"


@dataclass(frozen=True)
class TrimapConfig:
    """refine="full": ``make_trimap`` parameters that turn the "fast" alpha (uint8 0..255) into the band that
    closed-form matting solves (default: 2 pixels either side of the edge; measured best of 2..5 on bench/quality.py's
    low-resolution-segmenter benchmark)."""

    kernel_size: int = 5
    iterations: int = 1
    fg_threshold: int = 254
    bg_threshold: int = 1

    def __post_init__(self) -> None:  # checked here once: the pipeline calls the trusted kernel
        check_trimap_params(self.kernel_size, self.iterations, self.fg_threshold, self.bg_threshold)


@dataclass(frozen=True)
class TemporalConfig:
    """Motion-weighted temporal smoothing (:mod:`edgematte.temporal`): ``strength``, the past's weight where the
    picture holds still, in [0, 1) (0: off). A cut is a mean absolute difference above ``cut_threshold`` (0..1)
    between consecutive model-size frames; the smoothing (and a recurrent model's state) then restarts."""

    strength: float = STRENGTH
    cut_threshold: float = CUT_THRESHOLD

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise InputError(f"received temporal strength {self.strength!r}; expected 0 <= strength < 1")
        if not 0.0 < self.cut_threshold <= 1.0:
            raise InputError(f"received cut_threshold {self.cut_threshold!r}; expected 0 < cut_threshold <= 1")


@dataclass(frozen=True)
class Result:
    """One processed frame, complete when returned. Arrays are the pipeline's buffers, valid until the same thread's
    next call; they live where the space delivers them (NumPy for host frames, CuPy for device frames in the CUDA
    space).

    ``alpha`` uint8 HxW 0..255; ``trimap`` uint8 HxW {0,128,255} for segmentation models with refine="full", else None;
    ``foreground`` uint8 HxWx3 BGR, the colour to composite under the alpha with the old background's colour removed
    from the edge, when the pipeline estimates one (a background given with refine "fast" or "full", or RVM; else None:
    the frame is used); ``composite`` uint8 HxWx3 BGR (HxWx4 BGRA for a None background) when a background was given;
    ``timings`` milliseconds per stage plus ``total``; ``cut`` True when the temporal state (EMA, recurrent state)
    restarted on this frame: a scene cut or a new frame size.
    """

    alpha: Any
    trimap: Optional[Any] = None
    foreground: Optional[Any] = None
    composite: Optional[Any] = None
    timings: Dict[str, float] = field(default_factory=dict)
    cut: bool = False


_CPU_STAGES = threading.Event()


def space_for(backend: Any) -> Any:
    """The array space for ``backend``: CUDA for backends that read device arrays (TensorRT) when CuPy starts,
    else the host (the reason logged as a warning)."""
    from .host import HostSpace

    flag = getattr(backend, "device_inputs", None)
    reads_device = bool(flag) if flag is not None else type(backend).__name__ == "TrtBackend"
    if not reads_device:
        return HostSpace()
    from .cuda import CudaSpace

    try:
        space = CudaSpace()
    except BackendUnavailableError as exc:  # logged once per process
        (log.debug if _CPU_STAGES.is_set() else log.warning)("the stages around the model run on the CPU: %s", exc)
        _CPU_STAGES.set()
        return HostSpace()
    if hasattr(backend, "device_outputs"):
        backend.device_outputs = True  # the model's outputs stay on the device
    return space


class Pipeline:
    """A model step and the classic stages, in one array space, with reused buffers.

    ``backend``: an opened :class:`~edgematte.runtime.base.Backend`. A RobustVideoMatting graph
    (:func:`edgematte.models.rvm.is_rvm`) runs as :class:`~edgematte.pipeline.steps.RvmStep` (alpha and foreground from
    the model, its recurrent state carried by the backend, ``downsample_ratio`` None for automatic or in (0, 1]); any
    other as :class:`~edgematte.pipeline.steps.SegmentStep` (``src`` [1,3,h,w] RGB float 0..1 -> ``alpha`` [1,1,h,w]
    float 0..1; ``input_size`` (h, w) only for dynamic inputs). ``task`` "segmentation" refines the model alpha
    (``refine``: one of :data:`REFINE_MODES`, or True "full" / False "off"); "matting" uses it as is. ``space``: default
    :func:`space_for` the backend; ``step``: a model step made for that space (default: the backend's, as above).
    ``every`` N > 1: the model runs on every Nth frame of the calling thread (and on the first after :meth:`reset`, a
    new frame size or a scene cut); the frames between reuse its last model-size output and run the rest of the stages
    ("fast": the last fit's coefficients evaluated on the new frame, so the edge follows the picture). Recurrent models
    refuse it: their state must see every frame.
    """

    def __init__(self, backend: Backend, *, task: str = "segmentation", refine: Union[bool, str] = True,
                 trimap: Optional[TrimapConfig] = None, temporal: Optional[TemporalConfig] = None,
                 input_size: Optional[Tuple[int, int]] = None, threads: Optional[int] = None,
                 downsample_ratio: Optional[float] = None, space: Any = None, step: Any = None, every: int = 1,
                 edges: Optional[EdgeConfig] = None) -> None:
        from .steps import make_step

        if task not in ("segmentation", "matting"):
            raise InputError(f"received task {task!r}; expected 'segmentation' or 'matting'")
        if refine not in (True, False) and refine not in REFINE_MODES:
            raise InputError(f"received refine={refine!r}; expected True, False or one of {REFINE_MODES}")
        mode = {True: "full", False: "off"}.get(refine, refine)  # type: ignore[call-overload]
        self.backend = backend
        self.space = space if space is not None else space_for(backend)
        self.threads = check_threads(threads)
        self.step = step if step is not None else make_step(
            backend, self.space, input_size=input_size, downsample_ratio=downsample_ratio, threads=self.threads)
        self.task = task
        self.every = check_int("every", every, 1, 1 << 16)
        if self.step.recurrent and self.every > 1:
            raise InputError(f"received every={every!r} for a recurrent model ({type(self.step).__name__}); expected "
                             "every=1: its state must see every frame")
        #: None when the step makes its own full-resolution pass (RVM)
        self.refine = None if self.step.refines else ("off" if task == "matting" else mode)
        self.trimap_config = trimap if trimap is not None else TrimapConfig()
        self.temporal = Temporal(temporal)
        self.stateful = temporal is not None or self.step.recurrent  # cuts are detected
        self.edges = edges if edges is not None else EdgeConfig()
        self._lock = threading.Lock()
        self._local = threading.local()  # per thread: .buffers

    model_hw = property(lambda self: self.step.model_hw, doc="The model's input size (h, w); None for RVM's.")

    def check_frame(self, frame: Any, *, channels: str = "bgr") -> Tuple[Any, Any]:
        """The one check of a caller's frame: (uint8 HxWx3 BGR frame in this pipeline's space, its own alpha or None)."""
        return self.space.check(frame, channels)

    def reset(self) -> None:
        """Forget the calling thread's temporal state and the model's recurrent state (between unrelated clips)."""
        if getattr(self._local, "buffers", None) is not None:
            self._local.buffers.has_previous = False
        self.step.reset()

    def close(self) -> None:
        """Release what the step opened (RVM's split graph); the backend is the caller's."""
        self.step.close()

    def share_state(self) -> None:
        """One state for all threads: for serialised calls from threads Python drops the locals of (GStreamer's)."""
        self._local = SimpleNamespace()

    def process(self, frame: Any, background: Any = NO_COMPOSITE, *, input_alpha: Any = None,
                keep_foreground: bool = True, out: Any = None) -> Result:
        """Every stage for one checked uint8 HxWx3 BGR frame -> a finished Result.

        ``background`` (parsed by :func:`edgematte.background.parse_background`): a uint8 HxWx3 BGR image (resized to
        cover, cached while the same array object is passed), a (B, G, R) colour, ``"blur"``, or None for BGRA with the
        alpha as 4th channel. The default, :data:`NO_COMPOSITE`, stops after the alpha. ``input_alpha`` (uint8 HxW, the
        frame's own transparency) multiplies into the alpha. ``keep_foreground=False``: only the composite is wanted
        ("fast" then does not write ``Result.foreground``; the composite is the same). ``out``: the composite's array
        (checked by the caller: uint8 HxWx3 or HxWx4, C-contiguous; may be ``frame`` itself).
        """
        with self._lock:
            return self._process(frame, background, input_alpha, keep_foreground, out)

    # -- the hot path --------------------------------------------------------------------------------
    def _process(self, frame: Any, background: Any, input_alpha: Any, keep_foreground: bool, out: Any) -> Result:
        s, step = self.space, self.step
        clock = s.clock()
        b = self._buffers_for(tuple(frame.shape[:2]))
        frame = s.take(frame, b, clock)  # the CUDA space uploads a host frame once; a device frame stays

        small = step.prepare(s, frame, b)  # the model-size frame
        cut = self.stateful and (self.temporal.cut(s, small, b) or b.resized)
        restart = cut or not b.has_previous  # a scene cut, a new frame size, the first frame or a reset
        if restart and step.recurrent:
            step.reset()
        clock.lap("preprocess")
        b.since_model = 0 if restart or b.since_model + 1 >= self.every else b.since_model + 1
        if b.since_model:  # every N: the last model output of this size, already smoothed
            outputs = b.outputs
        else:
            outputs = step.infer(s, frame, b)  # model-size outputs: a segmentation alpha, RVM's coefficients
            clock.lap("model")
            if self.temporal.config is not None and self.refine not in ("fast", "full"):  # those: the fit's
                self.temporal.weigh(s, small if outputs[0].shape[-2:] == small.shape[:2] else frame, b, restart)
                outputs = tuple(self.temporal.smooth(s, str(i), o, b) for i, o in enumerate(outputs))
                clock.lap("temporal")
            if self.every > 1:  # copies (model-size): the backend reuses its buffers, shared by the threads
                b.outputs = [o.copy() for o in outputs]
        b.has_previous, b.resized = True, False

        trimap = foreground = composite = None
        if self.refine is None:  # the step's own full-resolution pass (RVM's guided filter)
            final, foreground = step.refine(s, frame, outputs, b)
            if self.temporal.config is not None and step.native_refiner:  # coefficients smoothed: A * I + b too
                final = self.temporal.smooth_alpha(s, final, b)
            clock.lap("refine")
        elif self.refine == "fast" and input_alpha is None and not self.edges.active:
            # one full-resolution pass: upsample, refine, known-region clamp, foreground, composite
            bg = background if background is NO_COMPOSITE else self._background(frame, background, b)
            final, foreground, composite = self._fast(frame, outputs[0], b, bg, keep_foreground, restart, out)
            clock.lap("refine")
        elif self.refine == "off":
            s.to_u8(outputs[0][None], b.small_alpha)  # rounds and saturates to 0..255
            final = s.resize(b.small_alpha, b.raw_alpha)
            clock.lap("upsample")
        else:  # "fast" with edge controls or the frame's own alpha to apply, or "full"'s prior: the guided filter
            wants = "foreground" if self.refine == "fast" and background is not NO_COMPOSITE else NO_COMPOSITE
            final, foreground, _ = self._fast(frame, outputs[0], b, wants, restart=restart)
            clock.lap("upsample")
        if self.refine == "full":
            c = self.trimap_config
            trimap = s.make_trimap(final, c, b.trimap, self.threads)
            clock.lap("trimap")
            final, foreground = s.solve_band(frame, trimap, final, background is not NO_COMPOSITE, b, self.threads)
            clock.lap("refine")
        if self.edges.active:  # in place, on the step's or the pipeline's alpha buffer
            final = s.edges(final, self.edges, b, self.threads)
            clock.lap("edges")
        if input_alpha is not None:
            final = s.multiply(final, input_alpha, b.alpha)
        if background is not NO_COMPOSITE and composite is None:
            bg = self._background(frame, background, b)
            out = out if out is not None else b.out4 if bg is None else b.out3
            composite = s.composite(frame if foreground is None else foreground, final, bg, out, self.threads)
            clock.lap("composite")
        fields = dict(alpha=final, trimap=trimap, foreground=foreground, composite=composite)
        fields = s.deliver(fields, b, clock)  # the CUDA space downloads what host callers get
        return Result(timings=clock.finish(), cut=cut, **fields)

    # -- stages ------------------------------------------------------------------------------------
    def _fast(self, frame: Any, alpha: Any, b: Any, background: Any, keep_foreground=True, restart=False, out=None):
        """"fast": (alpha, foreground or None, composite or None) from the model-size alpha.

        The fast guided filter is fitted at 1/FAST.scale of the model's resolution (guide: the model-size frame), its
        coefficients smoothed (the temporal stage), and evaluated at the frame's in one pass that also makes known
        regions exactly 0/255 and, with a background, removes the old background's colour from the edge and composites.
        ``background`` "foreground": the foreground without a composite. Without ``keep_foreground`` the composite still
        uses the foreground colours, but Result.foreground is None.
        """
        s = self.space
        if not b.since_model:  # every N: the frames between evaluate the last fit (b.coef, b.blurs) on themselves
            s.fit(b.small, alpha, b, self.threads, foreground=self.every > 1 or background is not NO_COMPOSITE)
            if self.temporal.config is not None:
                self.temporal.weigh(s, b.fit_image, b, restart)
                s.copy(b.coef, self.temporal.smooth(s, "coef", b.coef, b, known=True))
        if background is NO_COMPOSITE:
            return s.apply(frame, b, b.alpha, None, NO_COMPOSITE, None, self.threads), None, None
        if isinstance(background, str):  # "foreground"
            return s.apply(frame, b, b.alpha, b.foreground, NO_COMPOSITE, None, self.threads), b.foreground, None
        out = out if out is not None else b.out4 if background is None else b.out3
        foreground = b.foreground if keep_foreground else None
        return s.apply(frame, b, b.alpha, foreground, background, out, self.threads), foreground, out

    def _background(self, frame: Any, background: Any, b: Any) -> Any:
        """The parsed background as the composite takes it: None, a colour, or b.background (an image resized
        to cover the frame, once per image object, or the frame blurred)."""
        if background is None or isinstance(background, tuple):
            return background
        if isinstance(background, str):  # "blur": the frame at 1/8 size, blurred, scaled back
            b.background_key = None
            return self.space.blur(frame, b)
        key = (id(background), background.shape)
        if b.background_key != key:
            self.space.cover(background, b)
            b.background_key, b.background_source = key, background  # kept alive, so its id stays unique
        return b.background

    def _buffers_for(self, frame_hw: Tuple[int, int]) -> Any:
        b = getattr(self._local, "buffers", None)
        if b is None or b.frame_hw != frame_hw or b.model_hw != self.step.plan(frame_hw):
            log.debug("allocating %s pipeline buffers for %dx%d", self.space.name, frame_hw[1], frame_hw[0])
            b = self._local.buffers = self._buffers(frame_hw, previous=b is not None)
        return b

    def _buffers(self, frame_hw: Tuple[int, int], previous: bool) -> Any:
        """Every array the stages write for frames of ``frame_hw``, in the space: the step's, then those of
        this pipeline's refine mode and of the composite; per-call scratch is the space's own."""
        h, w = frame_hw
        mh, mw = model_hw = self.step.plan(frame_hw)
        u8 = np.uint8
        plan: Dict[str, Any] = dict(self.step.buffers(frame_hw))
        plan.update(alpha=((h, w), u8), out3=((h, w, 3), u8), out4=((h, w, 4), u8), background=((h, w, 3), u8),
                    blur_small=((max(1, h // 8), max(1, w // 8), 3), u8))
        if self.stateful:
            plan.update(previous=((mh, mw, 3), u8))
        if self.refine == "off":
            plan.update(small_alpha=((mh, mw), u8), raw_alpha=((h, w), u8))
        elif self.refine in ("fast", "full"):
            fh, fw = max(1, mh // FAST.scale), max(1, mw // FAST.scale)
            plan.update(fit_image=((fh, fw, 3), u8), fit_alpha=((fh, fw), np.float32),
                        coef=((4, fh, fw), np.float32), blurs=((6, fh, fw), np.float32), foreground=((h, w, 3), u8))
        if self.refine == "full":
            plan.update(trimap=((h, w), u8))
        s = self.space
        arrays = {k: [s.empty(*x) for x in v] if isinstance(v, list) else s.empty(*v) for k, v in plan.items()}
        # the previous size's result stays valid: "cut" on a new size is the restart of a stream in progress
        return SimpleNamespace(frame_hw=frame_hw, model_hw=model_hw, has_previous=False, temporal=None, outputs=None,
                               since_model=0, background_key=None, background_source=None, resized=previous, **arrays)
