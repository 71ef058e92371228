"""One pipeline, one model-step interface, frames that stay where they live: each test here names a defect of the
two-pipelines design it replaced (and fails on it). (``every``, a frame that skips the model: tests/test_every.py.)"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
from cuda_on_cpu import DeviceArray, cpu_cuda_space, fake_cupy
from rvm_graphs import counting_rvm

import edgematte
from edgematte.pipeline import Pipeline, TemporalConfig
from edgematte.runtime.ort_cpu import OrtCpuBackend

PACKAGE = Path(edgematte.__file__).resolve().parent


def test_one_pipeline_class_and_no_second_hot_path():
    """Two pipelines (Pipeline and DevicePipeline) and a third hot path for RVM (_process_recurrent) were one."""
    assert importlib.util.find_spec("edgematte.device_pipeline") is None
    assert not hasattr(Pipeline, "_process_recurrent") and not hasattr(Pipeline, "rvm")
    classes = [m for path in PACKAGE.rglob("*.py") for m in re.findall(r"^class (\w*Pipeline)\b", path.read_text(), re.M)]
    assert classes == ["Pipeline"]


def test_the_pipeline_code_is_at_most_1100_lines():
    """pipeline + spaces + steps: 1,523 lines in two pipelines before (pipeline.py, device_pipeline.py)."""
    files = list((PACKAGE / "pipeline").glob("*.py")) + [PACKAGE / "pipeline.py", PACKAGE / "device_pipeline.py"]
    lines = sum(len(path.read_text().splitlines()) for path in files if path.is_file())
    assert lines <= 1100, lines


def test_no_numpy_reimplementation_of_opencv_in_the_package():
    """The NumPy twins of cv2's INTER_LINEAR, convertScaleAbs, addWeighted and multiply existed only to show the
    device pipeline equal to the host one; the CUDA stages' twins are OpenCV itself and the native passes (tests)."""
    text = "\n".join(path.read_text() for path in PACKAGE.rglob("*.py"))
    for name in ("resize_linear_u8", "linear_plan", "_quantize", "_LinearWork"):
        assert not re.search(rf"\b{name}\b", text), name


def _checkerboard(size, inverted):
    board = (np.indices((size, size)).sum(0) % 2 * 200 + 20).astype(np.uint8)
    return np.repeat((255 - board if inverted else board)[..., None], 3, axis=2)


def test_rvm_and_segmentation_models_share_one_cut_detector(tiny_onnx, tmp_path):
    """RVM had its own cut test (32x32 thumbnails), blind to a change that keeps every thumbnail pixel's mean:
    one detector, on the model-size frames, now restarts both the EMA and RVM's state on the same frames."""
    frames = [_checkerboard(64, False), _checkerboard(64, False), _checkerboard(64, True)]
    temporal = TemporalConfig(cut_threshold=0.3)
    with OrtCpuBackend(counting_rvm(tmp_path / "rvm.onnx")) as rvm, OrtCpuBackend(tiny_onnx) as seg:
        rvm_cuts = [r.cut for r in map(Pipeline(rvm, downsample_ratio=1.0, temporal=temporal).process, frames)]
        seg_cuts = [r.cut for r in map(Pipeline(seg, temporal=temporal, refine="off").process,
                                       [np.ascontiguousarray(f[:32, :32]) for f in frames])]
    assert rvm_cuts == seg_cuts == [False, False, True]


def test_rvm_allocates_only_the_buffers_it_uses(tmp_path):
    """The RVM path made the whole segmentation buffer set (fit planes, trimap, ...) and used none of it."""
    with OrtCpuBackend(counting_rvm(tmp_path / "rvm.onnx")) as rvm:
        pipeline = Pipeline(rvm)
        pipeline.process(np.full((24, 32, 3), 90, np.uint8), (0, 255, 0))
        made = set(vars(pipeline._local.buffers))
    assert not made & {"coef", "blurs", "fit_image", "fit_alpha", "trimap", "raw_alpha", "small_alpha", "halves"}
    assert {"small", "src", "alpha", "foreground"} <= made


def test_the_space_knows_where_a_frame_lives_and_checks_it_once(tiny_onnx, monkeypatch):
    """Matter asked the device pipeline's module whether a frame was on the device before it knew its pipeline, and
    checked each frame twice; now the pipeline's space does both, once."""
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as matter:
        asked = []
        check = matter.pipeline.space.check
        monkeypatch.setattr(matter.pipeline.space, "check", lambda frame, channels: asked.append(channels) or
                            check(frame, channels))
        matter.process(np.zeros((20, 30, 3), np.uint8))
        matter.replace_background(np.zeros((20, 30, 4), np.uint8), (0, 0, 0))
    assert asked == ["bgr", "bgr"]


def test_close_goes_through_the_pipeline(tiny_onnx, monkeypatch):
    """Matter.close reached into pipeline.rvm (and DevicePipeline had rvm = None only for that)."""
    matter = edgematte.Matter(tiny_onnx, backend="ort-cpu")
    closed = []
    monkeypatch.setattr(matter.pipeline, "close", lambda: closed.append(True))
    matter.close()
    assert closed == [True]


def test_frames_do_not_bounce_in_the_cuda_space(tmp_path, monkeypatch):
    """On the device, "fast" downloaded the model-size frame and alpha and uploaded the coefficients, and "blur"
    downloaded the frame, blurred it on the host and uploaded it: now a device frame is never copied to the host
    and back, and a host frame goes up once and its results come down once."""
    bench = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", bench)
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    moved = []
    monkeypatch.setattr(DeviceArray, "get", lambda self, out=None: moved.append("down") or np.copyto(out, self) or out)
    monkeypatch.setattr(DeviceArray, "set", lambda self, host: moved.append("up") or np.copyto(self, host))
    frame = gpu_check.synthetic_frames((96, 128), 1)[0]
    for background in ("blur", (0, 255, 0), None):
        pipeline = Pipeline(gpu_check.StandInBackend(fake_cupy), space=cpu_cuda_space(tmp_path), refine="fast",
                            temporal=TemporalConfig())
        for _ in range(2):
            pipeline.process(fake_cupy.asarray(frame), background)
        assert moved == [], background
        pipeline.process(frame, background)  # a host frame: up once; alpha, foreground, composite down once each
        assert moved == ["up", "down", "down", "down"], background
        moved.clear()
