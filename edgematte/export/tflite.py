"""TFLite flatbuffer -> ONNX, for float image-to-mask models such as MediaPipe selfie segmentation.

The flatbuffer is read with the ``tflite`` package and the graph is written with
``onnx.helper``: opset 17, IR version 8, static shapes, NCHW layout. The ONNX input is
``src`` RGB float32 [1,3,H,W] 0..1 (the TFLite input tensor, [1,H,W,3], transposed) and
the output is ``alpha`` float32 [1,1,H,W]. Only operators that the TensorRT 8.6 ONNX
parser accepts are emitted (see ``TRT86_OPS``).

Every 4-D activation is NCHW in the ONNX graph; constants are transposed as they are
read. fp16 weights behind DEQUANTIZE become fp32 initializers. The op mapping is the
``CONVERTERS`` table at the end of this module: one small function per TFLite operator.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple, Union

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper
from tflite.utils import BUILTIN_OPCODE2NAME

from .._version import __version__
from ..errors import EdgematteError, ExportError
from ..files import atomic_path
from ..models.selfie import fetch_tflite
from ..weights import sha256_of

__all__ = ["tflite_to_onnx", "export_selfie", "CONVERTER_VERSION", "OPSET", "TRT86_OPS"]

#: bump when the emitted graph changes, so cached conversions are rebuilt
CONVERTER_VERSION = 1
OPSET = 17
IR_VERSION = 8  # the IR of opset 17; older ONNX Runtime and TensorRT parsers reject newer IRs

#: ONNX operators this converter may emit; all are in the TensorRT 8.6 ONNX parser's support matrix.
TRT86_OPS = frozenset(
    {"Conv", "ConvTranspose", "AveragePool", "GlobalAveragePool", "ReduceMean", "Resize",
     "Relu", "Clip", "Sigmoid", "HardSigmoid", "Add", "Mul"}
)

_NUMPY_TYPES = {
    tflite.TensorType.FLOAT32: np.float32,
    tflite.TensorType.FLOAT16: np.float16,
    tflite.TensorType.INT32: np.int32,
    tflite.TensorType.INT64: np.int64,
    tflite.TensorType.UINT8: np.uint8,
    tflite.TensorType.INT8: np.int8,
}
_NHWC_TO_NCHW = (0, 3, 1, 2)
_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}  # NHWC axis -> NCHW axis
_CUSTOM_PADDING = {1: "SAME", 2: "VALID"}  # TfLitePadding enum in MediaPipe custom options


class _Op(NamedTuple):
    index: int
    name: str
    inputs: Tuple[int, ...]  # tensor indices, -1 for an omitted optional input
    outputs: Tuple[int, ...]
    raw: "tflite.Operator"

    def options(self, cls):
        table = self.raw.BuiltinOptions()
        if table is None:
            raise ExportError(f"operator #{self.index} {self.name} has no builtin options; expected {cls.__name__}")
        opts = cls()
        opts.Init(table.Bytes, table.Pos)
        return opts

    def custom_options(self) -> bytes:
        return b"" if self.raw.CustomOptionsIsNone() else self.raw.CustomOptionsAsNumpy().tobytes()


class _Graph:
    """Conversion state: TFLite tensors on one side, ONNX nodes and initializers on the other."""

    def __init__(self, model: "tflite.Model", buf: bytes):
        self.model = model
        self.sub = model.Subgraphs(0)
        self.buf = buf
        self.constants: Dict[int, np.ndarray] = {}  # tensor index -> array in TFLite (NHWC) layout
        self.names: Dict[int, str] = {}
        self.nodes: List[onnx.NodeProto] = []
        self.initializers: List[onnx.TensorProto] = []
        self._values: Set[str] = set()  # value (tensor) names and node names are separate namespaces
        self._nodes: Set[str] = set()

    # -- TFLite side
    def tensor(self, i: int) -> "tflite.Tensor":
        return self.sub.Tensors(i)

    def shape(self, i: int) -> Tuple[int, ...]:
        t = self.tensor(i)
        return tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()

    def tensor_name(self, i: int) -> str:
        return self.tensor(i).Name().decode("utf-8", "replace")

    def constant(self, i: int) -> Optional[np.ndarray]:
        """The tensor's value in TFLite layout, or None for a runtime tensor."""
        if i in self.constants:
            return self.constants[i]
        t = self.tensor(i)
        buffer = self.model.Buffers(t.Buffer())
        if buffer.Offset() > 1:  # large models keep data after the flatbuffer
            data = self.buf[buffer.Offset(): buffer.Offset() + buffer.Size()]
        elif buffer.DataLength() > 0:
            data = buffer.DataAsNumpy().tobytes()
        else:
            return None
        dtype = _NUMPY_TYPES.get(t.Type())
        if dtype is None:
            raise ExportError(f"constant {self.tensor_name(i)!r} has TFLite type {t.Type()}; expected one of "
                              f"{sorted(_NUMPY_TYPES)}")
        array = np.frombuffer(data, dtype=dtype).reshape(self.shape(i))
        self.constants[i] = array
        return array

    def require_constant(self, i: int, what: str) -> np.ndarray:
        array = self.constant(i) if i >= 0 else None
        if array is None:
            raise ExportError(f"{what} is a runtime tensor or missing; expected a constant")
        return array

    # -- ONNX side
    def unique(self, hint: str, used: Optional[Set[str]] = None) -> str:
        """A value name (or, with ``used``, a name in that namespace) not taken yet."""
        used = self._values if used is None else used
        name, k = hint, 1
        while name in used:
            name, k = f"{hint}_{k}", k + 1
        used.add(name)
        return name

    def name(self, i: int) -> str:
        """ONNX name of runtime tensor ``i``: a float32 4-D activation, NCHW in the ONNX graph."""
        if i not in self.names:
            t = self.tensor(i)
            if t.Type() != tflite.TensorType.FLOAT32 or len(self.shape(i)) != 4:
                raise ExportError(
                    f"tensor {self.tensor_name(i)!r} is type {t.Type()} shape {list(self.shape(i))}; "
                    "expected float32 rank-4 activations (quantized or non-image graphs are not supported)"
                )
            self.names[i] = self.unique(self.tensor_name(i) or f"t{i}")
        return self.names[i]

    def add_initializer(self, array: np.ndarray, hint: str) -> str:
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def operand(self, i: int) -> str:
        """Name of an elementwise operand; constants are laid out to broadcast against NCHW."""
        array = self.constant(i)
        if array is None:
            return self.name(i)
        if array.ndim == 4:
            array = array.transpose(_NHWC_TO_NCHW)
        elif array.ndim == 1:
            array = array.reshape(1, -1, 1, 1)
        elif array.ndim != 0:
            raise ExportError(f"constant {self.tensor_name(i)!r} has shape {list(array.shape)}; "
                              "expected a scalar, a per-channel vector or a 4-D NHWC tensor")
        return self.add_initializer(array.astype(np.float32), self.tensor_name(i))

    def add_node(self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], **attrs) -> None:
        assert op_type in TRT86_OPS, op_type
        name = self.unique(outputs[0], self._nodes)
        self.nodes.append(helper.make_node(op_type, list(inputs), list(outputs), name=name, **attrs))

    def emit(self, op_type: str, inputs: Sequence[str], out: int, activation: int = 0, **attrs) -> None:
        """Add ``op_type`` writing TFLite tensor ``out``, followed by its fused activation."""
        if activation == tflite.ActivationFunctionType.NONE:
            self.add_node(op_type, inputs, [self.name(out)], **attrs)
            return
        fused = _FUSED_ACTIVATIONS.get(activation)
        if fused is None:
            raise ExportError(f"fused activation {activation} on {self.tensor_name(out)!r}; expected one of "
                              f"{sorted(_FUSED_ACTIVATIONS)} (ActivationFunctionType)")
        pre = self.unique(self.name(out) + "/pre_activation")
        self.add_node(op_type, inputs, [pre], **attrs)
        fused(self, pre, self.name(out))


