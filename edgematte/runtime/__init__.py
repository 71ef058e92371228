"""Inference backends behind one interface; ``open_backend`` picks one by name.

Backends are imported only when asked for, so a CPU-only machine never imports TensorRT.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import InputError
from .base import Backend, check_feed

__all__ = ["Backend", "check_feed", "open_backend", "BACKENDS"]

#: kind -> "module:Class", imported lazily.
BACKENDS = {
    "ort-cpu": "edgematte.runtime.ort_cpu:OrtCpuBackend",
    "tensorrt": "edgematte.runtime.trt:TrtBackend",
}


def open_backend(kind: str, path: Any, **options: Any) -> Backend:
    """Construct and open the backend ``kind`` on the model file at ``path``."""
    try:
        target = BACKENDS[kind]
    except KeyError:
        raise InputError(f"received backend kind {kind!r}; expected one of {sorted(BACKENDS)}") from None
    module_name, class_name = target.split(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class(path, **options).open()
