"""Round trips: random weights in the official layout -> load -> ONNX -> ONNX Runtime parity."""

from __future__ import annotations

import numpy as np
import pytest

from edgematte.cli.__main__ import main
from edgematte.errors import ExportError, InputError

torch = pytest.importorskip("torch", reason="PyTorch is an optional dependency: pip install 'edgematte[export]'")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxslim", reason="onnxslim is in the [export] extra")

from edgematte.export import check_onnx, to_onnx  # noqa: E402
from edgematte.export.check_onnx import run_onnx  # noqa: E402
from edgematte.models import load  # noqa: E402
from zoo_checkpoints import random_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    return {name: random_checkpoint(name, folder / f"{name}.pth", seed=7) for name in ("u2netp", "modnet")}


@pytest.fixture(scope="module")
def real_image(shared_data):
    return shared_data / "alphamatting_lowres" / "input" / "GT01.png"


@pytest.fixture(scope="module")
def u2netp_fp16(weights, real_image, tmp_path_factory):
    out = tmp_path_factory.mktemp("u2netp") / "u2netp.onnx"
    report = to_onnx("u2netp", out, checkpoint=weights["u2netp"], height=64, width=96, fp16=True,
                     parity_images=[real_image])
    return report


@pytest.fixture(scope="module")
def modnet_fp16(weights, real_image, tmp_path_factory):
    out = tmp_path_factory.mktemp("modnet") / "modnet.onnx"
    return to_onnx("modnet", out, checkpoint=weights["modnet"], height=64, width=128, fp16=True,
                   parity_images=[real_image])


def _initializer_types(model):
    return {onnx.TensorProto.DataType.Name(init.data_type) for init in model.graph.initializer}


def _float32_inputs_of(model, op_type):
    """For every node of ``op_type``: whether all its data inputs are float32 tensors."""
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    return [all(types.get(i) == onnx.TensorProto.FLOAT for i in n.input if i) for n in inferred.graph.node
            if n.op_type == op_type]


@pytest.mark.parametrize("fixture", ["u2netp_fp16", "modnet_fp16"])
def test_round_trip_parity_and_fp16(fixture, request):
    report = request.getfixturevalue(fixture)
    labels = [label for label, _ in report.parity]
    assert labels == ["random", "GT01.png"]
    assert all(diff <= 1e-4 for _, diff in report.parity)
    assert [label for label, _, _ in report.fp16_drift] == labels
    for _, mx, mean in report.fp16_drift:
        assert 0 < mean <= mx < 0.05  # FP16 really changed the numbers, and not by much
    model = check_onnx(report.path)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert "FLOAT16" in _initializer_types(model)
    assert all(_float32_inputs_of(model, "Sigmoid"))


def test_modnet_statistics_stay_float32(modnet_fp16):
    model = onnx.load(str(modnet_fp16.path))
    instance_norms = _float32_inputs_of(model, "InstanceNormalization")
    assert instance_norms and all(instance_norms)
    assert all(_float32_inputs_of(model, "BatchNormalization"))


def test_dynamic_height_and_width(weights, tmp_path):
    report = to_onnx("u2netp", tmp_path / "dyn.onnx", checkpoint=weights["u2netp"], dynamic=True)
    assert report.input_shape == (1, 3, None, None)
    assert [label for label, _ in report.parity] == ["random", "random 384x352"]
    model = load("u2netp", weights["u2netp"])
    for size in [(75, 53), (32, 160)]:  # odd sizes exercise ceil-mode pooling and resize-to-skip
        src = np.random.default_rng(2).random((1, 3) + size, dtype=np.float32)
        with torch.no_grad():
            expected = model(torch.from_numpy(src)).numpy()
        np.testing.assert_allclose(run_onnx(report.path, src), expected, atol=1e-4, rtol=0)


def test_parity_failure_prints_numbers_and_writes_nothing(weights, tmp_path):
    out = tmp_path / "never.onnx"
    with pytest.raises(ExportError, match=r"random: max \d\.\d{3}e-\d+, mean .*expected max abs diff <= 1e-12"):
        to_onnx("u2netp", out, checkpoint=weights["u2netp"], height=32, width=32, atol=1e-12)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(height=500, width=512), r"height 500 for 'modnet'; expected a positive multiple of 32"),
        (dict(height=512), "expected both or neither"),
        (dict(height=64, width=64, dynamic=True), "expected one or the other"),
        (dict(height=0, width=64), "expected a positive multiple of 32"),
    ],
)
def test_size_errors_come_before_any_work(tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        to_onnx("modnet", tmp_path / "x.onnx", checkpoint=tmp_path / "absent.ckpt", **kwargs)


def test_cli_export_fp32_matches_pytorch(weights, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    code = main(["export", "u2netp", "--checkpoint", str(weights["u2netp"]), "--output", str(out),
                 "--height", "32", "--width", "64"])
    assert code == 0 and out.is_file()
    printed = capsys.readouterr().out
    assert "src 1x3x32x64, fp32" in printed and "ORT vs PyTorch max abs diff: random" in printed
    assert "FLOAT16" not in _initializer_types(onnx.load(str(out)))
    src = np.random.default_rng(1).random((1, 3, 32, 64), dtype=np.float32)
    with torch.no_grad():
        expected = load("u2netp", weights["u2netp"])(torch.from_numpy(src)).numpy()
    np.testing.assert_allclose(run_onnx(out, src), expected, atol=1e-4, rtol=0)


def test_cli_errors_are_one_line(weights, tmp_path, capsys):
    assert main(["export", "modnet", "--checkpoint", str(weights["modnet"]), "-o", str(tmp_path / "x.onnx"),
                 "--height", "100", "--width", "128"]) == 1
    assert "multiple of 32" in capsys.readouterr().err
    assert main(["export", "u2netp", "--checkpoint", str(tmp_path / "missing.pth"), "-o", str(tmp_path / "y.onnx"),
                 "--height", "32", "--width", "32"]) == 1
    assert "not a file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["export", "u2netp", "-o", "z.onnx", "--dynamic", "--height", "32"])
    assert usage.value.code == 2


@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("u2net", (320, 320)), ("modnet", (512, 512)), ("u2netp", (320, 320))])
def test_native_size_round_trip(name, size, tmp_path, shared_data):
    checkpoint = random_checkpoint(name, tmp_path / "w.pth", seed=11)
    image = shared_data / "portraits" / "astronaut.png"
    report = to_onnx(name, tmp_path / f"{name}.onnx", checkpoint=checkpoint, fp16=True, parity_images=[image])
    assert report.input_shape == (1, 3) + size
    assert all(diff <= 1e-4 for _, diff in report.parity)
