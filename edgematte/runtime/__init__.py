"""Inference backends behind one interface; ``open_backend`` picks one by name.

Backends are imported only when asked for, so a CPU-only machine never imports TensorRT.
``EDGEMATTE_BACKEND`` (``auto``, ``ort-cpu`` or ``tensorrt``) is what ``backend="auto"`` means;
``ort-cpu`` there skips TensorRT quietly.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import threading
from typing import Any

from ..errors import InputError
from .base import Backend, check_feed

__all__ = ["Backend", "check_feed", "open_backend", "BACKENDS", "auto_backend", "log_fallback", "tensorrt_installed"]

log = logging.getLogger("edgematte")

#: kind -> "module:Class", imported lazily.
BACKENDS = {
    "ort-cpu": "edgematte.runtime.ort_cpu:OrtCpuBackend",
    "tensorrt": "edgematte.runtime.trt:TrtBackend",
}


def open_backend(kind: str, path: Any, **options: Any) -> Backend:
    """Construct and open the backend ``kind`` on the model file at ``path`` (for "tensorrt", a list of engines
    of one model, one per frame size, opens as one :class:`~edgematte.runtime.trt.TrtEngineSet`)."""
    try:
        target = BACKENDS[kind]
    except KeyError:
        raise InputError(f"received backend kind {kind!r}; expected one of {sorted(BACKENDS)}") from None
    module_name, class_name = target.split(":")
    module = importlib.import_module(module_name)
    if isinstance(path, (list, tuple)):
        return module.TrtEngineSet(path, **options).open()
    return getattr(module, class_name)(path, **options).open()


def auto_backend() -> str:
    """What ``backend="auto"`` means here: ``EDGEMATTE_BACKEND`` if set, else ``"auto"``
    (TensorRT, falling back to ONNX Runtime on the CPU)."""
    kind = os.environ.get("EDGEMATTE_BACKEND", "").strip() or "auto"
    if kind != "auto" and kind not in BACKENDS:
        raise InputError(f"received EDGEMATTE_BACKEND={kind!r}; expected one of {['auto'] + sorted(BACKENDS)}")
    return kind


_fallback_logged = threading.Event()


def log_fallback(reason: BaseException) -> None:
    """Say why ``auto`` runs on ONNX Runtime instead of TensorRT.

    Where TensorRT is not installed at all (no ``tensorrt`` module, not a Jetson, whose TensorRT ships
    with the system) nothing was tried, so this is a debug line. Where it is installed but cannot start
    (pycuda missing, no GPU, a driver too old, a broken install) it is a warning, once per process;
    later fallbacks log at debug.
    """
    if not tensorrt_installed():
        log.debug("TensorRT is not installed, so edgematte runs on ONNX Runtime on the CPU (%s)", reason)
        return
    if _fallback_logged.is_set():
        log.debug("TensorRT unavailable again: %s", reason)
        return
    _fallback_logged.set()
    log.warning(
        "TensorRT could not start, so edgematte runs on ONNX Runtime on the CPU (set EDGEMATTE_BACKEND=ort-cpu "
        "or pass backend='ort-cpu' to skip TensorRT quietly). Reason: %s",
        reason,
    )


def tensorrt_installed() -> bool:
    """True when this Python finds a ``tensorrt`` module (without importing it), or on a Jetson."""
    from .trt_env import is_jetson

    try:
        found = importlib.util.find_spec("tensorrt") is not None
    except (ImportError, ValueError):  # a broken parent entry or a module without a spec in sys.modules
        found = True
    return found or is_jetson()
