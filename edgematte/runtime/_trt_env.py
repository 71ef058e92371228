"""The TensorRT/pycuda environment: lazy imports with a helpful error, the primary CUDA context,
the running GPU, and a logger that keeps TensorRT's errors for our exceptions.

Every import of ``tensorrt`` and ``pycuda`` in edgematte goes through this module.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Iterator, List

from ..errors import BackendUnavailableError
from ..export.cache import Target

__all__ = [
    "is_jetson",
    "missing_message",
    "import_tensorrt",
    "import_pycuda",
    "primary_context",
    "current_target",
    "make_logger",
]

log = logging.getLogger("edgematte.tensorrt")


def is_jetson() -> bool:
    """True on an NVIDIA Jetson (L4T writes /etc/nv_tegra_release)."""
    return Path("/etc/nv_tegra_release").exists()


def missing_message(module: str, exc: BaseException) -> str:
    """Why the TensorRT backend cannot start, and how to install what is missing."""
    head = f"the TensorRT backend needs the Python module {module!r}, which could not be imported ({exc})"
    if is_jetson():
        return (
            f"{head}. On Jetson, TensorRT comes from JetPack's apt packages (python3-libnvinfer), not from pip: "
            "use the system Python or a venv made with `python3 -m venv --system-site-packages`, and build pycuda "
            "there with `PATH=/usr/local/cuda/bin:$PATH pip install pycuda` (see README, Run on Jetson)."
        )
    return (
        f"{head}. Expected TensorRT and pycuda: install the extra with `pip install 'edgematte[trt]'` "
        "(pycuda builds from source and needs nvcc on PATH). On Jetson, use JetPack's apt TensorRT in a venv "
        "made with --system-site-packages instead."
    )


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailableError(missing_message("tensorrt", exc)) from exc
    return tensorrt


def import_pycuda() -> Any:
    """``pycuda.driver``, initialised. Never ``pycuda.autoinit``: it makes a non-primary context."""
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        raise BackendUnavailableError(missing_message("pycuda", exc)) from exc
    cuda.init()
    return cuda


@contextlib.contextmanager
def primary_context(cuda: Any, device: int = 0) -> Iterator[Any]:
    """Push the device's primary context (the one TensorRT, CuPy and torch use) for the block."""
    ctx = cuda.Device(device).retain_primary_context()
    ctx.push()
    try:
        yield ctx
    finally:
        cuda.Context.pop()
        ctx.detach()


def current_target(trt: Any, cuda: Any, device: int = 0) -> Target:
    """TensorRT version, GPU name and compute capability of ``device``."""
    dev = cuda.Device(device)
    major, minor = dev.compute_capability()
    return Target(str(trt.__version__), str(dev.name()), (int(major), int(minor)))


def make_logger(trt: Any) -> Any:
    """A ``trt.ILogger`` that forwards to Python logging and keeps error messages in ``.errors``."""
    severity = trt.ILogger.Severity
    errors = (severity.INTERNAL_ERROR, severity.ERROR)

    class _Logger(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: List[str] = []

        def log(self, level: Any, message: str) -> None:
            if level in errors:
                self.errors.append(message)
                log.error("%s", message)
            elif level == severity.WARNING:
                log.warning("%s", message)
            elif level == severity.INFO:
                log.debug("%s", message)

    return _Logger()
