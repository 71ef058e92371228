"""Export stages: model -> ONNX -> (TensorRT engine). Heavy modules load on first use."""

from __future__ import annotations

import importlib

# Bound eagerly (both modules import only NumPy at import time): a lazy entry named
# "to_onnx" would be shadowed by the submodule of the same name once it is imported.
from .check_onnx import check_onnx
from .to_onnx import ExportReport, to_onnx

#: public name -> module (relative to this package) that defines it; imported on first access
_LAZY = {
    "tflite_to_onnx": ".tflite",
    "export_selfie": ".tflite",
    "build_engine": ".to_trt",
    "EngineConfig": ".to_trt",
    "check_onnx_for_trt": ".onnx_prereq",
}

__all__ = sorted(list(_LAZY) + ["to_onnx", "ExportReport", "check_onnx"])


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
