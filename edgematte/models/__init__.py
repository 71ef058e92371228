"""Model table and model loading."""

from __future__ import annotations

from . import zoo  # noqa: F401  (registers the MODNet / U-2-Net rows; imports no heavy module)
from .checkpoints import build, checkpoint_path, is_torch_model, load
from .selfie import onnx_for  # also registers the "selfie" rows; imports no heavy module
from .table import MODELS, Checkpoint, ModelSpec, get_spec

__all__ = [
    "MODELS",
    "Checkpoint",
    "ModelSpec",
    "get_spec",
    "onnx_for",
    "load",
    "build",
    "checkpoint_path",
    "is_torch_model",
]
