"""Can TensorRT build this ONNX? Checks that need only the ``onnx`` package, run before any build.

They catch, on any machine, what would otherwise fail minutes into a build on a Jetson:
opset above what the target TensorRT parses (17 on 8.5/8.6, 20 on 10.0),
dynamo-exporter domains on TensorRT 8.x, dynamic inputs without a complete shape profile,
I/O dtypes TensorRT cannot bind, and an FP32 graph where strong typing needs an FP16 one
(TensorRT 10.12 and newer, see :func:`strongly_typed`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..errors import ExportError, InputError, ModelError
from ..types import TensorSpec
from ..runtime.engine_cache import ShapeRange
from ..weights import read_onnx
from .profiles import check_profiles

__all__ = [
    "OnnxReport",
    "load_graph",
    "graph_io",
    "graph_opset",
    "has_fp16",
    "opset_limit",
    "strongly_typed",
    "check_onnx_for_trt",
]

PathLike = Union[str, "os.PathLike[str]"]

#: (first TensorRT version, highest ONNX opset its parser accepts); reference §1.3.
_OPSET_LIMITS = (((8, 5), 17), ((10, 0), 20))
#: weak typing (BuilderFlag.FP16, layer precision) is deprecated from 10.12 and gone in 11
STRONG_TYPING_FROM = (10, 12)

#: ONNX TensorProto element type -> dtype name (explicit so bfloat16 needs no ml_dtypes).
_ELEM_TYPES = {
    1: "float32",
    2: "uint8",
    3: "int8",
    6: "int32",
    7: "int64",
    9: "bool",
    10: "float16",
    11: "float64",
    16: "bfloat16",
}
_BINDABLE = {"float32", "float16", "int32", "int8", "uint8", "bool", "int64", "bfloat16"}
_FLOAT16 = 10


@dataclass(frozen=True)
class OnnxReport:
    """What the checks learnt: I/O, opset, whether the graph holds FP16, the completed profile."""

    path: str
    opset: int
    inputs: Tuple[TensorSpec, ...]
    outputs: Tuple[TensorSpec, ...]
    fp16_graph: bool
    profiles: Dict[str, ShapeRange]
    warnings: Tuple[str, ...] = field(default=())


def load_graph(path: PathLike):
    """Load an ONNX file without its external weights (the checks need only the graph)."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"received ONNX path {str(path)!r}, which is not a file; expected an existing .onnx file")
    return read_onnx(path)


def _dtype_name(elem_type: int) -> str:
    return _ELEM_TYPES.get(elem_type, f"onnx-type-{elem_type}")


def _spec(value_info) -> TensorSpec:
    tensor = value_info.type.tensor_type
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tensor.shape.dim)
    return TensorSpec(value_info.name, dims, _dtype_name(tensor.elem_type))


def graph_io(model) -> Tuple[Tuple[TensorSpec, ...], Tuple[TensorSpec, ...]]:
    """(inputs, outputs) of the main graph; initializers listed as inputs are not inputs."""
    weights = {init.name for init in model.graph.initializer}
    inputs = tuple(_spec(v) for v in model.graph.input if v.name not in weights)
    return inputs, tuple(_spec(v) for v in model.graph.output)


def graph_opset(model) -> int:
    """The default-domain (ai.onnx) opset."""
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ModelError("received an ONNX model without a default-domain opset_import; expected one (ai.onnx)")


def has_fp16(model) -> bool:
    """True if the graph holds FP16 tensors (FP16 ONNX from `export --fp16` / AutoCast)."""
    graph = model.graph
    if any(t.data_type == _FLOAT16 for t in graph.initializer):
        return True
    if any(
        v.type.tensor_type.elem_type == _FLOAT16
        for v in list(graph.input) + list(graph.output) + list(graph.value_info)
    ):
        return True
    for node in graph.node:
        if node.op_type == "Cast" and any(a.name == "to" and a.i == _FLOAT16 for a in node.attribute):
            return True
    return False


def _version_tuple(version: Union[str, Sequence[int]]) -> Tuple[int, int]:
    if isinstance(version, str):
        parts = version.split(".")
        try:
            return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
        except ValueError:
            raise InputError(f"received TensorRT version {version!r}; expected MAJOR.MINOR such as 8.6") from None
    return int(version[0]), int(version[1]) if len(version) > 1 else 0


