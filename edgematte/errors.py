"""Exception hierarchy of edgematte.

Every error raised for a user's mistake or environment derives from
:class:`EdgematteError`. Messages say what was received, then what was expected.
Internal bugs are ``AssertionError``/:class:`InternalError`, never an ``EdgematteError``.
"""

from __future__ import annotations

__all__ = [
    "EdgematteError",
    "InputError",
    "BackendUnavailableError",
    "ModelError",
    "ExportError",
    "EngineBuildError",
    "EngineCacheMismatch",
    "KernelError",
    "OutputError",
    "InternalError",
]


class EdgematteError(Exception):
    """Root of every error edgematte raises on purpose."""


class InputError(EdgematteError, ValueError):
    """An argument has the wrong type, dtype, shape, channel count, range or value."""


class BackendUnavailableError(EdgematteError, ImportError):
    """An optional dependency (onnxruntime, torch, tensorrt, pycuda, ...) is missing.

    The message names the pip extra that installs it.
    """


class ModelError(EdgematteError):
    """A model or checkpoint file is missing, truncated, foreign or does not match its architecture."""


class ExportError(EdgematteError):
    """Exporting or checking an ONNX model failed (including failed numerical parity)."""


class EngineBuildError(EdgematteError):
    """TensorRT could not parse an ONNX model or build an engine from it."""


class EngineCacheMismatch(EdgematteError):
    """A serialized engine was built for another GPU, TensorRT version or ONNX file."""


class KernelError(EdgematteError):
    """A native kernel reported a failure status (allocation, launch, ...)."""


class OutputError(EdgematteError):
    """An output file could not be written (disk full, read-only, no permission, encoder or muxer failure).

    The message names the user's path and the cause; the destination is left as it was.
    """


class InternalError(Exception):
    """A bug in edgematte itself. Deliberately not an EdgematteError."""
