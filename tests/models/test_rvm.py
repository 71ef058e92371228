"""RobustVideoMatting: signature recognition, the ratio, and the recurrent model step (RvmStep in the pipeline).

The counting graph (tests/rvm_graphs.py) checks state carrying exactly; the real MobileNetV3
weights in ../shared/weights/rvm_mobilenetv3 check the real thing (skipped when absent).
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto
from rvm_graphs import counting_rvm

from edgematte.errors import InputError, ModelError
from edgematte.models import get_spec
from edgematte.models.rvm import auto_downsample_ratio, check_downsample_ratio, is_rvm
from edgematte.pipeline import Pipeline
from edgematte.pipeline.host import HostSpace
from edgematte.pipeline.steps import RvmStep
from edgematte.runtime import open_backend

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def clip(shared_data):
    import cv2

    path = shared_data / "videos" / "asl_again.mkv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < 12:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    return frames


def _frame(h=24, w=32, value=100):
    return np.full((h, w, 3), value, np.uint8)


def test_counting_graph_is_rvm_and_tiny_seg_is_not(counting, tiny_onnx):
    with open_backend("ort-cpu", counting) as backend:
        assert is_rvm(backend.inputs, backend.outputs)
    with open_backend("ort-cpu", tiny_onnx) as backend:
        assert not is_rvm(backend.inputs, backend.outputs)


@pytest.mark.parametrize(
    "variant, message",
    [
        ({"drop_input": "r3i"}, r"missing inputs \['r3i'\]"),
        ({"dtypes": {"r2i": TensorProto.FLOAT16, "r2o": TensorProto.FLOAT16}}, "r2i is float16"),
        ({"dtypes": {"r4i": TensorProto.DOUBLE, "r4o": TensorProto.DOUBLE}}, "r4i is float64"),
        ({"state_rank": 3}, "r1i has rank 3"),
    ],
)
def test_almost_rvm_graphs_are_refused_by_name(tmp_path, variant, message):
    path = counting_rvm(tmp_path / "almost.onnx", **variant)
    with open_backend("ort-cpu", path) as backend:
        with pytest.raises(ModelError, match=message) as info:
            is_rvm(backend.inputs, backend.outputs)
        assert "RobustVideoMatting" in str(info.value)
        with pytest.raises(ModelError):
            Pipeline(backend)


def test_states_are_carried_as_ortvalues_and_reset(counting):
    with open_backend("ort-cpu", counting) as backend:
        model = Pipeline(backend, downsample_ratio=0.5)
        counts = [int(model.process(_frame()).alpha[0, 0]) for _ in range(3)]
        assert counts == [1, 2, 3]  # r1o came back as r1i each frame
        pairs = {name: list(pair) for name, pair in backend._state.items()}
        assert len(pairs) == 4 and all(isinstance(v, ort.OrtValue) for pair in pairs.values() for v in pair)
        assert int(model.process(_frame()).alpha[0, 0]) == 4
        for name, (held, made) in backend._state.items():  # the same two OrtValues, swapped: nothing allocated
            assert held is pairs[name][1] and made is pairs[name][0]
        model.reset()
        assert int(model.process(_frame()).alpha[0, 0]) == 1


def test_a_state_that_changes_shape_is_carried_on(tmp_path):
    """Without a reset (the backend alone), a state whose shape follows the frame still carries over a new size."""
    path = counting_rvm(tmp_path / "follow.onnx", follow_frame=True)
    ratio = np.ones(1, np.float32)
    with open_backend("ort-cpu", path) as backend:
        backend.carry_state({f"r{i}i": f"r{i}o" for i in range(1, 5)})
        counts = [backend.infer({"src": np.zeros((1, 3) + hw, np.float32), "downsample_ratio": ratio})["pha"]
                  for hw in ((4, 6), (4, 6), (6, 8), (6, 8), (4, 6))]
        assert [round(float(c.max()) * 255) for c in counts] == [1, 2, 3, 4, 5]
        assert [c.shape[2:] for c in counts] == [(4, 6), (4, 6), (6, 8), (6, 8), (4, 6)]


def test_foreground_is_bgr_and_ratio_is_fed(counting):
    with open_backend("ort-cpu", counting) as backend:
        frame = np.zeros((8, 10, 3), np.uint8)
        frame[..., 0], frame[..., 2] = 200, 40  # B, R
        foreground = Pipeline(backend, downsample_ratio=0.5).process(frame).foreground
        assert foreground.shape == (8, 10, 3) and foreground.dtype == np.uint8
        np.testing.assert_array_equal(foreground[0, 0], [100, 0, 20])  # fgr = src * ratio, back in BGR


def test_new_frame_size_or_ratio_restarts_the_states(counting):
    with open_backend("ort-cpu", counting) as backend:
        model = Pipeline(backend)
        result = model.process(_frame())
        assert int(result.alpha[0, 0]) == 1 and not result.cut
        assert int(model.process(_frame()).alpha[0, 0]) == 2
        result = model.process(_frame(h=30, w=40))
        assert result.alpha.shape == (30, 40) and int(result.alpha[0, 0]) == 1 and result.cut
        model.step.downsample_ratio = 0.5
        result = model.process(_frame(h=30, w=40))
        assert int(result.alpha[0, 0]) == 1 and result.cut


def test_scene_cut_restarts_the_states(counting):
    with open_backend("ort-cpu", counting) as backend:
        model = Pipeline(backend)
        model.process(_frame(value=10))
        assert int(model.process(_frame(value=12)).alpha[0, 0]) == 2  # small change: same scene
        result = model.process(_frame(value=200))
        assert result.cut and int(result.alpha[0, 0]) == 1


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.01, float("nan"), float("inf"), True, "0.5", [0.5]])
def test_bad_ratio_is_refused(bad):
    with pytest.raises(InputError, match="downsample_ratio"):
        check_downsample_ratio(bad)


def test_automatic_ratio_table():
    assert auto_downsample_ratio(480, 640) == 0.5
    assert auto_downsample_ratio(720, 1280) == 0.25
    assert auto_downsample_ratio(1080, 1920) == pytest.approx(1 / 6)
    assert auto_downsample_ratio(200, 300) == 1.0
    for h, w in ((480, 640), (720, 1280), (1080, 1920), (2160, 3840), (1920, 1080)):
        assert round(max(h, w) * auto_downsample_ratio(h, w)) == 320


def test_table_rows_point_at_the_official_release():
    for name, backbone in (("rvm", "mobilenetv3"), ("rvm-resnet50", "resnet50")):
        spec = get_spec(name)
        (ckpt,) = spec.checkpoints
        assert spec.architecture == "rvm" and spec.weights_subdir == "rvm" and ckpt.sha256 is None
        assert ckpt.url == (
            "https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/" f"rvm_{backbone}_fp32.onnx"
        )
        assert "GPL-3.0" in spec.licence


def test_offline_rvm_says_where_to_put_the_file(monkeypatch, tmp_path):
    from edgematte.export.to_onnx import onnx_for

    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EDGEMATTE_WEIGHTS", raising=False)
    with pytest.raises(ModelError) as info:
        onnx_for("rvm", progress=False)
    message = str(info.value)
    assert "rvm/rvm_mobilenetv3_fp32.onnx" in message and "sha256" in message
    assert "has no download URL" not in message and "does not download it from https://" in message
    assert "releases/tag/v1.0.0" in message
    assert "as the model" in message and "checkpoint_path('rvm', sha256=...)" in message


def test_rvm_row_resolves_under_edgematte_weights(monkeypatch, tmp_path):
    from edgematte.export.to_onnx import onnx_for

    target = tmp_path / "rvm" / "rvm_mobilenetv3_fp32.onnx"
    target.parent.mkdir()
    target.write_bytes(b"x")
    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(tmp_path))
    assert onnx_for("rvm") == target


def test_real_rvm_mattes_a_clip_in_order(rvm_onnx, clip):
    with open_backend("ort-cpu", rvm_onnx) as backend:
        assert is_rvm(backend.inputs, backend.outputs)
        model = Pipeline(backend)
        alphas = []
        for frame in clip:
            result = model.process(frame)
            alpha, foreground = result.alpha, result.foreground
            assert not result.cut
            alphas.append(alpha.copy())
        h, w = alpha.shape
        # the signer stands in the middle of a static office: person in the centre, background at the sides
        assert alphas[-1][h // 2, w // 2] > 200 and alphas[-1][h // 2, :20].max() < 30
        assert foreground.shape == (h, w, 3) and foreground.dtype == np.uint8
        # the state matters: frame 10 run from reset states differs from the carried one
        model.reset()
        fresh = model.process(clip[-1]).alpha
        assert np.abs(fresh.astype(int) - alphas[-1]).max() > 0


def test_matter_runs_rvm_with_foreground_and_no_trimap(counting):
    import edgematte
    from edgematte.kernels import composite

    with edgematte.Matter(counting, backend="ort-cpu", downsample_ratio=0.5, temporal=0.5) as m:
        frame = np.full((12, 16, 3), 180, np.uint8)
        first = m.process(frame, background=(0, 255, 0))
        assert first.trimap is None and first.foreground.shape == (12, 16, 3)
        np.testing.assert_array_equal(first.foreground, 90)  # fgr = src * ratio
        expected = composite(first.foreground, first.alpha, (0, 255, 0))
        np.testing.assert_array_equal(first.composite, expected)  # the foreground, not the frame, is composited
        assert int(m.process(frame).alpha[0, 0]) == 2  # EMA at strength 0.5 of 1 and 2, rounded
        m.reset()
        assert int(m.process(frame).alpha[0, 0]) == 1
        resized = m.process(np.full((20, 8, 3), 180, np.uint8))
        assert resized.alpha.shape == (20, 8) and resized.cut and int(resized.alpha[0, 0]) == 1


def test_matter_smooths_rvm_by_default_whatever_refine_says(counting):
    """RVM is a real-time path: temporal="auto" is on for it, though Matter's default refine is the photos' "full"."""
    import edgematte
    from edgematte.pipeline import TemporalConfig

    with edgematte.Matter(counting, backend="ort-cpu") as m:
        assert m.pipeline.temporal.config == TemporalConfig()
    with edgematte.Matter(counting, backend="ort-cpu", temporal=0) as m:
        assert m.pipeline.temporal.config is None


def test_matter_refuses_a_ratio_for_other_models(tiny_onnx):
    import edgematte

    with pytest.raises(InputError, match="downsample_ratio=0.5 for a model with inputs \\['src'\\]"):
        edgematte.Matter(tiny_onnx, backend="ort-cpu", downsample_ratio=0.5)


@pytest.mark.parametrize("bad", [0.0, 1.5, "auto"])
def test_matter_refuses_a_bad_ratio(counting, bad):
    import edgematte

    with pytest.raises(InputError, match="downsample_ratio"):
        edgematte.Matter(counting, backend="ort-cpu", downsample_ratio=bad)


def test_real_rvm_through_matter_composites_its_foreground(rvm_onnx, clip):
    import edgematte

    with edgematte.Matter(rvm_onnx, backend="ort-cpu") as m:
        for frame in clip[:3]:
            result = m.process(frame, background=(0, 255, 0))
        inside = result.alpha == 255
        assert inside.mean() > 0.1
        np.testing.assert_array_equal(result.composite[inside], result.foreground[inside])
        assert not np.array_equal(result.foreground, clip[2])  # the model's colour, not the frame


def test_cli_video_carries_the_state_in_order(counting, tmp_path):
    import cv2
    from edgematte.cli.__main__ import main

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 24))
    for _ in range(6):
        writer.write(np.full((24, 32, 3), 90, np.uint8))
    writer.release()
    out = tmp_path / "alpha.avi"
    args = ["video", str(clip), "-o", str(out), "--matte-only", "--crf", "0", "--model", str(counting)]
    assert main(args + ["--backend", "ort-cpu", "--downsample-ratio", "0.5", "--temporal", "0"]) == 0
    capture = cv2.VideoCapture(str(out))
    levels = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        levels.append(int(np.median(frame[..., 1])))
    assert len(levels) == 6
    assert all(abs(got - want) <= 2 for got, want in zip(levels, range(1, 7)))  # frame count: in order, carried


def test_cli_refuses_a_ratio_for_other_models(tiny_onnx, tmp_path, capsys):
    from edgematte.cli.__main__ import main

    photo = tmp_path / "p.png"
    import cv2

    cv2.imwrite(str(photo), np.zeros((8, 8, 3), np.uint8))
    args = ["matte", str(photo), "-o", str(tmp_path / "o.png"), "--model", str(tiny_onnx), "--backend", "ort-cpu"]
    assert main(args + ["--downsample-ratio", "0.5"]) == 1
    assert "expected it only for RobustVideoMatting" in capsys.readouterr().err


# -- the refiner's full-resolution step: native kernel vs its NumPy twin, and the split graph -------
fgf = pytest.importorskip("edgematte.kernels._fgf", reason="native kernels not built")


def _fgf_case(rng, height, width, h, w):
    frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    a = rng.uniform(-2, 2, (4, h, w)).astype(np.float32)
    b = rng.uniform(-1, 1.5, (4, h, w)).astype(np.float32)
    return frame, a, b


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("sizes", [(24, 40, 6, 10), (7, 5, 7, 5), (9, 13, 4, 3), (1, 1, 1, 1), (30, 17, 1, 2)])
def test_fgf_kernel_matches_reference(sizes, threads):
    from edgematte.models.rvm import fgf_apply_reference

    frame, a, b = _fgf_case(np.random.default_rng(sum(sizes)), *sizes)
    alpha = np.empty(frame.shape[:2], np.uint8)
    foreground = np.empty_like(frame)
    fgf.fgf_apply(frame, a, b, alpha, foreground, threads)
    want_alpha, want_fg = fgf_apply_reference(frame, a, b)
    assert np.abs(alpha.astype(int) - want_alpha).max() <= 1  # float32 vs float64 at .5 boundaries
    assert np.abs(foreground.astype(int) - want_fg).max() <= 1
    assert np.mean(alpha == want_alpha) > 0.99 and np.mean(foreground == want_fg) > 0.99


def test_fgf_reference_matches_onnx_resize():
    """The twin's upsampling is ONNX Resize linear / pytorch_half_pixel, as in RVM's graph."""
    from onnx import TensorProto, helper

    from edgematte.models.rvm import fgf_apply_reference

    rng = np.random.default_rng(5)
    frame = np.full((11, 14, 3), 255, np.uint8)  # x = 1 everywhere: alpha = clip(up(a) + up(b))
    a = rng.uniform(0, 0.5, (4, 4, 5)).astype(np.float32)
    b = np.zeros_like(a)
    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                            coordinate_transformation_mode="pytorch_half_pixel")
    graph = helper.make_graph(
        [node], "resize", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 4, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 11, 14])],
        [helper.make_tensor("sizes", TensorProto.INT64, [4], [1, 4, 11, 14])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    up = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": a[None]})[0]
    alpha, _ = fgf_apply_reference(frame, a, b)
    np.testing.assert_array_equal(alpha, np.floor(np.clip(up[0, 3], 0, 1) * 255 + 0.5).astype(np.uint8))


def test_split_graph_agrees_with_the_whole_graph(rvm_onnx, clip, monkeypatch, tmp_path):
    import cv2

    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path))
    with open_backend("ort-cpu", rvm_onnx) as whole, open_backend("ort-cpu", rvm_onnx) as original:
        graph = Pipeline(whole, step=RvmStep(whole, HostSpace(), split=False))
        split = Pipeline(original)
        assert split.step.native_refiner and not graph.step.native_refiner
        assert list((tmp_path / "rvm" / "split").glob("*.onnx"))  # cut once, cached
        diffs = []
        for frame in clip[:8]:
            frame = cv2.resize(frame, (512, 384))
            want, got = graph.process(frame), split.process(frame)  # two pipelines: two sets of buffers
            diffs.append(np.abs(want.alpha.astype(int) - got.alpha))
        diffs = np.array(diffs)
        # OpenCV's uint8 bilinear downsampling vs the graph's float one: tiny differences, carried in the state
        assert diffs.mean() < 0.1 and np.percentile(diffs, 99.9) <= 4
        assert np.abs(want.foreground.astype(int) - got.foreground).mean() < 1.5


def test_matter_close_closes_the_split_backend(rvm_onnx):
    import edgematte

    matter = edgematte.Matter(rvm_onnx, backend="ort-cpu")
    split = matter.pipeline.step.backend
    assert split is not matter.backend and matter.pipeline.step.native_refiner
    matter.close()
    with pytest.raises(InputError, match="not open"):
        split.inputs


def test_cli_matte_treats_each_photo_as_a_first_frame(counting, tmp_path):
    import cv2

    from edgematte.cli.__main__ import main

    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(tmp_path / name), np.full((12, 16, 3), 90, np.uint8))
    out = tmp_path / "out"
    args = ["matte", str(tmp_path / "a.png"), str(tmp_path / "b.png"), str(tmp_path / "c.png"), "-o", str(out)]
    assert main(args + ["--model", str(counting), "--backend", "ort-cpu"]) == 0
    for name in ("a.png", "b.png", "c.png"):
        alpha = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)[..., 3]
        assert int(alpha[0, 0]) == 1  # the counter restarted for every photo


def test_rvm_goes_to_tensorrt_like_any_model(counting, tiny_onnx, monkeypatch, caplog):
    """backend="tensorrt" asks for RVM's engines as for any model's (it was refused: "expected backend 'ort-cpu'"),
    and "auto" tries TensorRT and logs its fallback (it went to ONNX Runtime without a word)."""
    import logging
    import threading

    import edgematte
    from edgematte.errors import BackendUnavailableError
    from edgematte.models.rvm import is_rvm_file
    from edgematte.runtime.ort_cpu import OrtCpuBackend

    assert is_rvm_file(counting) and not is_rvm_file(tiny_onnx)
    tried = []

    def unavailable(path, **kwargs):
        tried.append(path)
        raise BackendUnavailableError("no TensorRT engine was built for the RobustVideoMatting graph (test)")

    monkeypatch.setattr("edgematte.export.to_trt.engine_for", unavailable)
    monkeypatch.delenv("EDGEMATTE_BACKEND", raising=False)
    monkeypatch.setattr("edgematte.runtime._fallback_logged", threading.Event())  # logged once per process
    monkeypatch.setattr("edgematte.runtime.tensorrt_installed", lambda: True)  # installed, but it cannot start
    with pytest.raises(BackendUnavailableError, match="no TensorRT engine was built"):
        edgematte.Matter(counting, backend="tensorrt")
    with caplog.at_level(logging.WARNING, logger="edgematte"), edgematte.Matter(counting, backend="auto") as matter:
        assert isinstance(matter.backend, OrtCpuBackend) and type(matter.pipeline.step).__name__ == "RvmStep"
    assert tried == [counting, counting]
    assert "TensorRT could not start" in caplog.text and "no TensorRT engine was built" in caplog.text
