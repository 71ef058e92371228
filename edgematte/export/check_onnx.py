"""Checks of an exported matting graph: ONNX validity, the I/O contract, and running it in ONNX Runtime.

The contract every exported model keeps: one input ``src`` float32 [N,3,H,W] (RGB 0..1) and
one output ``alpha`` float32 [N,1,H,W] (0..1), opset <= 17 in the default domain (TensorRT
8.5/8.6 parse up to 17) and no ``pkg.onnxscript`` functions (dynamo-exporter output).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import BackendUnavailableError, ExportError
from .onnx_prereq import graph_io, graph_opset, opset_limit

__all__ = ["check_onnx", "run_onnx", "diff_stats", "MAX_OPSET"]

PathLike = Union[str, "os.PathLike[str]"]
#: the highest opset TensorRT 8.5 (JetPack 5) parses: 17
MAX_OPSET = opset_limit("8.5")[0]


def _onnx():
    try:
        import onnx
    except ImportError as exc:  # onnx is a core dependency; keep the message useful anyway
        raise BackendUnavailableError(f"onnx is not installed ({exc}); expected it: pip install edgematte") from exc
    return onnx


def check_onnx(path: PathLike, *, max_opset: int = MAX_OPSET):
    """Validate the ONNX file at ``path`` and return it with inferred shapes (onnx.ModelProto).

    Runs ``onnx.checker`` (full check), strict shape inference, then checks the I/O contract.
    Raises ExportError naming the first problem.
    """
    onnx = _onnx()
    path = os.fspath(path)
    try:
        onnx.checker.check_model(path, full_check=True)
        model = onnx.shape_inference.infer_shapes(onnx.load(path), check_type=True, strict_mode=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{path} is not a valid ONNX model: {exc}") from exc
    opset = graph_opset(model)
    if opset > max_opset:
        raise ExportError(f"{path} uses opset {opset}; expected <= {max_opset} (TensorRT 8.5/8.6 limit)")
    foreign = sorted({o.domain for o in model.opset_import if o.domain.startswith("pkg.onnxscript")})
    if foreign:
        raise ExportError(f"{path} holds dynamo-exporter functions {foreign}; expected a TorchScript-exported graph")
    inputs, outputs = graph_io(model)
    for kind, specs, name, channels in (("input", inputs, "src", 3), ("output", outputs, "alpha", 1)):
        if [spec.name for spec in specs] != [name]:
            raise ExportError(f"{path} has {kind}s {[spec.name for spec in specs]}; expected exactly one named {name!r}")
        spec = specs[0]
        if spec.dtype != "float32" or len(spec.shape) != 4 or spec.shape[1] != channels:
            raise ExportError(
                f"{path} {kind} {name!r} is {spec.dtype} {list(spec.shape)}; expected float32 [N,{channels},H,W]"
            )
    return model


def run_onnx(path_or_bytes: Union[PathLike, bytes], src: np.ndarray, *, threads: Optional[int] = None) -> np.ndarray:
    """``alpha`` from ONNX Runtime (CPU) for ``src`` [N,3,H,W] float32 0..1."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailableError(f"onnxruntime is not installed ({exc}); expected it: pip install edgematte") from exc
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    model = path_or_bytes if isinstance(path_or_bytes, bytes) else os.fspath(path_or_bytes)
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return session.run(["alpha"], {"src": np.ascontiguousarray(src, dtype=np.float32)})[0]


def diff_stats(reference: np.ndarray, other: np.ndarray) -> Sequence[float]:
    """(max, mean) absolute difference; inf when shapes differ or a value is not finite."""
    if reference.shape != other.shape or not (np.isfinite(reference).all() and np.isfinite(other).all()):
        return (float("inf"), float("inf"))
    diff = np.abs(reference.astype(np.float64) - other.astype(np.float64))
    return (float(diff.max()), float(diff.mean()))
