"""The per-frame pipeline: one :class:`Pipeline` over an array space and a model step.

- :mod:`.core`: :class:`Pipeline` (the hot path, top to bottom), :class:`Result`, the configs;
- :mod:`.steps`: the model steps, :class:`~.steps.SegmentStep` and :class:`~.steps.RvmStep`;
- :mod:`.host`: :class:`~.host.HostSpace`, NumPy + OpenCV + the CPU kernels;
- :mod:`.cuda`: :class:`~.cuda.CudaSpace`, CuPy + the CUDA kernels (imported when a GPU backend asks for it).
"""

from ..background import Background
from .core import NO_COMPOSITE, REFINE_MODES, Pipeline, Result, TemporalConfig, TrimapConfig, space_for

__all__ = ["Pipeline", "Result", "TemporalConfig", "TrimapConfig", "NO_COMPOSITE", "REFINE_MODES", "Background",
           "space_for"]