# ---------------------------------------------------------------------------------------------
# helpers


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> Tuple[int, int]:
    """TensorFlow SAME padding (begin, end) for one spatial axis; the extra pixel goes at the end."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _pads(padding: int, in_hw: Sequence[int], kernel_hw: Sequence[int], strides: Sequence[int],
          dilations: Sequence[int] = (1, 1)) -> List[int]:
    """ONNX pads [top, left, bottom, right] for a TFLite Padding value (SAME or VALID)."""
    if padding == tflite.Padding.VALID:
        return [0, 0, 0, 0]
    if padding != tflite.Padding.SAME:
        raise ExportError(f"received TFLite padding {padding}; expected SAME ({tflite.Padding.SAME}) "
                          f"or VALID ({tflite.Padding.VALID})")
    top, bottom = _same_pads(in_hw[0], kernel_hw[0], strides[0], dilations[0])
    left, right = _same_pads(in_hw[1], kernel_hw[1], strides[1], dilations[1])
    return [top, left, bottom, right]


def _relu(g: _Graph, x: str, y: str) -> None:
    g.add_node("Relu", [x], [y])


def _clip(low: float, high: float):
    def clip(g: _Graph, x: str, y: str) -> None:
        lo = g.add_initializer(np.array(low, np.float32), f"{y}/min")
        hi = g.add_initializer(np.array(high, np.float32), f"{y}/max")
        g.add_node("Clip", [x, lo, hi], [y])

    return clip


_FUSED_ACTIVATIONS: Dict[int, Callable[[_Graph, str, str], None]] = {
    tflite.ActivationFunctionType.RELU: _relu,
    tflite.ActivationFunctionType.RELU6: _clip(0.0, 6.0),
    tflite.ActivationFunctionType.RELU_N1_TO_1: _clip(-1.0, 1.0),
    # TANH is left out: LiteRT's output for a conv with fused TANH did not match tanh(conv) in the op tests.
}


def _bias(g: _Graph, op: _Op, index: int) -> List[str]:
    if len(op.inputs) <= index or op.inputs[index] < 0:
        return []
    b = g.require_constant(op.inputs[index], f"{op.name} #{op.index} bias")
    return [g.add_initializer(b.astype(np.float32).reshape(-1), g.tensor_name(op.inputs[index]))]


# ---------------------------------------------------------------------------------------------
# one function per TFLite operator


def _conv_2d(g: _Graph, op: _Op) -> None:
    o = op.options(tflite.Conv2DOptions)
    x, out = op.inputs[0], op.outputs[0]
    w = g.require_constant(op.inputs[1], f"CONV_2D #{op.index} weights")  # OHWI
    if w.shape[3] != g.shape(x)[3]:
        raise ExportError(f"CONV_2D #{op.index} has {g.shape(x)[3]} input channels and weights {list(w.shape)}; "
                          "expected ungrouped weights [O,H,W,I] (grouped convolution is not supported)")
    strides, dilations = [o.StrideH(), o.StrideW()], [o.DilationHFactor(), o.DilationWFactor()]
    weights = g.add_initializer(w.astype(np.float32).transpose(_NHWC_TO_NCHW), g.tensor_name(op.inputs[1]))
    g.emit("Conv", [g.name(x), weights] + _bias(g, op, 2), out, o.FusedActivationFunction(),
           kernel_shape=list(w.shape[1:3]), strides=strides, dilations=dilations,
           pads=_pads(o.Padding(), g.shape(x)[1:3], w.shape[1:3], strides, dilations))


def _depthwise_conv_2d(g: _Graph, op: _Op) -> None:
    o = op.options(tflite.DepthwiseConv2DOptions)
    x, out = op.inputs[0], op.outputs[0]
    w = g.require_constant(op.inputs[1], f"DEPTHWISE_CONV_2D #{op.index} weights")  # [1,H,W,C*multiplier]
    channels = g.shape(x)[3]
    if w.shape[0] != 1 or w.shape[3] % channels:
        raise ExportError(f"DEPTHWISE_CONV_2D #{op.index} has weights {list(w.shape)} for {channels} channels; "
                          "expected [1,H,W,C*multiplier]")
    strides, dilations = [o.StrideH(), o.StrideW()], [o.DilationHFactor(), o.DilationWFactor()]
    weights = g.add_initializer(w.astype(np.float32).transpose(3, 0, 1, 2), g.tensor_name(op.inputs[1]))
    g.emit("Conv", [g.name(x), weights] + _bias(g, op, 2), out, o.FusedActivationFunction(),
           kernel_shape=list(w.shape[1:3]), strides=strides, dilations=dilations, group=channels,
           pads=_pads(o.Padding(), g.shape(x)[1:3], w.shape[1:3], strides, dilations))


def _dequantize(g: _Graph, op: _Op) -> None:
    """fp16 constant -> fp32 constant, folded at conversion time (no ONNX node)."""
    source = g.constant(op.inputs[0])
    if source is None or source.dtype != np.float16:
        raise ExportError(f"DEQUANTIZE #{op.index} reads {g.tensor_name(op.inputs[0])!r}; expected a float16 "
                          "constant (int8-quantized models are not supported)")
    g.constants[op.outputs[0]] = source.astype(np.float32)


def _binary(op_type: str, options_cls):
    def convert(g: _Graph, op: _Op) -> None:
        activation = op.options(options_cls).FusedActivationFunction()
        g.emit(op_type, [g.operand(i) for i in op.inputs[:2]], op.outputs[0], activation)

    convert.__name__ = f"_{op_type.lower()}"
    return convert


def _unary(op_type: str):
    def convert(g: _Graph, op: _Op) -> None:
        g.emit(op_type, [g.name(op.inputs[0])], op.outputs[0])

    convert.__name__ = f"_{op_type.lower()}"
    return convert


def _hard_swish(g: _Graph, op: _Op) -> None:
    """x * relu6(x + 3) / 6 as Mul(x, HardSigmoid(x)): HardSwish itself is opset 14 and not in TensorRT 8.x."""
    x = g.name(op.inputs[0])
    gate = g.unique(g.name(op.outputs[0]) + "/gate")
    g.add_node("HardSigmoid", [x], [gate], alpha=1.0 / 6.0, beta=0.5)
    g.emit("Mul", [x, gate], op.outputs[0])


def _is_global(g: _Graph, x: int, out: int, kernel_hw: Sequence[int]) -> bool:
    return tuple(kernel_hw) == g.shape(x)[1:3] and g.shape(out)[1:3] == (1, 1)


def _average_pool_2d(g: _Graph, op: _Op) -> None:
    o = op.options(tflite.Pool2DOptions)
    x, out = op.inputs[0], op.outputs[0]
    kernel, strides = [o.FilterHeight(), o.FilterWidth()], [o.StrideH(), o.StrideW()]
    if _is_global(g, x, out, kernel):
        g.emit("GlobalAveragePool", [g.name(x)], out, o.FusedActivationFunction())
        return
    # TFLite averages over the valid pixels only, like ONNX count_include_pad=0
    g.emit("AveragePool", [g.name(x)], out, o.FusedActivationFunction(), kernel_shape=kernel, strides=strides,
           pads=_pads(o.Padding(), g.shape(x)[1:3], kernel, strides), count_include_pad=0)


def _mean(g: _Graph, op: _Op) -> None:
    x, out = op.inputs[0], op.outputs[0]
    axes = sorted(int(a) % 4 for a in g.require_constant(op.inputs[1], f"MEAN #{op.index} axes").reshape(-1))
    if not op.options(tflite.ReducerOptions).KeepDims():
        raise ExportError(f"MEAN #{op.index} drops the reduced axes; expected keep_dims=True (rank-4 activations)")
    if axes == [1, 2]:
        g.emit("GlobalAveragePool", [g.name(x)], out)
    else:
        g.emit("ReduceMean", [g.name(x)], out, axes=[_NCHW_AXIS[a] for a in axes], keepdims=1)


def _resize_bilinear(g: _Graph, op: _Op) -> None:
    o = op.options(tflite.ResizeBilinearOptions)
    x, out = op.inputs[0], op.outputs[0]
    height, width = (int(v) for v in g.require_constant(op.inputs[1], f"RESIZE_BILINEAR #{op.index} size"))
    if o.AlignCorners() and o.HalfPixelCenters():
        raise ExportError(f"RESIZE_BILINEAR #{op.index} sets align_corners and half_pixel_centers; "
                          "expected at most one")
    mode = "align_corners" if o.AlignCorners() else "half_pixel" if o.HalfPixelCenters() else "asymmetric"
    n, _, _, c = g.shape(x)
    sizes = g.add_initializer(np.array([n, c, height, width], np.int64), g.name(out) + "/sizes")
    g.emit("Resize", [g.name(x), "", "", sizes], out, mode="linear", coordinate_transformation_mode=mode)


def _transpose_conv_bias(g: _Graph, op: _Op) -> None:
    """MediaPipe's ``Convolution2DTransposeBias``: transposed convolution plus bias.

    Inputs: data [N,H,W,I], weights [O,KH,KW,I], bias [O]. Custom options are the raw C struct
    TfLiteTransposeConvParams {padding (1 SAME, 2 VALID), stride_width, stride_height}. For SAME,
    MediaPipe crops ``max(0, k - (in - 1) % stride - 1)`` pixels, the smaller half at the start.
    """
    options = op.custom_options()
    if len(options) < 12:
        raise ExportError(f"Convolution2DTransposeBias #{op.index} has {len(options)} bytes of options; "
                          "expected 12 (padding, stride_width, stride_height)")
    padding, stride_w, stride_h = struct.unpack_from("<iii", options)
    if padding not in _CUSTOM_PADDING:
        raise ExportError(f"Convolution2DTransposeBias #{op.index} has padding {padding}; "
                          "expected 1 (SAME) or 2 (VALID)")
    x, out = op.inputs[0], op.outputs[0]
    w = g.require_constant(op.inputs[1], f"Convolution2DTransposeBias #{op.index} weights")  # OHWI
    pads = [0, 0, 0, 0]
    if _CUSTOM_PADDING[padding] == "SAME":
        (in_h, in_w), (kh, kw) = g.shape(x)[1:3], w.shape[1:3]
        total_h, total_w = max(0, kh - (in_h - 1) % stride_h - 1), max(0, kw - (in_w - 1) % stride_w - 1)
        pads = [total_h // 2, total_w // 2, total_h - total_h // 2, total_w - total_w // 2]
    weights = g.add_initializer(w.astype(np.float32).transpose(3, 0, 1, 2), g.tensor_name(op.inputs[1]))  # IOHW
    g.emit("ConvTranspose", [g.name(x), weights] + _bias(g, op, 2), out,
           kernel_shape=list(w.shape[1:3]), strides=[stride_h, stride_w], pads=pads)


#: TFLite operator (builtin name or custom code) -> converter
CONVERTERS: Dict[str, Callable[[_Graph, _Op], None]] = {
    "CONV_2D": _conv_2d,
    "DEPTHWISE_CONV_2D": _depthwise_conv_2d,
    "DEQUANTIZE": _dequantize,
    "ADD": _binary("Add", tflite.AddOptions),
    "MUL": _binary("Mul", tflite.MulOptions),
    "HARD_SWISH": _hard_swish,
    "RELU": _unary("Relu"),
    "LOGISTIC": _unary("Sigmoid"),
    "AVERAGE_POOL_2D": _average_pool_2d,
    "MEAN": _mean,
    "RESIZE_BILINEAR": _resize_bilinear,
    "Convolution2DTransposeBias": _transpose_conv_bias,
}


# ---------------------------------------------------------------------------------------------
# driver


def _op_name(model: "tflite.Model", raw: "tflite.Operator") -> str:
    code = model.OperatorCodes(raw.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        return (code.CustomCode() or b"").decode("utf-8", "replace")
    return BUILTIN_OPCODE2NAME.get(builtin, f"builtin#{builtin}")


def _read_model(buf: bytes, source: str) -> "tflite.Model":
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ExportError(f"{source} is not a TFLite flatbuffer (no TFL3 identifier); expected a .tflite file")
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise ExportError(f"{source} has {model.SubgraphsLength()} subgraphs; expected 1")
    return model


def _graph_io(g: _Graph, source: str) -> Tuple[int, int]:
    sub = g.sub
    if sub.InputsLength() != 1 or sub.OutputsLength() != 1:
        raise ExportError(f"{source} has {sub.InputsLength()} inputs and {sub.OutputsLength()} outputs; "
                          "expected 1 and 1")
    src, alpha = int(sub.Inputs(0)), int(sub.Outputs(0))
    if len(g.shape(src)) != 4 or g.shape(src)[0] != 1 or g.shape(src)[3] != 3:
        raise ExportError(f"{source} input has shape {list(g.shape(src))}; expected [1,H,W,3] RGB")
    if len(g.shape(alpha)) != 4 or g.shape(alpha)[3] != 1:
        raise ExportError(f"{source} output has shape {list(g.shape(alpha))}; expected [1,H,W,1] mask")
    g.names[src] = g.unique("src")
    g.names[alpha] = g.unique("alpha")
    g.name(src), g.name(alpha)  # type and rank checks
    return src, alpha


def _check_shapes(g: _Graph, model: onnx.ModelProto) -> None:
    """Every converted tensor must have the TFLite shape, transposed to NCHW."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    for i, name in g.names.items():
        if name == "src":
            continue
        expected = [g.shape(i)[a] for a in _NHWC_TO_NCHW]
        if shapes.get(name) != expected:
            raise ExportError(f"converted tensor {name!r} has shape {shapes.get(name)}; expected {expected} "
                              "(the TFLite shape in NCHW)")


