"""Model table and model loading."""

from __future__ import annotations

from .selfie import onnx_for  # also registers the "selfie" rows; imports no heavy module
from .table import MODELS, Checkpoint, ModelSpec, get_spec

__all__ = ["MODELS", "Checkpoint", "ModelSpec", "get_spec", "onnx_for"]
