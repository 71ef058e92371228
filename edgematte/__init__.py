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
    "Matter",
]

#: public names served lazily from submodules (they import OpenCV/ONNX Runtime on use)
_LAZY = {"Matter": "edgematte.matter"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'edgematte' has no attribute {name!r}")
