"""The TensorRT/pycuda environment shared by the builder and the runtime: lazy imports with a
helpful error, the primary CUDA context, the running GPU, a logger that keeps TensorRT's errors,
and the checks that turn TensorRT's failed factories into edgematte errors.

Every import of ``tensorrt`` and ``pycuda`` in edgematte goes through this module. A CUDA or
TensorRT start-up failure of any kind (module missing, ``cuInit failed: no CUDA-capable device``,
a driver too old for TensorRT) surfaces as :class:`BackendUnavailableError`, so ``backend="auto"``
can fall back and the CLI prints one line.

Contexts: edgematte runs TensorRT in the device's *primary* context, the one the CUDA runtime
(TensorRT itself, CuPy, torch) makes current. It is retained once per device and process and
released at exit, so no backend owns a retain that a ``close()`` on another thread could leak.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple, Type

from ..errors import BackendUnavailableError, EdgematteError
from .engine_cache import Target

__all__ = [
    "is_jetson",
    "missing_message",
    "import_tensorrt",
    "import_pycuda",
    "trt_version",
    "primary_context",
    "pushed",
    "current_target",
    "make_logger",
    "create",
    "checked",
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
    except Exception as exc:  # a broken install: missing libnvinfer symbols raise OSError/RuntimeError
        raise BackendUnavailableError(f"TensorRT could not be loaded ({type(exc).__name__}: {exc})") from exc
    return tensorrt


def import_pycuda() -> Any:
    """``pycuda.driver``, initialised. Never ``pycuda.autoinit``: it makes a non-primary context.

    ``cuInit`` failing (no GPU, no driver, driver too old) raises pycuda's own RuntimeError, which
    is not an ImportError; it becomes BackendUnavailableError here.
    """
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        raise BackendUnavailableError(missing_message("pycuda", exc)) from exc
    try:
        cuda.init()
    except Exception as exc:  # pycuda._driver.Error and its RuntimeError/LogicError subclasses
        raise BackendUnavailableError(
            f"CUDA could not start ({type(exc).__name__}: {exc}); expected an NVIDIA GPU with a working driver"
        ) from exc
    return cuda


def trt_version(trt: Any) -> Tuple[int, int]:
    """(major, minor) of the imported TensorRT."""
    parts = str(trt.__version__).split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


_PRIMARY: Dict[int, Any] = {}
_PRIMARY_LOCK = threading.Lock()


def primary_context(cuda: Any, device: int = 0) -> Any:
    """The primary context of ``device``, retained once per process (released at exit).

    Failures to reach the device (no such device, driver errors) raise BackendUnavailableError.
    """
    with _PRIMARY_LOCK:
        ctx = _PRIMARY.get(device)
        if ctx is None:
            try:
                ctx = cuda.Device(device).retain_primary_context()
            except Exception as exc:  # pycuda.driver.Error subclasses
                raise BackendUnavailableError(
                    f"CUDA device {device} is unavailable ({type(exc).__name__}: {exc}); "
                    f"expected one of the {_device_count(cuda)} devices the driver reports"
                ) from exc
            _PRIMARY[device] = ctx
            atexit.register(_release_primary, ctx)
    return ctx


def _device_count(cuda: Any) -> str:
    try:
        return str(cuda.Device.count())
    except Exception:  # the count is only for the message
        return "?"


def _release_primary(ctx: Any) -> None:
    with contextlib.suppress(Exception):  # at exit the driver may already be gone
        ctx.push()
        ctx.detach()  # detaching the pushed context releases the retain on any thread


@contextlib.contextmanager
def pushed(cuda: Any, ctx: Any) -> Iterator[Any]:
    """Make ``ctx`` current on this thread for the block (any thread may call this)."""
    ctx.push()
    try:
        yield ctx
    finally:
        cuda.Context.pop()


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


def _logged(logger: Any) -> str:
    errors = getattr(logger, "errors", None) or []
    return "; ".join(errors[-10:]) or "TensorRT logged no error"


def create(factory: Callable[..., Any], what: str, logger: Any, *args: Any) -> Any:
    """``factory(*args)`` for TensorRT's ``Builder``/``Runtime``/``OnnxParser``.

    Their bindings raise ``TypeError: pybind11::init(): factory function returned nullptr`` when
    TensorRT cannot start (no GPU, a driver too old for this TensorRT, a broken install); that
    becomes BackendUnavailableError carrying what TensorRT logged.
    """
    try:
        made = factory(*args)
    except TypeError as exc:
        if "nullptr" not in str(exc):
            raise
        made = None
    if made is None:
        raise BackendUnavailableError(
            f"TensorRT could not create its {what} ({_logged(logger)}); expected a GPU and driver this "
            "TensorRT supports (an old driver or a missing GPU looks like this)"
        )
    return made


def checked(value: Any, what: str, logger: Any, error: Type[EdgematteError]) -> Any:
    """``value`` unless TensorRT returned None for it; then ``error`` with TensorRT's logged errors."""
    if value is None:
        raise error(f"TensorRT returned no {what} ({_logged(logger)})")
    return value
