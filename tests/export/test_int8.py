"""``edgematte export selfie|rvm --int8``: QDQ INT8 graphs calibrated on real clips (edgematte.export.int8).

The selfie graph is small enough to quantize here; RobustVideoMatting's network selection is checked on
its real graph, and its quantization end to end is ``slow`` (about a minute).
"""

from __future__ import annotations

import numpy as np
import pytest

from edgematte.cli.__main__ import main
from edgematte.export import int8

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
#: the exports themselves need a quantizer they are checked with (the oldest allowed onnxruntime's fails)
checked_quantizer = pytest.mark.skipif(
    tuple(int(n) for n in ort.__version__.split(".")[:2]) < tuple(int(n) for n in int8.CHECKED_ONNXRUNTIME.split(".")),
    reason=f"onnxruntime {ort.__version__}'s quantizer is older than {int8.CHECKED_ONNXRUNTIME}, the oldest "
    "export --int8 is checked with (it raises ExportError naming both)",
)


@pytest.mark.parametrize("text, found", [
    ("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n", "VNNI"),
    ("flags\t\t: fpu sse2 avx2 avx_vnni\n", "VNNI"),
    ("Features\t: fp asimd evtstrm aes asimddp\n", "dot product"),
    ("flags\t\t: fpu sse2 avx2 fma\n", None),
    ("", None),
])
def test_int8_dot_product_reads_the_cpu_flags(text, found):
    assert int8.int8_dot_product(text) == found


@checked_quantizer
def test_selfie_int8_keeps_the_signature_and_reports_parity_and_speed(shared_weights, asl_book, tmp_path, monkeypatch,
                                                                      capsys):
    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(shared_weights))
    out = tmp_path / "selfie_int8.onnx"
    assert main(["export", "selfie", "--int8", "-o", str(out), "--calibration", str(asl_book)]) == 0
    printed = capsys.readouterr().out
    assert "selfie INT8, QDQ" in printed and "alpha vs FP32" in printed and "one thread here" in printed
    model = onnx.load(str(out))
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["src"] and [o.name for o in session.get_outputs()] == ["alpha"]
    alpha = session.run(None, {"src": np.full((1, 3, 256, 256), 0.5, np.float32)})[0]
    assert alpha.shape == (1, 1, 256, 256) and alpha.dtype == np.float32


@pytest.mark.parametrize("args, expected", [
    (["export", "selfie", "--int8", "-o", "x.onnx"], "at least one --calibration"),
    (["export", "rvm", "--int8", "-o", "x.onnx", "--calibration", ".", "--height", "288"], "--height"),
    (["export", "selfie", "-o", "x.onnx", "--calibration", "."], "--int8=False"),
])
def test_int8_flags_are_checked(args, expected, capsys):
    assert main(args) == 2  # a usage error, refused before any work, naming the flags received
    assert expected in capsys.readouterr().err


def test_int8_refuses_a_path_with_no_video(tmp_path):
    from edgematte.errors import InputError

    (tmp_path / "notes.txt").write_text("no video here")
    with pytest.raises(InputError, match="with no video"):
        int8.quantize_selfie(tmp_path / "any.onnx", tmp_path / "out.onnx", [tmp_path])


def test_rvm_network_nodes_are_the_recurrent_decoder_and_head(rvm_onnx):
    from onnx import version_converter

    from edgematte.models.rvm import STATES, split_refiner

    model = version_converter.convert_version(onnx.load(str(rvm_onnx)), 17)
    nodes = int8.rvm_network_nodes(model)
    by_name = {node.name: node for node in model.graph.node}
    _, small, a_name, b_name = split_refiner(model)
    producers = {out: node.name for node in model.graph.node for out in node.output}
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.name)
    assert producers[a_name] not in nodes and producers[b_name] not in nodes  # the guided filter's A and b
    encoder = [n for n in consumers[small] if by_name[n].op_type in ("Sub", "AveragePool")]
    assert encoder and not set(encoder) & nodes  # the encoder, which sees only the frame, stays float
    for state in STATES:  # the recurrent decoder is quantized ...
        assert set(consumers[state]) & nodes, state
    convs = [n for n in nodes if by_name[n].op_type == "Conv"]
    assert 10 <= len(convs) < 30  # ... and the head (o1, o2, proj) with it; not the encoder's ~50
    box_filters = [n for n in by_name.values() if n.op_type == "Conv" and n.name not in nodes]
    assert len(box_filters) > 50


@pytest.mark.slow
@checked_quantizer
def test_rvm_int8_keeps_the_split_and_stays_close_to_fp32(rvm_onnx, asl_book, tmp_path):
    import edgematte

    out = tmp_path / "rvm_int8.onnx"
    report = int8.quantize_rvm(rvm_onnx, out, [asl_book], frames_per_clip=8)
    assert report.alpha_levels[0] < 8 and report.check_frames == 4  # one step from the same states
    with edgematte.Matter(out, backend="ort-cpu") as matter:
        assert matter.pipeline.step.native_refiner  # the refiner is still cut off and runs natively
        import av

        with av.open(str(asl_book)) as container:
            frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
        assert matter.replace_background(frame, (0, 255, 0)).shape == frame.shape
