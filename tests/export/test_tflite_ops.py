"""Operator-level parity: tiny TFLite models built here, run by LiteRT and by ONNX Runtime after conversion.

Covers what the two MediaPipe models do not exercise (VALID padding, odd sizes, dilation, depth
multipliers, every resize coordinate mode, fused activations, padded average pooling, SAME
cropping in the transposed convolution) plus the error paths. Every model reads ``src``
[1,H,W,3] and ends in a 1x1 convolution to one channel, as the converter's contract requires.
"""

from __future__ import annotations

import importlib
import struct
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest

tflite = pytest.importorskip("tflite")
flatbuffers = pytest.importorskip("flatbuffers")
ort = pytest.importorskip("onnxruntime")

from edgematte.errors import ExportError  # noqa: E402
from edgematte.export import tflite_to_onnx  # noqa: E402

SAME, VALID = tflite.Padding.SAME, tflite.Padding.VALID
ACT = tflite.ActivationFunctionType
F32, F16 = tflite.TensorType.FLOAT32, tflite.TensorType.FLOAT16


def _fb(module: str):
    return importlib.import_module(f"tflite.{module}")


class TinyModel:
    """Builds a one-subgraph TFLite flatbuffer: tensors, then operators in execution order."""

    def __init__(self, height: int, width: int, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.tensors: List[Tuple[str, Tuple[int, ...], int, Optional[np.ndarray]]] = []
        self.ops: List[dict] = []
        self.src = self.tensor("src", (1, height, width, 3))

    def tensor(self, name: str, shape: Sequence[int], dtype: int = F32, data: Optional[np.ndarray] = None) -> int:
        self.tensors.append((name, tuple(int(s) for s in shape), dtype, data))
        return len(self.tensors) - 1

    def const(self, name: str, array: np.ndarray) -> int:
        dtype = {np.float32: F32, np.float16: F16, np.int32: tflite.TensorType.INT32}[array.dtype.type]
        return self.tensor(name, array.shape, dtype, array)

    def weights(self, name: str, shape: Sequence[int], scale: float = 0.5) -> int:
        return self.const(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def shape(self, t: int) -> Tuple[int, ...]:
        return self.tensors[t][1]

    def op(self, code, inputs: Sequence[int], out_shape: Sequence[int], options=None, custom: bytes = b"") -> int:
        out = self.tensor(f"t{len(self.tensors)}", out_shape)
        self.ops.append(dict(code=code, inputs=list(inputs), outputs=[out], options=options, custom=custom))
        return out

    # -- common ops
    def conv(self, x: int, out_ch: int, k: int = 1, stride: int = 1, padding: int = SAME, dilation: int = 1,
             act: int = ACT.NONE, out_hw: Optional[Sequence[int]] = None) -> int:
        n, h, w, c = self.shape(x)
        out_hw = out_hw or (h, w)
        weights = self.weights(f"w{len(self.tensors)}", (out_ch, k, k, c))
        bias = self.weights(f"b{len(self.tensors)}", (out_ch,))
        opts = ("Conv2DOptions", dict(Padding=padding, StrideW=stride, StrideH=stride, DilationWFactor=dilation,
                                      DilationHFactor=dilation, FusedActivationFunction=act))
        return self.op(tflite.BuiltinOperator.CONV_2D, [x, weights, bias], (n,) + tuple(out_hw) + (out_ch,), opts)

    def to_mask(self, x: int) -> int:
        return self.conv(x, 1)

    # -- serialisation
    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)
        codes: Dict[object, int] = {}
        for op in self.ops:
            codes.setdefault(op["code"], len(codes))

        buffers = [self._buffer(b, None)]
        tensor_offsets = []
        for name, shape, dtype, data in self.tensors:
            buffer_index = 0
            if data is not None:
                buffers.append(self._buffer(b, np.ascontiguousarray(data).tobytes()))
                buffer_index = len(buffers) - 1
            name_off = b.CreateString(name)
            shape_off = b.CreateNumpyVector(np.array(shape, np.int32))
            T = _fb("Tensor")
            T.TensorStart(b)
            T.TensorAddShape(b, shape_off)
            T.TensorAddType(b, dtype)
            T.TensorAddBuffer(b, buffer_index)
            T.TensorAddName(b, name_off)
            tensor_offsets.append(T.TensorEnd(b))

        op_offsets = [self._operator(b, op, codes[op["code"]]) for op in self.ops]
        S = _fb("SubGraph")
        tensors_vec = self._vector(b, S.SubGraphStartTensorsVector, tensor_offsets)
        ops_vec = self._vector(b, S.SubGraphStartOperatorsVector, op_offsets)
        in_vec = b.CreateNumpyVector(np.array([self.src], np.int32))
        out_vec = b.CreateNumpyVector(np.array(self.ops[-1]["outputs"], np.int32))
        S.SubGraphStart(b)
        S.SubGraphAddTensors(b, tensors_vec)
        S.SubGraphAddInputs(b, in_vec)
        S.SubGraphAddOutputs(b, out_vec)
        S.SubGraphAddOperators(b, ops_vec)
        subgraph = S.SubGraphEnd(b)

        code_offsets = []
        for code in codes:
            C = _fb("OperatorCode")
            custom = b.CreateString(code) if isinstance(code, str) else None
            C.OperatorCodeStart(b)
            builtin = tflite.BuiltinOperator.CUSTOM if custom is not None else code
            C.OperatorCodeAddDeprecatedBuiltinCode(b, min(builtin, 127))
            C.OperatorCodeAddBuiltinCode(b, builtin)
            if custom is not None:
                C.OperatorCodeAddCustomCode(b, custom)
            C.OperatorCodeAddVersion(b, 1)
            code_offsets.append(C.OperatorCodeEnd(b))

        M = _fb("Model")
        codes_vec = self._vector(b, M.ModelStartOperatorCodesVector, code_offsets)
        subgraphs_vec = self._vector(b, M.ModelStartSubgraphsVector, [subgraph])
        buffers_vec = self._vector(b, M.ModelStartBuffersVector, buffers)
        M.ModelStart(b)
        M.ModelAddVersion(b, 3)
        M.ModelAddOperatorCodes(b, codes_vec)
        M.ModelAddSubgraphs(b, subgraphs_vec)
        M.ModelAddBuffers(b, buffers_vec)
        b.Finish(M.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    @staticmethod
    def _vector(b, start, offsets):
        start(b, len(offsets))
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    @staticmethod
    def _buffer(b, data: Optional[bytes]):
        B = _fb("Buffer")
        data_off = None
        if data is not None:
            b.StartVector(1, len(data), 16)
            b.head = b.head - len(data)
            b.Bytes[b.head: b.head + len(data)] = data
            data_off = b.EndVector()
        B.BufferStart(b)
        if data_off is not None:
            B.BufferAddData(b, data_off)
        return B.BufferEnd(b)

    @staticmethod
    def _operator(b, op, code_index):
        Op = _fb("Operator")
        inputs = b.CreateNumpyVector(np.array(op["inputs"], np.int32))
        outputs = b.CreateNumpyVector(np.array(op["outputs"], np.int32))
        options_off = options_type = None
        if op["options"] is not None:
            name, fields = op["options"]
            module = _fb(name)
            getattr(module, f"{name}Start")(b)
            for field, value in fields.items():
                getattr(module, f"{name}Add{field}")(b, value)
            options_off, options_type = getattr(module, f"{name}End")(b), getattr(tflite.BuiltinOptions, name)
        custom = b.CreateNumpyVector(np.frombuffer(op["custom"], np.uint8)) if op["custom"] else None
        Op.OperatorStart(b)
        Op.OperatorAddOpcodeIndex(b, code_index)
        Op.OperatorAddInputs(b, inputs)
        Op.OperatorAddOutputs(b, outputs)
        if options_off is not None:
            Op.OperatorAddBuiltinOptionsType(b, options_type)
            Op.OperatorAddBuiltinOptions(b, options_off)
        if custom is not None:
            Op.OperatorAddCustomOptions(b, custom)
        return Op.OperatorEnd(b)


def _compare(model: TinyModel, tmp_path, atol: float = 2e-5):
    interpreter_mod = pytest.importorskip(
        "ai_edge_litert.interpreter", reason="ai-edge-litert (the LiteRT interpreter, [dev] extra) is not installed"
    )
    path = tmp_path / "tiny.tflite"
    path.write_bytes(model.build())
    onnx_model = tflite_to_onnx(path)
    interpreter = interpreter_mod.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    x = model.rng.random(model.shape(model.src), dtype=np.float32)
    interpreter.set_tensor(inp["index"], x)
    interpreter.invoke()
    expected = interpreter.get_tensor(out["index"]).transpose(0, 3, 1, 2)
    session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
    (actual,) = session.run(["alpha"], {"src": np.ascontiguousarray(x.transpose(0, 3, 1, 2))})
    assert actual.shape == expected.shape
    assert np.abs(expected).max() > 1e-3, "degenerate test: the reference output is all zeros"
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol)
    return onnx_model


@pytest.mark.parametrize("k, stride, padding, dilation, hw, out_hw", [
    (3, 2, SAME, 1, (15, 17), (8, 9)),
    (5, 2, SAME, 1, (16, 16), (8, 8)),   # asymmetric: 1 before, 2 after
    (3, 1, VALID, 2, (11, 12), (7, 8)),
    (2, 3, VALID, 1, (10, 11), (3, 4)),
])
def test_conv_2d(tmp_path, k, stride, padding, dilation, hw, out_hw):
    m = TinyModel(*hw)
    y = m.conv(m.src, 6, k=k, stride=stride, padding=padding, dilation=dilation, out_hw=out_hw)
    m.to_mask(y)
    _compare(m, tmp_path)


@pytest.mark.parametrize("act", [ACT.RELU, ACT.RELU6, ACT.RELU_N1_TO_1])
def test_fused_activations(tmp_path, act):
    m = TinyModel(9, 10)
    y = m.conv(m.src, 4, k=3, act=act)
    m.to_mask(y)
    onnx_model = _compare(m, tmp_path)
    assert {"Relu", "Clip"} & {n.op_type for n in onnx_model.graph.node}


def test_unmapped_fused_activation_is_rejected(tmp_path):
    m = TinyModel(5, 5)
    m.to_mask(m.conv(m.src, 2, act=ACT.TANH))
    with pytest.raises(ExportError, match="fused activation"):
        _convert(m, tmp_path)


@pytest.mark.parametrize("multiplier, stride, padding, hw, out_hw", [
    (1, 2, SAME, (13, 14), (7, 7)),
    (2, 1, SAME, (8, 9), (8, 9)),
    (1, 1, VALID, (8, 9), (6, 7)),
])
def test_depthwise_conv_2d(tmp_path, multiplier, stride, padding, hw, out_hw):
    m = TinyModel(*hw)
    x = m.conv(m.src, 4)
    weights, bias = m.weights("dw", (1, 3, 3, 4 * multiplier)), m.weights("db", (4 * multiplier,))
    opts = ("DepthwiseConv2DOptions", dict(Padding=padding, StrideW=stride, StrideH=stride, DepthMultiplier=multiplier,
                                           DilationWFactor=1, DilationHFactor=1, FusedActivationFunction=ACT.RELU))
    y = m.op(tflite.BuiltinOperator.DEPTHWISE_CONV_2D, [x, weights, bias], (1,) + out_hw + (4 * multiplier,), opts)
    m.to_mask(y)
    _compare(m, tmp_path)


def test_dequantized_fp16_weights(tmp_path):
    m = TinyModel(8, 8)
    half = m.const("w16", (m.rng.standard_normal((5, 3, 3, 3)) * 0.5).astype(np.float16))
    weights = m.op(tflite.BuiltinOperator.DEQUANTIZE, [half], (5, 3, 3, 3))
    bias = m.weights("b", (5,))
    opts = ("Conv2DOptions", dict(Padding=SAME, StrideW=1, StrideH=1, DilationWFactor=1, DilationHFactor=1))
    y = m.op(tflite.BuiltinOperator.CONV_2D, [m.src, weights, bias], (1, 8, 8, 5), opts)
    m.to_mask(y)
    onnx_model = _compare(m, tmp_path)
    assert all(i.data_type == 1 for i in onnx_model.graph.initializer)  # FLOAT


@pytest.mark.parametrize("filter_hw, stride, padding, hw, out_hw", [
    ((3, 3), 2, SAME, (9, 10), (5, 5)),  # padded windows average over valid pixels only
    ((2, 2), 2, VALID, (9, 10), (4, 5)),
    ((9, 10), 1, VALID, (9, 10), (1, 1)),  # global
])
def test_average_pool_2d(tmp_path, filter_hw, stride, padding, hw, out_hw):
    m = TinyModel(*hw)
    x = m.conv(m.src, 4)
    opts = ("Pool2DOptions", dict(Padding=padding, StrideW=stride, StrideH=stride, FilterHeight=filter_hw[0],
                                  FilterWidth=filter_hw[1], FusedActivationFunction=ACT.RELU))
    y = m.op(tflite.BuiltinOperator.AVERAGE_POOL_2D, [x], (1,) + out_hw + (4,), opts)
    m.to_mask(y)
    _compare(m, tmp_path)


@pytest.mark.parametrize("axes, out_hw", [([1, 2], (1, 1)), ([2], (6, 1)), ([-3], (1, 7))])
def test_mean(tmp_path, axes, out_hw):
    m = TinyModel(6, 7)
    x = m.conv(m.src, 4)
    axes_t = m.const("axes", np.array(axes, np.int32))
    y = m.op(tflite.BuiltinOperator.MEAN, [x, axes_t], (1,) + out_hw + (4,), ("ReducerOptions", dict(KeepDims=True)))
    m.to_mask(y)
    _compare(m, tmp_path)


@pytest.mark.parametrize("align_corners, half_pixel", [(False, True), (True, False), (False, False)])
@pytest.mark.parametrize("hw, out_hw", [((5, 7), (12, 9)), ((4, 6), (8, 12))])
def test_resize_bilinear(tmp_path, align_corners, half_pixel, hw, out_hw):
    m = TinyModel(*hw)
    x = m.conv(m.src, 3)
    size = m.const("size", np.array(out_hw, np.int32))
    opts = ("ResizeBilinearOptions", dict(AlignCorners=align_corners, HalfPixelCenters=half_pixel))
    y = m.op(tflite.BuiltinOperator.RESIZE_BILINEAR, [x, size], (1,) + out_hw + (3,), opts)
    m.to_mask(y)
    _compare(m, tmp_path)


def test_elementwise_with_constants_and_unary_ops(tmp_path):
    m = TinyModel(6, 5)
    x = m.conv(m.src, 4)
    per_channel = m.weights("per_channel", (4,))
    nhwc = m.weights("nhwc", (1, 6, 5, 4))
    a = m.op(tflite.BuiltinOperator.ADD, [x, per_channel], (1, 6, 5, 4),
             ("AddOptions", dict(FusedActivationFunction=ACT.RELU6)))
    b = m.op(tflite.BuiltinOperator.MUL, [nhwc, a], (1, 6, 5, 4), ("MulOptions", {"FusedActivationFunction": ACT.NONE}))
    c = m.op(tflite.BuiltinOperator.HARD_SWISH, [b], (1, 6, 5, 4))
    d = m.op(tflite.BuiltinOperator.LOGISTIC, [c], (1, 6, 5, 4))
    e = m.op(tflite.BuiltinOperator.RELU, [m.conv(d, 4)], (1, 6, 5, 4))
    f = m.op(tflite.BuiltinOperator.ADD, [e, c], (1, 6, 5, 4), ("AddOptions", dict()))
    m.to_mask(f)
    _compare(m, tmp_path)


def _transpose_conv(m: TinyModel, x: int, k: int, stride: int, padding: int, out_hw, out_ch: int = 3) -> int:
    weights, bias = m.weights("tw", (out_ch, k, k, m.shape(x)[3])), m.weights("tb", (out_ch,))
    options = struct.pack("<iii", padding, stride, stride)  # TfLitePadding: 1 SAME, 2 VALID
    return m.op("Convolution2DTransposeBias", [x, weights, bias], (1,) + tuple(out_hw) + (out_ch,), custom=options)


@pytest.mark.parametrize("k, stride, padding, hw, out_hw", [
    (2, 2, 1, (4, 6), (8, 12)),   # the MediaPipe case: even sizes, no crop
    (2, 2, 1, (5, 6), (9, 12)),   # odd height: SAME crops 1 row (0+1)
    (3, 2, 1, (5, 6), (9, 12)),   # SAME crops 2 rows (1+1) and 1 column (0+1)
    (4, 2, 1, (4, 5), (8, 9)),    # SAME crops 2 rows (1+1) and 3 columns (1+2)
    (3, 2, 2, (4, 5), (9, 11)),   # VALID
])
def test_convolution_2d_transpose_bias(tmp_path, k, stride, padding, hw, out_hw):
    m = TinyModel(*hw)
    x = m.conv(m.src, 4)
    m.to_mask(_transpose_conv(m, x, k, stride, padding, out_hw))
    _compare(m, tmp_path)


def _convert(m: TinyModel, tmp_path):
    path = tmp_path / "tiny.tflite"
    path.write_bytes(m.build())
    return tflite_to_onnx(path)


def test_unknown_builtin_op_is_named(tmp_path):
    m = TinyModel(4, 4)
    x = m.op(tflite.BuiltinOperator.SOFTMAX, [m.src], (1, 4, 4, 3), ("SoftmaxOptions", dict(Beta=1.0)))
    m.to_mask(x)
    with pytest.raises(ExportError, match=r"operator #0 'SOFTMAX' is not supported"):
        _convert(m, tmp_path)


def test_unknown_custom_op_is_named(tmp_path):
    m = TinyModel(4, 4)
    m.to_mask(m.op("MyCustomThing", [m.src], (1, 4, 4, 3)))
    with pytest.raises(ExportError, match="'MyCustomThing' is not supported"):
        _convert(m, tmp_path)


def test_wrong_io_is_rejected(tmp_path):
    m = TinyModel(4, 4)
    m.conv(m.src, 2)
    with pytest.raises(ExportError, match=r"output has shape \[1, 4, 4, 2\]; expected \[1,H,W,1\]"):
        _convert(m, tmp_path)
    m = TinyModel(4, 4)
    m.tensors[m.src] = ("src", (1, 4, 4, 4), F32, None)
    m.to_mask(m.src)
    with pytest.raises(ExportError, match=r"input has shape \[1, 4, 4, 4\]; expected \[1,H,W,3\]"):
        _convert(m, tmp_path)


def test_dequantize_of_a_runtime_tensor_is_rejected(tmp_path):
    m = TinyModel(4, 4)
    m.to_mask(m.op(tflite.BuiltinOperator.DEQUANTIZE, [m.src], (1, 4, 4, 3)))
    with pytest.raises(ExportError, match="expected a float16 constant"):
        _convert(m, tmp_path)


def test_mean_without_keep_dims_is_rejected(tmp_path):
    m = TinyModel(4, 4)
    axes = m.const("axes", np.array([1, 2], np.int32))
    m.op(tflite.BuiltinOperator.MEAN, [m.src, axes], (1, 3), ("ReducerOptions", dict(KeepDims=False)))
    with pytest.raises(ExportError, match="keep_dims"):
        _convert(m, tmp_path)


def test_inconsistent_shapes_are_rejected(tmp_path):
    m = TinyModel(4, 6)
    x = m.conv(m.src, 4)
    m.to_mask(_transpose_conv(m, x, 2, 2, 1, (8, 13)))  # MediaPipe's rule gives (8, 12)
    with pytest.raises(ExportError, match="fails onnx.checker"):
        _convert(m, tmp_path)
