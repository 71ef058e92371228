"""``edgematte export rvm``: the static RVM graph reproduces the original over a real clip.

Needs the shared RVM weights and videos (skipped with a reason when absent); the argument
checks use the tiny counting graph.
"""

from __future__ import annotations

import numpy as np
import pytest
from clips import read_frames
from rvm_graphs import counting_rvm

from edgematte.cli.__main__ import main
from edgematte.errors import InputError
from edgematte.export.rvm import export_rvm

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxslim")


def _static_inputs(path):
    model = onnx.load(str(path))
    return {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
            for v in model.graph.input}


def test_static_export_reproduces_the_original_over_a_clip(rvm_onnx, asl_book, tmp_path, capsys):
    out = tmp_path / "rvm_288x512.onnx"
    args = ["export", "rvm", "--onnx", str(rvm_onnx), "-o", str(out), "--height", "288", "--width", "512"]
    assert main(args + ["--downsample-ratio", "0.5", "--parity-clip", str(asl_book), "--fp16"]) == 0
    printed = capsys.readouterr().out
    assert "downsample_ratio 0.5 folded in" in printed and "pha drift vs FP32" in printed
    inputs = _static_inputs(out)
    assert set(inputs) == {"src", "r1i", "r2i", "r3i", "r4i"}  # the ratio is a constant now
    assert inputs["src"] == [1, 3, 288, 512] and inputs["r1i"] == [1, 16, 72, 128]
    assert all(None not in shape and 0 not in shape for shape in inputs.values())
    model = onnx.load(str(out))
    constants = {init.name for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Resize":  # every scale/size is a constant: no shape tensor for TensorRT
            assert all(name in constants or name == "" for name in node.input[1:]), node.name
    assert (tmp_path / "rvm_288x512_fp16.onnx").is_file()
    assert main(["build", str(out), "--check"]) == 0

    # the parity the export claims, recomputed here: 12 frames, each graph carrying its own states
    import cv2

    original = ort.InferenceSession(str(rvm_onnx), providers=["CPUExecutionProvider"])
    static = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    capture = cv2.VideoCapture(str(asl_book))
    a_states = {f"r{i}i": np.zeros((1, 1, 1, 1), np.float32) for i in range(1, 5)}
    b_states = {name: np.zeros(shape, np.float32) for name, shape in inputs.items() if name != "src"}
    worst = 0.0
    for _ in range(12):
        ok, frame = capture.read()
        assert ok
        src = cv2.resize(frame, (512, 288))[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255
        a = original.run(None, {"src": src, "downsample_ratio": np.array([0.5], np.float32), **a_states})
        b = static.run(None, {"src": src, **b_states})
        a_states = dict(zip(a_states, a[2:]))
        b_states = dict(zip(b_states, b[2:]))
        worst = max(worst, float(np.abs(a[1] - b[1]).max()))
    assert worst <= 1e-4


def test_export_refuses_a_bad_ratio_and_a_non_rvm_graph(tmp_path, tiny_onnx):
    counting = counting_rvm(tmp_path / "c.onnx")
    with pytest.raises(InputError, match="downsample_ratio"):
        export_rvm(counting, tmp_path / "o.onnx", height=8, width=8, downsample_ratio=1.5)
    with pytest.raises(InputError, match="height"):
        export_rvm(counting, tmp_path / "o.onnx", height=0, width=8)
    with pytest.raises(InputError, match="not a RobustVideoMatting graph"):
        export_rvm(tiny_onnx, tmp_path / "o.onnx", height=8, width=8)
    assert not (tmp_path / "o.onnx").exists()


def test_rvm_options_are_refused_for_other_models(tmp_path, capsys):
    args = ["export", "u2netp", "-o", str(tmp_path / "o.onnx"), "--downsample-ratio", "0.5"]
    assert main(args) != 0
    assert "only for RobustVideoMatting rows" in capsys.readouterr().err


@pytest.fixture(scope="module")
def static_288x512(rvm_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("static") / "rvm_288x512.onnx"
    return export_rvm(rvm_onnx, out, height=288, width=512, frames=4)


def test_static_export_mattes_like_the_dynamic_graph_on_onnx_runtime(rvm_onnx, asl_book, static_288x512, monkeypatch,
                                                                      tmp_path):
    """The export runs on ONNX Runtime as a model of its own (RVM's static form: no downsample_ratio input, the
    states from zeros of their full shape), within a level on average of the dynamic graph at the same ratio."""
    import cv2

    import edgematte

    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path))
    frames = read_frames(asl_book, 20, (512, 288), cv2.INTER_AREA)
    report = static_288x512
    with edgematte.Matter(report.path, backend="ort-cpu") as static, \
            edgematte.Matter(rvm_onnx, backend="ort-cpu", downsample_ratio=report.downsample_ratio) as dynamic:
        assert static.pipeline.step.static and not dynamic.pipeline.step.static
        means = []
        for frame in frames:
            got, want = static.process(frame, (0, 255, 0)), dynamic.process(frame, (0, 255, 0))
            means.append(float(np.abs(got.alpha.astype(int) - want.alpha).mean()))
            assert got.foreground is not None and not got.cut
        assert max(means) <= 1.0, means
        with pytest.raises(InputError, match="received a 640x480 frame for a static RobustVideoMatting graph of 512x288"):
            static.process(np.zeros((480, 640, 3), np.uint8))
    with pytest.raises(InputError, match="downsample_ratio=0.5 for a static RobustVideoMatting graph"):
        edgematte.Matter(report.path, backend="ort-cpu", downsample_ratio=0.5)
    photo = tmp_path / "frame.png"
    cv2.imwrite(str(photo), frames[0])  # the CLI's --model takes the export too (it was "missing inputs")
    args = ["matte", str(photo), "-o", str(tmp_path / "out.png"), "--model", str(report.path), "--backend", "ort-cpu"]
    assert main(args) == 0 and cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED).shape == (288, 512, 4)
