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


def test_rvm_network_nodes_are_the_recurrent_decoder_and_head_convolutions(rvm_onnx):
    from onnx import version_converter

    from edgematte.models.rvm import STATES, split_refiner

    model = version_converter.convert_version(onnx.load(str(rvm_onnx)), 17)
    nodes = int8.rvm_network_nodes(model)
    by_name = {node.name: node for node in model.graph.node}
    _, small, a_name, b_name = split_refiner(model)
    producers = {out: by_name[node.name] for node in model.graph.node for out in node.output}
    consumers = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.name)

    def ancestors(name):
        seen, stack = set(), [name]
        while stack:
            node = producers.get(stack.pop())
            if node is not None and node.name not in seen:
                seen.add(node.name)
                stack.extend(node.input)
        return seen

    assert {by_name[n].op_type for n in nodes} == {"Conv"}  # gates, concatenations and resizes stay float
    assert producers[a_name].name not in nodes and producers[b_name].name not in nodes  # the guided filter's A, b
    encoder = [n for n in consumers[small] if by_name[n].op_type in ("Sub", "AveragePool")]
    assert encoder and not set().union(*(ancestors(o) for n in encoder for o in by_name[n].output)) & nodes
    for state in STATES.values():  # every recurrent block has quantized convolutions ...
        assert ancestors(state) & nodes, state
    first = [n.name for n in model.graph.node if n.op_type == "Conv" and n.name in ancestors("r1o") - ancestors("r2o")]
    assert len(first) == 3 and first[0] not in nodes and set(first[1:]) <= nodes  # ... the r1 block's input conv not
    split = next(n for n in model.graph.node if n.op_type == "Split" and consumers.get(n.output[0]) and
                 producers[n.input[0]].op_type == "Conv" and n.name in ancestors(a_name))
    projection = producers[split.input[0]]
    assert projection.name not in nodes  # the 1x1 projection stays float
    head = ancestors(projection.input[0]) - set().union(*(ancestors(s) for s in STATES.values()))
    assert {n for n in head if by_name[n].op_type == "Conv"} <= nodes  # the output block's two 3x3 convs
    assert 10 <= len(nodes) < 30
    box_filters = [n for n in by_name.values() if n.op_type == "Conv" and n.name not in nodes]
    assert len(box_filters) > 50


@pytest.mark.slow
@checked_quantizer
def test_rvm_int8_keeps_the_split_and_stays_close_to_fp32(rvm_onnx, asl_book, tmp_path):
    import edgematte

    out = tmp_path / "rvm_int8.onnx"
    report = int8.quantize_rvm(rvm_onnx, out, [asl_book], frames_per_clip=8)
    assert report.alpha_levels[0] < 4 and report.check_frames == 4  # one step from the same states
    with edgematte.Matter(out, backend="ort-cpu") as matter:
        assert matter.pipeline.step.native_refiner  # the refiner is still cut off and runs natively
        import av

        with av.open(str(asl_book)) as container:
            frame = next(container.decode(video=0)).to_ndarray(format="bgr24")
        assert matter.replace_background(frame, (0, 255, 0)).shape == frame.shape
