"""make_fp16 gives a valid graph with every FP16 converter the dependencies allow.

onnxruntime's converter (``onnxruntime/transformers/float16.py``) changed how it names the Casts it inserts:
up to 1.16 after the node (``<node>_input_cast_<i>``: unnamed nodes collide), from some later release to 1.31
after the tensor, one Cast per consumer (two nodes of one name making one tensor: not SSA, which ONNX Runtime
refuses: "two nodes with same node name"). These tests give make_fp16 converters that behave like each.
"""

from __future__ import annotations

import importlib
import subprocess

import numpy as np
import pytest
from fresh_python import fresh_python

from edgematte.errors import ExportError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

to_onnx = importlib.import_module("edgematte.export.to_onnx")


def _shared_constant_graph(path, *, names=True):
    """src -> Mul by an FP16-able constant; the constant also feeds two Sigmoids (kept float32): the case where
    a per-consumer converter inserts the same Cast twice."""
    nodes = [
        helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.full((1,), 0.5, np.float32)),
                         name="k" if names else ""),
        helper.make_node("Mul", ["src", "k"], ["scaled"], name="mul" if names else ""),
        helper.make_node("Sigmoid", ["k"], ["s1"], name="sig1" if names else ""),
        helper.make_node("Sigmoid", ["k"], ["s2"], name="sig2" if names else ""),
        helper.make_node("Add", ["s1", "s2"], ["both"], name="add" if names else ""),
        helper.make_node("Mul", ["scaled", "both"], ["alpha"], name="out" if names else ""),
    ]
    graph = helper.make_graph(nodes, "shared", [helper.make_tensor_value_info("src", TensorProto.FLOAT, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, 2, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


class _PerConsumerCasts:
    """A converter that, like onnxruntime 1.31's, inserts one float32 Cast per consumer of a tensor, each named
    after the tensor; and, like 1.16's, names its output Cast after the node (so unnamed nodes collide)."""

    DEFAULT_OP_BLOCK_LIST = []

    def __init__(self, after_node=False):
        self.after_node = after_node

    def convert_float_to_float16(self, model, keep_io_types, op_block_list):
        half = type(model)()
        half.CopyFrom(model)
        graph = half.graph
        extra = []
        for node in graph.node:
            if node.op_type in op_block_list:
                for i, name in enumerate(node.input):
                    cast = f"{node.name}_input_cast_{i}" if self.after_node else f"{name}_cast_to_fp32"
                    extra.append(helper.make_node("Cast", [name], [cast], to=TensorProto.FLOAT, name=cast + "_node"))
                    node.input[i] = cast
        graph.node.extend(extra)
        return half


@pytest.mark.parametrize("after_node, names", [(False, True), (True, False)])
def test_repeated_casts_and_unnamed_nodes_give_a_valid_graph(tmp_path, monkeypatch, after_node, names):
    source = _shared_constant_graph(tmp_path / "shared.onnx", names=names)
    monkeypatch.setattr(to_onnx, "_float16_converter", lambda: _PerConsumerCasts(after_node))
    half = to_onnx.make_fp16(source, tmp_path / "half.onnx")
    model = onnx.load(str(half))
    onnx.checker.check_model(model, full_check=True)
    assert len({n.name for n in model.graph.node}) == len(model.graph.node)
    session = ort.InferenceSession(str(half), providers=["CPUExecutionProvider"])
    src = np.ones((1, 1, 2, 2), np.float32)
    expected = 0.5 * 2 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(session.run(None, {"src": src})[0], expected, rtol=1e-6)


def test_a_graph_the_converter_breaks_is_an_export_error_naming_the_version(tmp_path, monkeypatch):
    class Clashing(_PerConsumerCasts):
        def convert_float_to_float16(self, model, keep_io_types, op_block_list):
            half = super().convert_float_to_float16(model, keep_io_types, op_block_list)
            half.graph.node.append(helper.make_node("Neg", ["src"], ["scaled"], name="clash"))  # a second producer
            return half

    source = _shared_constant_graph(tmp_path / "shared.onnx")
    monkeypatch.setattr(to_onnx, "_float16_converter", lambda: Clashing())
    with pytest.raises(ExportError, match=f"FP16 converter of onnxruntime {ort.__version__}.*invalid graph"):
        to_onnx.make_fp16(source, tmp_path / "half.onnx")
    assert not (tmp_path / "half.onnx").exists()


def test_the_real_converter_loads_without_its_package(tmp_path):
    """onnxruntime.transformers' __init__ pulls Hugging Face transformers in some releases: it is never run."""
    code = ("import importlib, sys\n"
            "c = importlib.import_module('edgematte.export.to_onnx')._float16_converter()\n"
            "assert hasattr(c, 'convert_float_to_float16')\n"
            "assert 'onnxruntime.transformers' not in sys.modules, sorted(m for m in sys.modules if 'transformers' in m)\n"
            "assert c.logger.name == 'onnxruntime.transformers.float16'\n")
    argv, kwargs = fresh_python(["-c", code], cwd=tmp_path, capture_output=True, text=True)
    result = subprocess.run(argv, **kwargs)
    assert result.returncode == 0, result.stderr
