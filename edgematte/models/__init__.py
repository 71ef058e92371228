"""Model table and model loading."""

from __future__ import annotations

from . import selfie as _selfie  # registers the "selfie" rows; imports no heavy module
from .selfie import onnx_for
from .table import MODELS, Checkpoint, ModelSpec, get_spec

__all__ = ["MODELS", "Checkpoint", "ModelSpec", "get_spec", "onnx_for"]
