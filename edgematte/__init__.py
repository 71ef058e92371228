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
    "refine_alpha",
    "estimate_foreground",
    "make_trimap",
    "composite",
    "Matter",
]

#: public names imported on first use (module relative to this package), so ``import edgematte`` stays light
_LAZY = {"refine_alpha": "refine", "estimate_foreground": "refine", "Matter": "matter"}


def __getattr__(name: str):
    """Import public functions on first use, so ``import edgematte`` stays light."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
