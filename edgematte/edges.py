"""Edge controls on the finished alpha: grow or shrink the matte, feather it, or cut it hard.

    m = edgematte.Matter("selfie", refine="fast", edge_shift=-2, feather=3)   # 2 px in, then a 7 px ramp
    m = edgematte.Matter("selfie", refine="fast", threshold=0.5)              # a hard cut at 50%

In this order, each off by default:

- ``edge_shift`` (pixels of the frame, an int): > 0 grows the matte (grey dilation by the
  (2 s + 1)^2 square), < 0 shrinks it (erosion); soft edges keep their profile, moved.
- ``feather`` (pixels, an int >= 0): the alpha averaged over the (2 f + 1)^2 square, so that a hard
  edge becomes a linear ramp 2 f + 1 pixels wide.
- ``threshold``: None keeps the soft matte (hair, glasses); a number in (0, 1] gives a hard cut:
  255 where alpha / 255 >= threshold, else 0.

The pipeline runs them on the frame's alpha in place (the array space's ``edges``: ``csrc/edges.c``, one
native pass per operation through small per-thread strips, or its CUDA twin in ``stages.cu``), before the
composite, so that the composite and ``Result.alpha`` show the same edge. No frame-sized buffer is made on
the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .errors import InputError

__all__ = ["EdgeConfig", "MAX_RADIUS"]

#: the largest |edge_shift| and feather, in pixels (csrc/edges.h EM_EDGE_MAX_RADIUS)
MAX_RADIUS = 256


def _pixels(name: str, value: Any, low: int) -> int:
    integer = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not integer or not low <= value <= MAX_RADIUS:
        raise InputError(f"received {name}={value!r}; expected an int in [{low}, {MAX_RADIUS}] (pixels)")
    return int(value)


@dataclass(frozen=True)
class EdgeConfig:
    """``edge_shift`` (int pixels, > 0 grows, < 0 shrinks), ``feather`` (int pixels >= 0), ``threshold``
    (None: soft matte; a float in (0, 1]: hard cut). Checked here once; the kernels trust them."""

    edge_shift: int = 0
    feather: int = 0
    threshold: Optional[float] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "edge_shift", _pixels("edge_shift", self.edge_shift, -MAX_RADIUS))
        object.__setattr__(self, "feather", _pixels("feather", self.feather, 0))
        t = self.threshold
        if t is not None:
            if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, float, np.integer, np.floating)) or not (
                math.isfinite(float(t)) and 0.0 < float(t) <= 1.0
            ):
                raise InputError(f"received threshold={t!r}; expected None (a soft matte) or a float in (0, 1]")
            object.__setattr__(self, "threshold", float(t))

    @property
    def active(self) -> bool:
        """True when any control changes the alpha."""
        return bool(self.edge_shift or self.feather or self.threshold is not None)

    @property
    def level(self) -> int:
        """The threshold as the uint8 level an alpha must reach to become 255 (1..255); 0 without one."""
        if self.threshold is None:
            return 0
        return min(255, max(1, math.ceil(self.threshold * 255 - 1e-9)))

