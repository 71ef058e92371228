"""MediaPipe selfie segmentation weights: the default model (Apache-2.0, ~250 KB, real time on any CPU).

Two table rows: "selfie" (general, 256x256) and "selfie-landscape" (144x256). The .tflite files
ship inside the pinned ``mediapipe==0.10.14`` wheel on PyPI; :func:`fetch_tflite` finds them
(explicit path > ``$EDGEMATTE_WEIGHTS/mediapipe_selfie/`` > user cache > download of the wheel,
sha256-checked, then extraction of the member, sha256-checked). The conversion to ONNX lives in
:mod:`edgematte.export.tflite`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..errors import InputError
from ..files import PathLike
from ..weights import cache_dir, fetch_from_archive, resolve_weights, sha256_of
from .table import MODELS, ModelSpec, get_spec

__all__ = ["SELFIE_ARCHITECTURE", "fetch_tflite", "selfie_spec"]

SELFIE_ARCHITECTURE = "mediapipe-selfie-segmentation"


def selfie_spec(name: str) -> ModelSpec:
    """The table row of a selfie model; InputError for any other name."""
    spec = get_spec(name)
    if spec.architecture != SELFIE_ARCHITECTURE:
        names = sorted(n for n, s in MODELS.items() if s.architecture == SELFIE_ARCHITECTURE)
        raise InputError(f"received model name {name!r}; expected one of {names}")
    return spec


def fetch_tflite(name: str, *, weights: Optional[PathLike] = None, progress: bool = True) -> Path:
    """The .tflite file of a selfie row: ``weights`` > ``$EDGEMATTE_WEIGHTS`` > cache > pinned wheel."""
    spec = selfie_spec(name)
    checkpoint = spec.checkpoints[0]
    if weights is not None or os.environ.get("EDGEMATTE_WEIGHTS"):
        return resolve_weights(checkpoint.filename, subdir=spec.weights_subdir, path=weights)
    cached = cache_dir() / spec.weights_subdir / checkpoint.filename
    if cached.is_file() and sha256_of(cached) == checkpoint.member_sha256:
        return cached
    siblings = [c for row in MODELS.values() if row.weights_subdir == spec.weights_subdir for c in row.checkpoints]
    return fetch_from_archive(checkpoint, subdir=spec.weights_subdir, siblings=siblings, progress=progress)
