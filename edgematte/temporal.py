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

Chosen on ``bench/temporal.py``'s tuning clips against smoothing the model alpha, both, per-block
weights and a hysteresis gate (``bench/results/temporal.md``); the motion levels and the strength are
the tuning's.
"""

from __future__ import annotations

from typing import Dict, Optional

import numpy as np

__all__ = ["STRENGTH", "STILL_LEVELS", "MOVING_LEVELS", "KNOWN_TOLERANCE", "TemporalSmoother"]

#: the past's weight where the picture holds still (the default of ``temporal``): a time constant of
#: 20 frames there, 2/3 s at 30 fps
STRENGTH = 0.95
#: mean channel difference (levels, 3x3 mean at the coefficients' grid) at and below which a pixel is still
STILL_LEVELS = 1.0
#: ... and at and above which it moved
MOVING_LEVELS = 3.0
#: a smoothed guided-filter cell known this frame is made exactly known when its alpha at the cell's colour is
#: within this many levels of it (so it rounds the same)
KNOWN_TOLERANCE = 0.5


class TemporalSmoother:
    """One stream's temporal state at one grid: the last guide frame, this frame's weights, and the
    smoothed outputs (one state per name).

    Per frame: :meth:`weigh` with the frame at the outputs' grid (uint8 [h,w,3], the same channel
    order each call), then :meth:`smooth` for each output (float32 [c,h,w], C-contiguous), which
    returns it smoothed (the smoother's own buffer: read it before the next frame). ``restart``, a
    new grid or a new output shape starts over from this frame.
    """

    def __init__(self, strength: float = STRENGTH) -> None:
        self.strength = float(strength)
        self._previous: Optional[np.ndarray] = None
        self._weights: Optional[np.ndarray] = None
        self._scratch: Optional[np.ndarray] = None
        self._states: Dict[str, np.ndarray] = {}
        self._frames = 0  # frames since the last restart, this one included once weighed

    def reset(self) -> None:
        """The next frame starts over (between unrelated clips; scene cuts pass ``restart``)."""
        self._frames = 0

    def weigh(self, guide: np.ndarray, restart: bool = False, threads: int = 1) -> None:
        """This frame's weights from ``guide`` and the last frame's."""
        from .kernels import native, threads_now

        h, w = guide.shape[:2]
        if self._previous is None or self._previous.shape != guide.shape:
            self._previous = np.empty_like(guide)
            self._weights = np.empty((h, w), np.float32)
            self._scratch = np.empty(2 * h * w, np.uint16)
            restart = True
        if restart or self._frames == 0:
            np.copyto(self._previous, guide)
            self._frames = 1
            return
        n = self._frames
        strength = min(self.strength, n / (n + 1.0))  # a running mean until the strength is reached
        native("_temporal").temporal_weights(guide, self._previous, self._weights, strength, STILL_LEVELS,
                                             MOVING_LEVELS, self._scratch, threads_now(threads))
        self._frames = n + 1

    def smooth(self, name: str, values: np.ndarray, threads: int = 1, *, known: bool = False) -> np.ndarray:
        """``values`` (this frame's output called ``name``) smoothed with this frame's weights.

        ``known``: ``values`` are the fast guided filter's coefficients ([4,h,w]: a0, a1, a2, 255 b), whose known
        cells (a = 0, 255 b exactly 0 or 255) let the full-resolution pass skip the arithmetic; a smoothed cell
        that is known this frame and whose alpha at this frame's colour (the guide :meth:`weigh` took) is within
        :data:`KNOWN_TOLERANCE` levels of it is made exactly known again (else it would stay a hair off it, and
        the edge band the pass computes would widen by a third)."""
        from .kernels import native, threads_now

        state = self._states.get(name)
        if state is None or state.shape != values.shape or self._frames == 1:
            if state is None or state.shape != values.shape:
                state = self._states[name] = np.empty_like(values)
            np.copyto(state, values)
            return state
        guide = self._previous if known else None  # weigh() left this frame's guide there
        native("_temporal").temporal_blend(self._weights, values, state, threads_now(threads), guide, KNOWN_TOLERANCE)
        return state