#: what the flatbuffers reader raises on a truncated or damaged file (offsets past the end, bad numbers, absent tables)
_DAMAGED = (struct.error, TypeError, ValueError, AttributeError, IndexError, KeyError, ArithmeticError, MemoryError,
            RecursionError)


def _convert(buf: bytes, path: Path) -> onnx.ModelProto:
    """The flatbuffer ``buf`` (read from ``path``) converted and checked; see :func:`tflite_to_onnx`."""
    model_fb = _read_model(buf, str(path))
    g = _Graph(model_fb, buf)
    src, alpha = _graph_io(g, str(path))
    for index in range(g.sub.OperatorsLength()):
        raw = g.sub.Operators(index)
        name = _op_name(model_fb, raw)
        convert = CONVERTERS.get(name)
        if convert is None:
            raise ExportError(f"{path.name}: operator #{index} {name!r} is not supported by the TFLite->ONNX "
                              f"converter; expected one of {sorted(CONVERTERS)}")
        op = _Op(index, name, tuple(int(i) for i in raw.InputsAsNumpy()),
                 tuple(int(i) for i in raw.OutputsAsNumpy()), raw)
        convert(g, op)

    def value(i: int, name: str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, [g.shape(i)[a] for a in _NHWC_TO_NCHW])

    graph = helper.make_graph(g.nodes, path.stem, [value(src, "src")], [value(alpha, "alpha")], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgematte",
                              producer_version=__version__,
                              doc_string=f"converted from {path.name} sha256 {hashlib.sha256(buf).hexdigest()}")
    model.ir_version = IR_VERSION
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the ONNX converted from {path.name} fails onnx.checker: {exc}") from exc
    _check_shapes(g, model)
    return model


