"""Building a zoo model and loading its checkpoint: ``load(name, checkpoint=None)``.

torch is imported inside the functions; without it they raise BackendUnavailableError
naming the ``[export]`` extra.
"""

from __future__ import annotations

import importlib
import os
import pickle
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

from ..errors import BackendUnavailableError, InputError, ModelError
from ..weights import resolve_weights
from .table import get_spec

__all__ = [
    "load",
    "build",
    "checkpoint_path",
    "is_torch_model",
    "TORCH_ARCHITECTURES",
    "state_dict_from_file",
    "match_state_dict",
]

PathLike = Union[str, "os.PathLike[str]"]
#: architecture -> (module, builder) for the architectures written in PyTorch here.
TORCH_ARCHITECTURES = {
    "modnet": ("edgematte.models.modnet", "build_modnet"),
    "u2net": ("edgematte.models.u2net", "build_u2net"),
    "u2netp": ("edgematte.models.u2net", "build_u2netp"),
}
#: how many offending keys an error message names
_SHOWN = 3
#: BatchNorm's step counter: absent from checkpoints saved by PyTorch < 0.4.1, never used in eval
_OPTIONAL_SUFFIX = "num_batches_tracked"


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailableError(
            f"PyTorch is not installed ({exc}); expected it for the PyTorch model zoo: pip install 'edgematte[export]'"
        ) from exc
    return torch


def is_torch_model(name: str) -> bool:
    """True when the table row ``name`` is built from PyTorch code here (else it ships as ONNX/TFLite)."""
    return get_spec(name).architecture in TORCH_ARCHITECTURES


def build(name: str):
    """The architecture of table row ``name`` with random weights, in eval mode (torch.nn.Module)."""
    spec = get_spec(name)
    if spec.architecture not in TORCH_ARCHITECTURES:
        raise InputError(
            f"received model {name!r} (architecture {spec.architecture!r}), which has no PyTorch definition; "
            f"expected one of the architectures {sorted(TORCH_ARCHITECTURES)}"
        )
    _torch()
    module_name, builder = TORCH_ARCHITECTURES[spec.architecture]
    return getattr(importlib.import_module(module_name), builder)().eval()


def checkpoint_path(name: str, *, sha256: Optional[str] = None, progress: bool = True) -> Path:
    """The checkpoint file of table row ``name``: ``$EDGEMATTE_WEIGHTS``, the cache, or a verified download.

    ``sha256`` pins the expected digest when the table has none (no upstream publishes one):
    with it, a missing file is downloaded from the row's URL and checked against it.
    """
    spec = get_spec(name)
    if not spec.checkpoints:
        raise ModelError(f"model {name!r} has no checkpoint in the table; expected an explicit checkpoint path")
    ckpt = spec.checkpoints[0]
    digest = sha256 or ckpt.sha256
    try:
        return resolve_weights(ckpt.filename, subdir=spec.weights_subdir, url=ckpt.url, sha256=digest,
                               progress=progress)
    except ModelError as exc:
        if digest and ckpt.url:
            raise
        page = spec.extra.get("download_page", "the upstream project")
        use = "as the model (Matter(PATH) / --model PATH)" if spec.architecture == "rvm" else (
            "(checkpoint=PATH / --checkpoint PATH)")
        unpublished = f"No sha256 is published for {ckpt.filename}: " if ckpt.url else ""
        raise ModelError(
            f"{exc}. {unpublished}get it from {page} and pass its path {use}, place it at "
            f"$EDGEMATTE_WEIGHTS/{spec.weights_subdir}/{ckpt.filename}, or pin the sha256 of a copy you trust "
            f"with edgematte.models.checkpoint_path({name!r}, sha256=...)"
        ) from exc


def state_dict_from_file(path: PathLike) -> Dict[str, "object"]:
    """Read a checkpoint (tensors only: ``weights_only=True``) as {key: tensor}, ``module.`` stripped.

    A missing, truncated or foreign file raises ModelError naming the file.
    """
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"received checkpoint path {str(path)!r}, which is not a file; expected a .pth/.ckpt file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError, zipfile.BadZipFile, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"could not read {str(path)!r} as a PyTorch checkpoint ({first_line}); expected a complete "
            "state_dict file saved by torch.save (the file may be truncated or of another format)"
        ) from exc
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise ModelError(
            f"{str(path)!r} holds a {type(obj).__name__}, not a state_dict; expected a mapping of parameter "
            "names to tensors"
        )
    return _strip_prefix(obj, "module.")


def _strip_prefix(state: Mapping[str, "object"], prefix: str) -> Dict[str, "object"]:
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in state.items()}


def _first(keys: List[str]) -> str:
    shown = ", ".join(repr(k) for k in keys[:_SHOWN])
    return f"{shown}{' ...' if len(keys) > _SHOWN else ''} ({len(keys)} in all)"


def match_state_dict(model, state: Mapping[str, "object"], *, what: str) -> Dict[str, "object"]:
    """``state`` checked against ``model.state_dict()``: same keys and shapes, or ModelError.

    Returns the state with BatchNorm step counters filled in where an old checkpoint lacks them.
    """
    expected = model.state_dict()
    state = dict(state)
    missing = [k for k in expected if k not in state and not k.endswith(_OPTIONAL_SUFFIX)]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing keys {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_first(unexpected)}")
    if wrong:
        k = wrong[0]
        problems.append(
            f"shape mismatch for {len(wrong)} keys, first {k!r}: got {tuple(state[k].shape)}, "
            f"expected {tuple(expected[k].shape)}"
        )
    if problems:
        raise ModelError(f"{what} does not fit the architecture: " + "; ".join(problems))
    for k, v in expected.items():
        state.setdefault(k, v.clone())  # only num_batches_tracked can be absent here
    return state


def load(name: str, checkpoint: Optional[PathLike] = None):
    """Table model ``name`` ("modnet", "modnet-webcam", "u2net", "u2net-human-seg", "u2netp") in eval mode.

    ``checkpoint``: a state_dict file in the official key layout (a ``module.`` prefix is
    stripped); None finds the row's file via :func:`checkpoint_path`. The module maps
    src [N,3,H,W] float32 RGB 0..1 -> alpha [N,1,H,W] float32 0..1, normalising inside.
    Raises ModelError for a missing, truncated or foreign file and for any key/shape mismatch.
    """
    model = build(name)
    path = Path(checkpoint) if checkpoint is not None else checkpoint_path(name)
    state = match_state_dict(model, state_dict_from_file(path), what=f"checkpoint {str(path)!r} for {name!r}")
    model.load_state_dict(state, strict=True)
    return model.eval()
