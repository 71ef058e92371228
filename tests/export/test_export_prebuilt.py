"""``edgematte export`` for rows that ship as ONNX already (the selfie models): copy, check, FP16."""

from __future__ import annotations

import pytest

from edgematte.cli.__main__ import main
from edgematte.errors import InputError
from edgematte.export import check_onnx, to_onnx
from edgematte.models import is_torch_model

onnx = pytest.importorskip("onnx")


@pytest.fixture
def selfie_env(shared_weights, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(shared_weights))
    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_selfie_is_not_a_torch_row():
    assert not is_torch_model("selfie") and not is_torch_model("selfie-landscape")


def test_selfie_export_copies_and_converts_to_fp16(selfie_env, shared_data):
    image = shared_data / "portraits" / "astronaut.png"
    report = to_onnx("selfie-landscape", selfie_env / "out" / "landscape.onnx", fp16=True, parity_images=[image])
    assert report.source is not None and report.source.is_file() and report.parity == ()
    assert report.input_shape == (1, 3, 144, 256)
    (_, real_max, real_mean) = report.fp16_drift[1]
    assert 0 < real_mean <= real_max < 0.01  # real weights, real image: FP16 changes the mask only slightly
    model = check_onnx(report.path)
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer)


def test_selfie_has_a_fixed_size(selfie_env):
    with pytest.raises(InputError, match="fixed 256x256 graph"):
        to_onnx("selfie", selfie_env / "x.onnx", height=128, width=128)
    with pytest.raises(InputError, match="fixed 256x256 graph"):
        to_onnx("selfie", selfie_env / "x.onnx", dynamic=True)


def test_cli_export_selfie(selfie_env, capsys):
    out = selfie_env / "selfie.onnx"
    assert main(["export", "selfie", "--output", str(out)]) == 0
    assert out.is_file() and "copied from" in capsys.readouterr().out
    assert check_onnx(out).graph.input[0].name == "src"


def _tiny(tmp_path, *, input_name="src", channels=3, opset=17, dtype=None):
    """A valid one-node graph [1,C,8,8] -> Sigmoid(ReduceMean over C) -> alpha [1,1,8,8]."""
    from onnx import TensorProto, helper

    dtype = TensorProto.FLOAT if dtype is None else dtype
    nodes = [helper.make_node("ReduceMean", [input_name], ["m"], axes=[1], keepdims=1)] if opset < 18 else [
        helper.make_node("ReduceMean", [input_name, "axes"], ["m"], keepdims=1)]
    nodes.append(helper.make_node("Sigmoid", ["m"], ["alpha"]))
    inits = [helper.make_tensor("axes", TensorProto.INT64, [1], [1])] if opset >= 18 else []
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info(input_name, dtype, [1, channels, 8, 8])],
                              [helper.make_tensor_value_info("alpha", dtype, [1, 1, 8, 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path = tmp_path / "tiny.onnx"
    onnx.save(model, str(path))
    return path


def test_check_onnx_accepts_the_contract(tmp_path):
    assert check_onnx(_tiny(tmp_path)).graph.output[0].name == "alpha"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_name="input"), r"has inputs \['input'\]; expected exactly one named 'src'"),
        (dict(channels=4), r"input 'src' is float32 \[1, 4, 8, 8\]; expected float32 \[N,3,H,W\]"),
        (dict(opset=18), "uses opset 18; expected <= 17"),
    ],
)
def test_check_onnx_refuses_other_graphs(tmp_path, kwargs, message):
    from edgematte.errors import ExportError

    with pytest.raises(ExportError, match=message):
        check_onnx(_tiny(tmp_path, **kwargs))


def test_check_onnx_refuses_invalid_files(tmp_path):
    from edgematte.errors import ExportError

    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ExportError, match="not a valid ONNX model"):
        check_onnx(tmp_path / "bad.onnx")
