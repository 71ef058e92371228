"""edgematte's selfie background replacement against MediaPipe's own loop, same model, same frames.

    python -m venv /tmp/mp && /tmp/mp/bin/pip install mediapipe==0.10.14   # its own venv: its pins clash
    EDGEMATTE_BENCH_MEDIAPIPE_PYTHON=/tmp/mp/bin/python \\
        pytest bench/test_mediapipe.py --benchmark-json bench/results/mediapipe.json
    python bench/ratios.py bench/results/mediapipe.json

MediaPipe runs in a child process of that Python (``bench/mediapipe_loop.py``: the loop its docs give,
``model_selection=0``, the general 256x256 model that is edgematte's ``selfie``), one frame per request
over a pipe; the pipe's round trip is in ``extra_info["pipe_ms"]`` (it stays in MediaPipe's times, which
understates the ratio by that much). Frames: the shared astronaut portrait covering 1280x720, the colour
green, both sides on every core.

- group ``selfie-vs-mediapipe-1280x720``: MediaPipe's loop (baseline), ``Matter.replace_background``
  with ``refine="fast"`` and ``"off"``, each timed on its own;
- group ``selfie-vs-mediapipe-paired``: MediaPipe and ``fast`` alternating frame by frame, so that a
  shared machine's load hits both alike; ``extra_info`` holds each side's median and the ratio (goal: 3x).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from test_pipeline import BACKGROUND, SIZE, _model_path, frame  # noqa: F401 (the fixture)

PYTHON = os.environ.get("EDGEMATTE_BENCH_MEDIAPIPE_PYTHON")
ROUNDS, WARMUP = 200, 20
GROUP = f"selfie-vs-mediapipe-{SIZE[0]}x{SIZE[1]}"


class MediaPipeLoop:
    """The child process running MediaPipe's loop; calling it runs one frame there and returns its ms."""

    def __init__(self, frame: np.ndarray, folder: Path) -> None:
        path = folder / "frame.npy"
        np.save(path, frame)
        script = Path(__file__).resolve().parent / "mediapipe_loop.py"
        self.child = subprocess.Popen([PYTHON, str(script), str(path), "0"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    def ask(self, request: bytes) -> float:
        self.child.stdin.write(request)
        self.child.stdin.flush()
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError(f"{PYTHON} bench/mediapipe_loop.py stopped (is mediapipe==0.10.14 installed there?)")
        return float(line)

    def __call__(self) -> float:
        return self.ask(b"n")

    def pipe_ms(self, rounds: int = 200) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            self.ask(b"e")
            times.append(time.perf_counter() - start)
        return float(np.median(times)) * 1e3

    def close(self) -> None:
        self.child.stdin.close()
        self.child.wait(timeout=30)


@pytest.fixture(scope="module")
def mediapipe(frame, tmp_path_factory):  # noqa: F811
    if not PYTHON:
        pytest.skip("EDGEMATTE_BENCH_MEDIAPIPE_PYTHON is not set (a Python with mediapipe==0.10.14)")
    loop = MediaPipeLoop(frame, tmp_path_factory.mktemp("mediapipe"))
    try:
        loop()
    except RuntimeError as exc:
        loop.child.kill()
        pytest.skip(str(exc))
    yield loop
    loop.close()


def test_mediapipe_loop_baseline(benchmark, mediapipe):
    benchmark.group = GROUP
    benchmark.extra_info.update(role="baseline", pipe_ms=round(mediapipe.pipe_ms(), 3))
    benchmark.pedantic(mediapipe, rounds=ROUNDS, warmup_rounds=WARMUP)


@pytest.mark.parametrize("refine", ["fast", "off"])
def test_matter_replace_background(benchmark, frame, mediapipe, refine, tmp_path_factory):  # noqa: F811
    import edgematte

    with edgematte.Matter(_model_path("selfie", tmp_path_factory), backend="ort-cpu", refine=refine) as matter:
        benchmark.group = GROUP
        benchmark.extra_info["threads"] = matter.backend.threads
        benchmark.pedantic(matter.replace_background, (frame, BACKGROUND), rounds=ROUNDS, warmup_rounds=WARMUP)


def test_paired_mediapipe_and_fast(benchmark, frame, mediapipe, tmp_path_factory):  # noqa: F811
    import edgematte

    times = {"mediapipe": [], "fast": []}
    with edgematte.Matter(_model_path("selfie", tmp_path_factory), backend="ort-cpu", refine="fast") as matter:

        def pair():
            start = time.perf_counter()
            mediapipe()
            middle = time.perf_counter()
            matter.replace_background(frame, BACKGROUND)
            times["mediapipe"].append(middle - start)
            times["fast"].append(time.perf_counter() - middle)

        benchmark.group = f"{GROUP}-paired"
        benchmark.pedantic(pair, rounds=ROUNDS, warmup_rounds=WARMUP)
    info = benchmark.extra_info
    for side, values in times.items():
        info[f"{side}_median_ms"] = round(1e3 * float(np.median(values[WARMUP:])), 3)
    info["ratio"] = round(info["mediapipe_median_ms"] / info["fast_median_ms"], 2)
    info["fast_fps"] = round(1e3 / info["fast_median_ms"], 1)
    print(f"\n{GROUP}: MediaPipe {info['mediapipe_median_ms']} ms, fast {info['fast_median_ms']} ms, "
          f"{info['ratio']}x", file=sys.stderr)
