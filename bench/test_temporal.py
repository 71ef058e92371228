"""What the temporal stage costs: the selfie path at 1280x720 with its default (motion-weighted smoothing of
the guided filter's coefficients) against ``temporal=0`` (the previous ``fast``), in the same run.

    pytest bench/test_temporal.py --benchmark-json bench/results/temporal.json
    python bench/ratios.py bench/results/temporal.json
    python bench/test_temporal.py [--rounds 300]     # the two interleaved, frame by frame: the ratio to trust

Frames: the first 60 of a shared clip scaled to cover 1280x720 (real motion, so the weights vary), in a loop;
the interleaved run also times bench/test_pipeline.py's still portrait. The composite onto a colour
(``replace_background``), ONNX Runtime on all cores. Goal: the default loses at most 5% against ``temporal=0``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import edgematte  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SIZE = (1280, 720)
BACKGROUND = (64, 177, 0)
ROUNDS, WARMUP = 300, 30
SETTINGS = {"temporal-0": 0, "default": "auto"}


def clip_frames(count: int = 60) -> List[np.ndarray]:
    """The first ``count`` frames of a shared clip covering 1280x720, or a synthetic frame without the data."""
    from temporal import cover, read_clip

    path = SHARED / "data" / "videos" / "asl_book.mkv"
    if not path.is_file():
        from edgematte.cli.bench import synthetic_frame

        return [synthetic_frame(*SIZE)]
    return [cover(f, SIZE) for f in read_clip(path, count)]


def open_matter(temporal):
    if (SHARED / "weights").is_dir():
        os.environ.setdefault("EDGEMATTE_WEIGHTS", str(SHARED / "weights"))
    return edgematte.Matter("selfie", backend="ort-cpu", refine="fast", temporal=temporal)


class Loop:
    """replace_background over the frames in a loop (the scene cut at the loop's end restarts the smoothing)."""

    def __init__(self, matter, frames: List[np.ndarray]) -> None:
        self.matter, self.frames, self.i = matter, frames, 0

    def __call__(self) -> None:
        self.matter.replace_background(self.frames[self.i % len(self.frames)], BACKGROUND)
        self.i += 1


@pytest.fixture(scope="module")
def frames() -> List[np.ndarray]:
    return clip_frames()


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_selfie_fast_1280x720(benchmark, frames, setting):
    with open_matter(SETTINGS[setting]) as matter:
        benchmark.group = "selfie-fast-1280x720-temporal"
        if setting == "temporal-0":
            benchmark.extra_info["role"] = "baseline"
        benchmark.pedantic(Loop(matter, frames), rounds=ROUNDS, warmup_rounds=WARMUP)
        if benchmark.stats is not None:  # None with --benchmark-disable
            benchmark.extra_info["fps"] = round(1.0 / benchmark.stats.stats.median, 1)


@pytest.mark.parametrize("grid", [(128, 128, 4), (180, 320, 8)], ids=["selfie-coef-128x128", "rvm-coef-320x180"])
def test_temporal_stage_alone(benchmark, grid):
    """The temporal stage on its own, in the host space: weights from the guide, then the blend of the
    coefficients (RVM: A and b)."""
    from types import SimpleNamespace

    from edgematte.pipeline.core import TemporalConfig
    from edgematte.pipeline.host import HostSpace
    from edgematte.temporal import Temporal

    h, w, c = grid
    rng = np.random.default_rng(0)
    guides = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2)]
    values = rng.random((c, h, w), dtype=np.float32)
    stage, space, b = Temporal(TemporalConfig()), HostSpace(), SimpleNamespace(temporal=None)
    stage.weigh(space, guides[0], b, True)
    stage.smooth(space, "coef", values, b)
    state = {"i": 0}

    def step():
        state["i"] += 1
        stage.weigh(space, guides[state["i"] % 2], b, False)
        stage.smooth(space, "coef", values, b)

    benchmark.group = "temporal-stage"
    benchmark.pedantic(step, rounds=500, warmup_rounds=20)


def interleaved(frames: List[np.ndarray], rounds: int) -> None:
    """The default and temporal=0 on ``frames`` (in a loop), frame by frame in alternating order."""
    matters = {name: open_matter(value) for name, value in SETTINGS.items()}
    loops = {name: Loop(m, frames) for name, m in matters.items()}
    times: Dict[str, List[float]] = {name: [] for name in loops}
    for i in range(WARMUP + rounds):
        for name in (list(loops) if i % 2 else list(loops)[::-1]):
            start = time.perf_counter()
            loops[name]()
            if i >= WARMUP:
                times[name].append(time.perf_counter() - start)
    base, new = np.array(times["temporal-0"]), np.array(times["default"])
    print(f"temporal=0 median {1e3 * np.median(base):.2f} ms ({1 / np.median(base):.0f} FPS); default median "
          f"{1e3 * np.median(new):.2f} ms ({1 / np.median(new):.0f} FPS); default / temporal=0, median of "
          f"per-round ratios: {np.median(new / base):.3f}")
    for matter in matters.values():
        matter.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="the default against temporal=0, interleaved frame by frame")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    print(f"# selfie fast 1280x720, replace_background onto a colour, {args.rounds} interleaved rounds")
    print("real clip (asl_book.mkv scaled up, 60 frames in a loop):", end=" ")
    interleaved(clip_frames(), args.rounds)
    from test_pipeline import portrait_frame

    print("still portrait (bench/test_pipeline.py's frame):", end=" ")
    interleaved([portrait_frame()], args.rounds)


if __name__ == "__main__":
    main()
