"""Temporal smoothing of the real-time paths: still edges hold, moving edges follow at once.

A model step's small-size output (the fast guided filter's coefficients for segmentation models,
RobustVideoMatting's refiner coefficients) is averaged over time per pixel, with a weight set by how
much the picture moved there since the last frame: ``strength`` where it held still, 0 (this frame's
output as it is) where it moved, linear between. So the edge of a still person stops shimmering, and
a moving arm leaves no ghost. The full-resolution pass then evaluates the smoothed coefficients on
the current frame, so the edge still follows the picture's own edges.

Per pixel of the coefficients' grid (``csrc/temporal.c``; twin ``kernels/_temporal_reference.py``):
d = the mean absolute channel difference of this and the last frame at that grid (0..255), averaged
over 3x3; weight = strength for d <= :data:`STILL_LEVELS`, 0 for d >= :data:`MOVING_LEVELS`. After a
restart (the first frame, a scene cut, a new size) the strength ramps up as a running mean,
min(strength, n / (n + 1)) on the n-th frame since, so the first frame's output is not held longer
than any other's.

RobustVideoMatting's alpha is A * I + b at full resolution: where A is large (an unsure matte), the frame's own
per-pixel noise passes into it, which smoothing A and b cannot remove. So its full-resolution alpha is smoothed
too, with the same weights upsampled (:meth:`Temporal.smooth_alpha`; ``bench/rvm_alpha_prototype.py`` measured it).

The stage is :class:`Temporal`, one for every model step and array space (the space runs the kernels).
Chosen on ``bench/temporal.py``'s tuning clips against smoothing the model alpha, both, per-block weights
and a hysteresis gate (``bench/results/temporal.md``); the motion levels and the strength are the tuning's.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

__all__ = ["STRENGTH", "STILL_LEVELS", "MOVING_LEVELS", "CUT_THRESHOLD", "KNOWN_TOLERANCE", "Temporal"]

#: the past's weight where the picture holds still (the default of ``temporal``): a time constant of
#: 20 frames there, 2/3 s at 30 fps
STRENGTH = 0.95
#: mean channel difference (levels, 3x3 mean at the coefficients' grid) at and below which a pixel is still
STILL_LEVELS = 1.0
#: ... and at and above which it moved
MOVING_LEVELS = 3.0
#: mean absolute difference (0..1) of consecutive model-size frames above which the scene cut (the default of
#: ``TemporalConfig.cut_threshold``)
CUT_THRESHOLD = 0.12
#: a smoothed guided-filter cell known this frame is made exactly known when its alpha at the cell's colour is
#: within this many levels of it (so it rounds the same)
KNOWN_TOLERANCE = 0.5


class Temporal:
    """The temporal stage, for every model step and space: one cut detector and one filter.

    The filter (:mod:`edgematte.temporal`) averages an output over time where the picture held still and takes
    it as it is where the picture moved: per frame, :meth:`weigh` with the frame at the outputs' grid (the
    motion weights, against the last frame there), then :meth:`smooth` for each output, at its own resolution.
    After a restart the strength ramps up as a running mean. State lives in the thread's buffers ``b``:
    ``b.previous`` (the cut detector's last model-size frame), ``b.has_previous`` and ``b.temporal`` (the
    filter's). ``config`` None: no filter, but the cut detector still runs for recurrent steps (their state must
    restart on a cut), at the default threshold. Another filter replaces :meth:`weigh` and :meth:`smooth`.
    """

    def __init__(self, config: Any) -> None:
        self.config = config  # a TemporalConfig, or None
        self.threshold = config.cut_threshold if config is not None else CUT_THRESHOLD

    def cut(self, s: Any, small: Any, b: Any) -> bool:
        """Scene cut: mean |small_t - small_{t-1}| / 255 above the threshold; ``small`` becomes the previous."""
        difference = s.difference_keep(small, b.previous)
        return bool(b.has_previous and difference > self.threshold)

    def weigh(self, s: Any, guide: Any, b: Any, restart: bool) -> None:
        """This frame's weights from ``guide`` (uint8 [h,w,3] at the grid of the outputs to smooth) and the last
        frame's; a restart, or a new grid, starts over from this frame."""
        t = b.temporal
        if t is None or t.previous.shape != guide.shape:
            h, w = guide.shape[:2]
            t = b.temporal = SimpleNamespace(previous=s.empty(guide.shape, np.uint8), states={}, frames=0,
                                             weights=s.empty((h, w), np.float32))
        if restart or t.frames == 0:
            s.copy(t.previous, guide)
            t.frames = 1
            return
        strength = min(self.config.strength, t.frames / (t.frames + 1.0))  # a running mean until then
        s.temporal_weights(guide, t.previous, t.weights, strength, STILL_LEVELS, MOVING_LEVELS)
        t.frames += 1

    def smooth(self, s: Any, name: str, values: Any, b: Any, known: bool = False) -> Any:
        """``values`` (an output: float [..., h, w] at the grid :meth:`weigh` took) smoothed, in the filter's own
        buffer (float32, ``values``' shape). ``known``: they are the fast guided filter's coefficients, whose known
        cells the full-resolution pass skips; a smoothed cell known this frame and within KNOWN_TOLERANCE levels
        of it at this frame's colour is made exactly known again (else smoothed cells stay a hair off exact, and
        the band the pass computes widens by a third)."""
        t = b.temporal
        state = t.states.get(name)
        fresh = state is None or state.shape != values.shape
        if fresh:
            state = t.states[name] = s.empty(values.shape, np.float32)
        if fresh or t.frames == 1:  # the first frame since a restart, or a new output: itself
            s.copy(state, values)
            return state
        h, w = values.shape[-2:]
        planes = values if values.dtype == np.float32 else values.astype(np.float32)
        s.temporal_blend(t.weights, planes.reshape(-1, h, w), state.reshape(-1, h, w),
                         t.previous if known else None, KNOWN_TOLERANCE)
        return state

    def smooth_alpha(self, s: Any, alpha: Any, b: Any) -> Any:
        """A full-resolution alpha (uint8 [H,W], smoothed in place and returned) with this frame's weights upsampled,
        against its own float32 state: for RVM, whose alpha is A * I + b at full resolution, so that where A is large
        the frame's own per-pixel noise passes into it, which smoothing A and b cannot remove."""
        t = b.temporal
        state = t.states.get("alpha")
        fresh = state is None or state.shape != alpha.shape
        if fresh:
            state = t.states["alpha"] = s.empty(alpha.shape, np.float32)
        s.temporal_alpha(None if fresh or t.frames == 1 else t.weights, alpha, state)
        return alpha
