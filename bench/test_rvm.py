"""RobustVideoMatting, 1280x720 background replacement at the automatic ratio (0.25), on a real clip.

    pytest bench/test_rvm.py --benchmark-json bench/results/rvm.json
    python bench/ratios.py bench/results/rvm.json

The baseline is the plain ONNX Runtime loop: the dynamic graph as published, NumPy states
and full-size float32 arrays copied in and out every frame, the composite in NumPy. Beside it:
edgematte's ``Matter.replace_background`` (split graph, native refiner step, states as
OrtValues), and the model step alone in both forms (whole graph through IO binding, split
graph + native refiner) to show where the time goes. Every entry processes the clip's frames
in order (recurrent state), cycling. Goal: >= 20 FPS on 2 CPU cores.

INT8 (``edgematte export rvm --int8``): ``Matter.replace_background`` on the INT8 graph in the same group,
and group ``rvm-int8-paired-1280x720``: FP32 and INT8 alternating frame by frame (ratio in
``extra_info``; goal: >= 30 FPS). The INT8 graph is ``EDGEMATTE_BENCH_RVM_INT8`` when set, else made
here from the shared clips (8 frames each, about a minute).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
WEIGHTS = SHARED / "weights" / "rvm_mobilenetv3" / "rvm_mobilenetv3_from_tfjs_uint8_fp32.onnx"
CLIP = SHARED / "data" / "videos" / "asl_book.mkv"
SIZE = (1280, 720)
BACKGROUND = (64, 177, 0)  # BGR green
ROUNDS, WARMUP = 40, 5
GROUP = "rvm-replace-background-1280x720"


@pytest.fixture(scope="module")
def frames():
    import cv2

    if not WEIGHTS.is_file() or not CLIP.is_file():
        pytest.skip(f"{WEIGHTS} or {CLIP} is absent")
    capture = cv2.VideoCapture(str(CLIP))
    out = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        out.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_LINEAR))
    return out


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory):
    os.environ.setdefault("EDGEMATTE_CACHE", str(tmp_path_factory.mktemp("cache")))


class InOrder:
    """Calls ``step(frame)`` on the clip's frames in order, cycling."""

    def __init__(self, frames, step):
        self.frames, self.step, self.index = frames, step, 0

    def __call__(self):
        frame = self.frames[self.index % len(self.frames)]
        self.index += 1
        return self.step(frame)


class PlainLoop:
    """The straightforward ONNX Runtime loop over RVM, as upstream's inference example does it."""

    def __init__(self, ratio: float) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(WEIGHTS), providers=["CPUExecutionProvider"])
        self.rec = [np.zeros((1, 1, 1, 1), np.float32)] * 4
        self.ratio = np.array([ratio], np.float32)
        self.background = np.asarray(BACKGROUND, np.float32)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        src = (frame[:, :, ::-1].transpose(2, 0, 1)[None] / np.float32(255)).astype(np.float32)
        fgr, pha, *self.rec = self.session.run(
            None, {"src": src, "r1i": self.rec[0], "r2i": self.rec[1], "r3i": self.rec[2], "r4i": self.rec[3],
                   "downsample_ratio": self.ratio},
        )
        fgr = fgr[0].transpose(1, 2, 0)[:, :, ::-1] * 255
        a = pha[0].transpose(1, 2, 0)
        return (fgr * a + self.background * (1 - a)).round().astype(np.uint8)


def _info(benchmark, role, **extra):
    benchmark.group = GROUP
    benchmark.extra_info["role"] = role
    benchmark.extra_info.update(extra)


def test_plain_onnxruntime_loop_baseline(benchmark, frames):
    from edgematte.models.rvm import auto_downsample_ratio

    ratio = auto_downsample_ratio(SIZE[1], SIZE[0])
    _info(benchmark, "baseline", ratio=ratio)
    benchmark.pedantic(InOrder(frames, PlainLoop(ratio)), rounds=ROUNDS, warmup_rounds=WARMUP)


def test_matter_replace_background(benchmark, frames):
    import edgematte

    with edgematte.Matter(WEIGHTS, backend="ort-cpu") as matter:
        rvm = matter.pipeline.step
        _info(benchmark, "edgematte", native_refiner=rvm.native_refiner, ratio=rvm.ratio_for(SIZE[1], SIZE[0]),
              threads=rvm.backend.threads)
        run = InOrder(frames, lambda f: matter.replace_background(f, BACKGROUND))
        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=WARMUP)
        stages = {}
        for _ in range(10):
            for stage, ms in matter.process(frames[0], BACKGROUND).timings.items():
                stages.setdefault(stage, []).append(ms)
        benchmark.extra_info.update({f"{k}_ms": round(float(np.median(v)), 2) for k, v in stages.items()})


