"""edgematte: real-time image and video matting for the edge.

Pipeline: segment -> trimap -> matte -> composite. ``import edgematte`` needs only
NumPy; onnxruntime, torch, tensorrt and pycuda are imported where they are used.
"""

from __future__ import annotations

from ._version import __version__
from .errors import (
    BackendUnavailableError,
    EdgematteError,
    EngineBuildError,
    EngineCacheMismatch,
    ExportError,
    InputError,
    KernelError,
    ModelError,
)
from .kernels import composite, make_trimap

__all__ = [
    "__version__",
    "EdgematteError",
    "InputError",
    "BackendUnavailableError",
    "ModelError",
    "ExportError",
    "EngineBuildError",
    "EngineCacheMismatch",
    "KernelError",
    "make_trimap",
    "composite",
]
