"""The model table: every model edgematte knows, as data.

One :class:`ModelSpec` per name. Adding a model is adding a row, never a subclass.
All exported graphs share one contract: input ``src`` RGB float32 [N,3,H,W] in [0, 1]
(the model's own normalisation lives inside the graph), output ``alpha`` float32
[N,1,H,W] in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from ..errors import InputError

__all__ = ["ModelSpec", "MODELS", "get_spec"]


@dataclass(frozen=True)
class Checkpoint:
    """One downloadable weights file: where it comes from and its sha256."""

    filename: str
    url: Optional[str] = None
    sha256: Optional[str] = None
    #: inside an archive (a wheel, a zip): the member holding the weights, and its sha256.
    member: Optional[str] = None
    member_sha256: Optional[str] = None


@dataclass(frozen=True)
class ModelSpec:
    """Everything the toolchain and runtime need to know about one model."""

    name: str
    architecture: str
    #: "segmentation": probability mask that goes through trimap + refinement;
    #: "matting": the output is already an alpha matte.
    task: str
    #: default (height, width) of the exported graph
    input_size: Tuple[int, int]
    #: how other sizes are allowed, in words (e.g. "fixed", "sides multiple of 32")
    size_rule: str
    #: normalisation done inside the graph, in words
    normalization: str
    licence: str
    #: folder name under EDGEMATTE_WEIGHTS / the cache
    weights_subdir: str
    checkpoints: Tuple[Checkpoint, ...] = ()
    color_order: str = "RGB"
    outputs: Tuple[str, ...] = ("alpha",)
    notes: str = ""
    extra: Dict[str, str] = field(default_factory=dict)


#: name -> spec. Rows are added by the modules that can build each model.
MODELS: Dict[str, ModelSpec] = {}


def get_spec(name: str) -> ModelSpec:
    """The table row for ``name``; InputError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"received model name {name!r}; expected one of {sorted(MODELS)}") from None