def strongly_typed(trt_version: Union[str, Sequence[int]]) -> bool:
    """True where edgematte builds strongly typed networks: TensorRT 10.12 and newer (weak typing is
    deprecated there and removed in 11), so an FP16 engine needs an FP16 ONNX."""
    return _version_tuple(trt_version) >= STRONG_TYPING_FROM


def opset_limit(trt_version: Union[str, Sequence[int]]) -> Tuple[int, bool]:
    """(highest opset the parser of ``trt_version`` accepts, whether that limit is exact).

    Exact for 8.5/8.6 and 10.0; newer 10.x/11.x parsers accept more, so 20 is only a floor there.
    """
    version = _version_tuple(trt_version)
    if version < _OPSET_LIMITS[0][0]:
        raise InputError(f"received TensorRT {trt_version}; expected 8.5 or newer (edgematte's floor)")
    limit = max(max_opset for first, max_opset in _OPSET_LIMITS if version >= first)
    return limit, version < (10, 1)


def check_onnx_for_trt(
    onnx_path: PathLike,
    *,
    trt_version: Optional[Union[str, Sequence[int]]] = None,
    shapes: Optional[Mapping[str, ShapeRange]] = None,
    fp16: bool = False,
    strongly_typed: bool = False,
) -> OnnxReport:
    """Check an ONNX file against TensorRT's prerequisites; raise ExportError listing every problem.

    ``trt_version``: the target TensorRT ("8.6", "10.3"); None skips the version-specific checks.
    ``shapes``: ``{input: (min, opt, max)}`` for dynamic inputs. ``strongly_typed``: the target builds
    strongly typed networks (:func:`strongly_typed` of its version), so ``fp16`` needs an FP16 graph.
    """
    model = load_graph(onnx_path)
    inputs, outputs = graph_io(model)
    opset = graph_opset(model)
    fp16_graph = has_fp16(model)
    problems: List[str] = []
    warnings: List[str] = []
    version = _version_tuple(trt_version) if trt_version is not None else None

    if version is not None:
        limit, exact = opset_limit(version)
        if opset > limit and exact:
            problems.append(
                f"opset {opset} is above {limit}, the highest the TensorRT {version[0]}.{version[1]} parser accepts; "
                "re-export with opset_version=17 and dynamo=False"
            )
        elif opset > limit:
            warnings.append(f"opset {opset} is above 20 (TensorRT 10.0's limit); check the parser's operators.md")
    if opset < 11:
        warnings.append(f"opset {opset} is below 11: Resize does not match PyTorch's align_corners/half-pixel modes")

    domains = sorted({n.domain for n in model.graph.node} | {o.domain for o in model.opset_import})
    dynamo = [d for d in domains if d.startswith("pkg.onnxscript")]
    if dynamo:
        message = f"domains {dynamo} come from the dynamo exporter"
        if version is not None and version < (10, 0):
            problems.append(message + "; TensorRT 8.x cannot parse them: export with dynamo=False")
        else:
            warnings.append(message + "; TensorRT 8.x cannot parse them")
    custom = [
        d
        for d in {n.domain for n in model.graph.node}
        if d not in ("", "ai.onnx") and not d.startswith("pkg.onnxscript")
    ]
    if custom:
        warnings.append(f"nodes in domains {sorted(custom)} need TensorRT plugins of the same names")

    for spec in inputs + outputs:
        if spec.dtype not in _BINDABLE:
            problems.append(
                f"tensor {spec.name!r} has dtype {spec.dtype}; TensorRT binds float32/float16/int32/int8/uint8/bool"
            )
        elif spec.dtype == "int64" and version is not None and version < (10, 0):
            problems.append(
                f"tensor {spec.name!r} is int64; TensorRT {version[0]}.{version[1]} binds int32 (int64 I/O needs 10.0+)"
            )

    profiles: Dict[str, ShapeRange] = {}
    try:
        profiles = check_profiles(inputs, shapes or {})
    except InputError as exc:
        problems.append(str(exc))

    if fp16 and strongly_typed and not fp16_graph:
        problems.append(
            "FP16 was asked for, but TensorRT >= 10.12 builds strongly typed networks and the graph holds no FP16 "
            "tensors; build from the FP16 ONNX that `edgematte export MODEL --fp16` writes"
        )

    if problems:
        raise ExportError(f"{onnx_path} is not ready for TensorRT: " + "; ".join(problems))
    return OnnxReport(str(onnx_path), opset, inputs, outputs, fp16_graph, profiles, tuple(warnings))