@pytest.mark.parametrize("split", [False, True], ids=["whole-graph", "split-native-refiner"])
def test_model_step_only(benchmark, frames, split):
    """The pipeline with RVM's step and nothing around it (no temporal stage, no composite)."""
    from edgematte.pipeline import Pipeline
    from edgematte.pipeline.host import HostSpace
    from edgematte.pipeline.steps import RvmStep
    from edgematte.runtime import open_backend

    with open_backend("ort-cpu", WEIGHTS) as backend:
        pipeline = Pipeline(backend, step=RvmStep(backend, HostSpace(), split=split))
        _info(benchmark, f"model step, {'split' if split else 'whole graph'}",
              native_refiner=pipeline.step.native_refiner)
        benchmark.pedantic(InOrder(frames, pipeline.process), rounds=ROUNDS, warmup_rounds=WARMUP)


def _paired(benchmark, frames, group, sides):
    """Times each of ``sides`` (name -> step of one frame) on the same frame, one after the other, over the
    clip in order: the timed unit is the pair; returns name -> the per-frame seconds after warm-up."""
    import time

    times = {name: [] for name in sides}

    def pair(frame):
        for name, step in sides.items():
            start = time.perf_counter()
            step(frame)
            times[name].append(time.perf_counter() - start)

    benchmark.group = group
    benchmark.pedantic(InOrder(frames, pair), rounds=ROUNDS, warmup_rounds=WARMUP)
    return {name: values[WARMUP:] for name, values in times.items()}


def test_paired_plain_loop_and_matter(benchmark, frames):
    """Both on the same frame, alternating, so that a shared machine's load hits both alike.

    The timed unit is the pair; extra_info holds each side's median and min and their ratio.
    """
    import edgematte
    from edgematte.models.rvm import auto_downsample_ratio

    plain = PlainLoop(auto_downsample_ratio(SIZE[1], SIZE[0]))
    with edgematte.Matter(WEIGHTS, backend="ort-cpu") as matter:
        times = _paired(benchmark, frames, "rvm-paired-1280x720",
                        {"plain": plain, "matter": lambda f: matter.replace_background(f, BACKGROUND)})
    for side, values in times.items():
        benchmark.extra_info[f"{side}_median_ms"] = round(1e3 * float(np.median(values)), 1)
        benchmark.extra_info[f"{side}_min_ms"] = round(1e3 * float(np.min(values)), 1)
    info = benchmark.extra_info
    info["speedup_median"] = round(info["plain_median_ms"] / info["matter_median_ms"], 2)
    info["speedup_min"] = round(info["plain_min_ms"] / info["matter_min_ms"], 2)
    info["matter_fps_median"] = round(1e3 / info["matter_median_ms"], 1)


@pytest.fixture(scope="module")
def int8_model(frames, tmp_path_factory):
    path = os.environ.get("EDGEMATTE_BENCH_RVM_INT8")
    if path:
        return Path(path)
    from edgematte.export.int8 import quantize_rvm

    out = tmp_path_factory.mktemp("int8") / "rvm_int8.onnx"
    quantize_rvm(WEIGHTS, out, [CLIP.parent], frames_per_clip=8)
    return out


def test_matter_replace_background_int8(benchmark, frames, int8_model):
    import edgematte

    with edgematte.Matter(int8_model, backend="ort-cpu") as matter:
        rvm = matter.pipeline.step
        _info(benchmark, "edgematte INT8", native_refiner=rvm.native_refiner, threads=rvm.backend.threads)
        benchmark.pedantic(InOrder(frames, lambda f: matter.replace_background(f, BACKGROUND)), rounds=ROUNDS,
                           warmup_rounds=WARMUP)


def test_paired_fp32_and_int8(benchmark, frames, int8_model):
    """FP32 and INT8 Matter on the same frame, alternating; extra_info holds each side's median and the ratio."""
    import edgematte

    with edgematte.Matter(WEIGHTS, backend="ort-cpu") as fp32, edgematte.Matter(int8_model, backend="ort-cpu") as int8:
        times = _paired(benchmark, frames, "rvm-int8-paired-1280x720",
                        {"fp32": lambda f: fp32.replace_background(f, BACKGROUND),
                         "int8": lambda f: int8.replace_background(f, BACKGROUND)})
    info = benchmark.extra_info
    for side, values in times.items():
        info[f"{side}_median_ms"] = round(1e3 * float(np.median(values)), 1)
    info["speedup_median"] = round(info["fp32_median_ms"] / info["int8_median_ms"], 2)
    info["int8_fps_median"] = round(1e3 / info["int8_median_ms"], 1)
