"""Model table and model loading."""

from __future__ import annotations

from .table import MODELS, Checkpoint, ModelSpec, get_spec

__all__ = ["MODELS", "Checkpoint", "ModelSpec", "get_spec"]
