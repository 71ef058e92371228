"""Model table and model loading."""

from __future__ import annotations

from .checkpoints import build, checkpoint_path, is_torch_model, load
from .table import MODELS, Checkpoint, ModelSpec, get_spec

__all__ = [
    "MODELS",
    "Checkpoint",
    "ModelSpec",
    "get_spec",
    "load",
    "build",
    "checkpoint_path",
    "is_torch_model",
]
