"""ONNX prerequisites for TensorRT, on tiny generated models (needs only the onnx package)."""

from __future__ import annotations

import pytest
from onnx import TensorProto

from edgematte.errors import ExportError, InputError, ModelError
from edgematte.export.onnx_prereq import check_onnx_for_trt, graph_io, has_fp16, load_graph, opset_limit, strongly_typed
from edgematte.types import TensorSpec

DYNAMIC = ("n", 3, "h", "w")
RANGE = {"src": ((1, 3, 64, 64), (1, 3, 256, 256), (1, 3, 512, 512))}


def test_static_model_passes_with_a_fixed_profile(make_onnx):
    report = check_onnx_for_trt(make_onnx(), trt_version="8.5")
    assert report.opset == 17 and not report.fp16_graph and report.warnings == ()
    assert report.inputs == (TensorSpec("src", (1, 3, 16, 16), "float32"),)
    assert report.outputs == (TensorSpec("alpha", (1, 1, 16, 16), "float32"),)
    assert report.profiles == {"src": ((1, 3, 16, 16),) * 3}


def test_dynamic_input_without_profile_names_the_input(make_onnx):
    with pytest.raises(ExportError, match=r"no shape range for dynamic input 'src' \[\?x3x\?x\?\]"):
        check_onnx_for_trt(make_onnx(shape=DYNAMIC), trt_version="8.6")


def test_dynamic_input_with_a_complete_profile_passes(make_onnx):
    report = check_onnx_for_trt(make_onnx(shape=DYNAMIC), trt_version="8.6", shapes=RANGE)
    assert report.inputs[0].shape == (None, 3, None, None)
    assert report.profiles == RANGE


@pytest.mark.parametrize(
    "shapes, needle",
    [
        ({"src": ((1, 3, 64), (1, 3, 256, 256), (1, 3, 512, 512))}, "rank 3; expected rank 4"),
        ({"src": ((1, 4, 64, 64), (1, 4, 256, 256), (1, 4, 512, 512))}, "changes static axis 1"),
        ({"src": ((1, 3, 512, 512), (1, 3, 256, 256), (1, 3, 64, 64))}, "min <= opt <= max"),
        ({**RANGE, "other": RANGE["src"]}, "'other', which is not a model input"),
    ],
)
def test_bad_profiles_are_reported(make_onnx, shapes, needle):
    with pytest.raises(ExportError, match=needle):
        check_onnx_for_trt(make_onnx(shape=DYNAMIC), shapes=shapes)


def test_profile_of_a_static_input_must_be_its_shape(make_onnx):
    with pytest.raises(ExportError, match="changes static axis 2"):
        check_onnx_for_trt(make_onnx(), shapes={"src": ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32))})


@pytest.mark.parametrize(
    "version, opset, ok",
    [
        ("8.5", 17, True),
        ("8.6", 18, False),
        ("10.0", 20, True),
        ("10.0", 21, False),
    ],
)
def test_opset_limit_per_tensorrt_version(make_onnx, version, opset, ok):
    model = make_onnx(opset=opset)
    if ok:
        check_onnx_for_trt(model, trt_version=version)
    else:
        with pytest.raises(ExportError, match=f"opset {opset} is above"):
            check_onnx_for_trt(model, trt_version=version)


def test_newer_tensorrt_only_warns_above_the_known_opset(make_onnx):
    report = check_onnx_for_trt(make_onnx(opset=21), trt_version="10.3")
    assert any("opset 21" in w for w in report.warnings)


def test_opset_limit_table():
    assert opset_limit("8.5.2") == (17, True)
    assert opset_limit((8, 6)) == (17, True)
    assert opset_limit("10.0.1") == (20, True)
    assert opset_limit("11.4") == (20, False)
    for below_the_floor in ("7.1", "8.2.1", "8.4"):
        with pytest.raises(InputError, match="expected 8.5 or newer"):
            opset_limit(below_the_floor)


@pytest.mark.parametrize("version, strong", [("8.6.1", False), ("10.3", False), ("10.11.9", False), ("10.12", True), ("10.13.0.35", True), ("11.4.0.106", True)])
def test_strong_typing_from_tensorrt_10_12(version, strong):
    assert strongly_typed(version) is strong
    with pytest.raises(InputError, match="MAJOR.MINOR"):
        opset_limit("ten")


def test_low_opset_warns_about_resize(make_onnx):
    assert any("below 11" in w for w in check_onnx_for_trt(make_onnx(opset=10)).warnings)


def test_dynamo_domain_fails_on_tensorrt_8_and_warns_later(make_onnx):
    model = make_onnx(extra_domain="pkg.onnxscript.torch_lib")
    with pytest.raises(ExportError, match="dynamo=False"):
        check_onnx_for_trt(model, trt_version="8.6")
    assert any("dynamo" in w for w in check_onnx_for_trt(model, trt_version="10.3").warnings)


def test_custom_domain_warns_about_plugins(make_onnx):
    report = check_onnx_for_trt(make_onnx(extra_domain="com.example"))
    assert any("plugins" in w for w in report.warnings)


def test_io_dtypes_tensorrt_cannot_bind(make_onnx):
    with pytest.raises(ExportError, match="dtype float64"):
        check_onnx_for_trt(make_onnx(io_type=TensorProto.DOUBLE))


def test_int64_io_needs_tensorrt_10(tmp_path):
    from onnx import helper, save

    graph = helper.make_graph(
        [helper.make_node("Identity", ["ids"], ["out"])],
        "ids",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [4])],
        [helper.make_tensor_value_info("out", TensorProto.INT64, [4])],
    )
    path = tmp_path / "ids.onnx"
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ExportError, match="int64"):
        check_onnx_for_trt(path, trt_version="8.6")
    check_onnx_for_trt(path, trt_version="10.3")


def test_fp16_detection(make_onnx):
    assert not has_fp16(load_graph(make_onnx("a.onnx")))
    assert has_fp16(load_graph(make_onnx("b.onnx", fp16=True)))
    assert has_fp16(load_graph(make_onnx("c.onnx", io_type=TensorProto.FLOAT16)))


def test_strong_typing_needs_an_fp16_graph(make_onnx):
    with pytest.raises(ExportError, match="export MODEL --fp16"):
        check_onnx_for_trt(make_onnx("a.onnx"), trt_version="11.4", fp16=True, strongly_typed=True)
    report = check_onnx_for_trt(make_onnx("b.onnx", fp16=True), trt_version="11.4", fp16=True, strongly_typed=True)
    assert report.fp16_graph


def test_all_problems_are_listed_together(make_onnx):
    with pytest.raises(ExportError) as info:
        check_onnx_for_trt(make_onnx(shape=DYNAMIC, opset=18), trt_version="8.6")
    assert "opset 18" in str(info.value) and "no shape range" in str(info.value)


def test_initializers_listed_as_inputs_are_not_inputs(make_onnx):
    import onnx

    path = make_onnx()
    model = onnx.load(str(path))
    model.graph.input.append(onnx.helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 3, 1, 1]))
    assert [s.name for s in graph_io(model)[0]] == ["src"]


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelError, match="not a file"):
        check_onnx_for_trt(tmp_path / "absent.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="could not read"):
        check_onnx_for_trt(bad)