def tflite_to_onnx(path: Union[str, Path]) -> onnx.ModelProto:
    """Convert a float TFLite image-to-mask model to ONNX.

    Returns a checked opset-17 model: input ``src`` float32 [1,3,H,W] RGB 0..1, output
    ``alpha`` float32 [1,1,H,W]. Raises ExportError naming the file and any unsupported operator;
    a truncated or damaged file is an ExportError too.
    """
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise ExportError(f"could not read {str(path)!r} ({exc}); expected a readable .tflite file") from exc
    try:
        return _convert(buf, path)
    except ExportError as exc:  # an operator's own message: say which file it is in
        if path.name in str(exc):
            raise
        raise ExportError(f"{str(path)!r}: {exc}") from exc
    except EdgematteError:
        raise
    except _DAMAGED + (onnx.shape_inference.InferenceError,) as exc:  # a truncated or damaged file
        raise ExportError(f"could not read {str(path)!r} as a TFLite model ({type(exc).__name__}: {str(exc)[:200]}); "
                          "expected an undamaged .tflite file") from exc


def export_selfie(name: str, output_path: Union[str, Path], *, weights: Optional[Union[str, Path]] = None,
                  progress: bool = True) -> Path:
    """Write the ONNX of a MediaPipe selfie row ("selfie", "selfie-landscape") to ``output_path``.

    ``weights``: the .tflite file; by default it comes from EDGEMATTE_WEIGHTS, the cache or the
    pinned mediapipe wheel (see :func:`edgematte.models.selfie.fetch_tflite`).
    """
    tflite_path = fetch_tflite(name, weights=weights, progress=progress)
    model = tflite_to_onnx(tflite_path)
    helper.set_model_props(model, {
        "edgematte.model": name,
        "edgematte.source_sha256": sha256_of(tflite_path),
        "edgematte.converter_version": str(CONVERTER_VERSION),
    })
    output_path = Path(output_path)
    with atomic_path(output_path) as tmp:
        onnx.save_model(model, str(tmp))
    return output_path
