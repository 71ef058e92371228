"""Export stages: PyTorch -> ONNX (``to_onnx``), checks (``check_onnx``); onnx/torch load lazily."""

from __future__ import annotations

from .check_onnx import check_onnx
from .to_onnx import ExportReport, to_onnx

__all__ = ["to_onnx", "ExportReport", "check_onnx"]
