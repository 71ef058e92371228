"""Test fixture: zoo checkpoints with random weights in the official file layout."""

from __future__ import annotations

from pathlib import Path

from edgematte.files import PathLike
from edgematte.models import build, get_spec


def random_checkpoint(name: str, path: PathLike, *, seed: int = 0, legacy_format: bool = False) -> Path:
    """Write a checkpoint of table row ``name`` with random weights, in the official file layout.

    Same keys (with the row's ``key_prefix``, e.g. ``module.``), shapes and dtypes as the
    upstream release; the values are random but of trained-network scale (conv weights with
    variance 1/fan_in, BatchNorm gamma and running variance in 0.5..1.5, small biases and
    means), so the toolchain can be exercised end to end without the real weights.
    ``legacy_format`` writes the pre-1.6 pickle format the older releases use.
    """
    import torch

    model = build(name)
    generator = torch.Generator().manual_seed(seed)
    state = {}
    shared = {}  # MODNet's backbone appears under two names: one tensor, one random value
    for key, value in model.state_dict().items():
        if value.data_ptr() in shared:
            state[key] = shared[value.data_ptr()]
            continue
        original, value = value, value.clone()
        if value.is_floating_point():
            if key.endswith(("running_mean", "bias")):
                value = torch.randn(value.shape, generator=generator) * 0.1
            elif key.endswith("running_var") or value.dim() == 1:
                value = torch.rand(value.shape, generator=generator) + 0.5
            else:
                bound = (3.0 / value[0].numel()) ** 0.5
                value = (torch.rand(value.shape, generator=generator) * 2 - 1) * bound
        state[key] = shared[original.data_ptr()] = value
    prefix = get_spec(name).extra.get("key_prefix", "")
    path = Path(path)
    torch.save({prefix + k: v for k, v in state.items()}, path, _use_new_zipfile_serialization=not legacy_format)
    return path
