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

__all__ = ["check_onnx", "run_onnx", "diff_stats", "MAX_OPSET"]

PathLike = Union[str, "os.PathLike[str]"]
MAX_OPSET = 17


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
    opsets = {entry.domain or "ai.onnx": entry.version for entry in model.opset_import}
    if opsets.get("ai.onnx", 0) > max_opset:
        raise ExportError(f"{path} uses opset {opsets['ai.onnx']}; expected <= {max_opset} (TensorRT 8.5/8.6 limit)")
    foreign = sorted(d for d in opsets if d.startswith("pkg.onnxscript"))
    if foreign:
        raise ExportError(f"{path} holds dynamo-exporter functions {foreign}; expected a TorchScript-exported graph")
    _check_io(model, path)
    return model


def _check_io(model, path: str) -> None:
    onnx = _onnx()
    initializers = {init.name for init in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    outputs = list(model.graph.output)
    for kind, values, name, channels in (("input", inputs, "src", 3), ("output", outputs, "alpha", 1)):
        got = [v.name for v in values]
        if got != [name]:
            raise ExportError(f"{path} has {kind}s {got}; expected exactly one {kind} named {name!r}")
        tensor = values[0].type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if tensor.elem_type != onnx.TensorProto.FLOAT or len(dims) != 4 or dims[1] != channels:
            raise ExportError(
                f"{path} {kind} {name!r} is {onnx.TensorProto.DataType.Name(tensor.elem_type)} {dims}; "
                f"expected FLOAT [N,{channels},H,W]"
            )


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
