"""Camera-app ratios with A and B interleaved round by round (for a noisy, shared machine), and the live latency.

    python bench/camera.py [--rounds 10] [--skip-live]

Same workloads as bench/test_camera.py (60 frames of a real clip at 1280x720, the selfie model, refine "fast";
the element and its loop take them 5 times a round).
Each round times the plain ``Matter.replace_background`` loop and the element back to back (alternating which
goes first), and ``every`` 1, 2 and 3 likewise; a ratio is the median of the per-round ratios (loop / element:
>= 0.90 means within 10%; every=1 / every=N: the speedup). Then one 1,000-frame live run (capture -> written).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from test_camera import (FRAMES, STREAM, element_player, latency_row, live_latency, load_frames, loop,  # noqa: E402
                         write_camera_file)


def model_path() -> Path:
    from test_pipeline import SHARED

    os.environ.setdefault("EDGEMATTE_WEIGHTS", str(SHARED / "weights"))
    from edgematte.export.to_onnx import onnx_for

    return Path(onnx_for("selfie", progress=False))


def interleaved(calls: dict, rounds: int, setups: Optional[dict] = None) -> dict:
    """name -> per-round seconds, the calls run back to back in a rotating order each round (``setups[name]()``
    first, untimed, where given)."""
    names, times = list(calls), {name: [] for name in calls}
    for i in range(rounds):
        for name in names[i % len(names):] + names[: i % len(names)]:
            (setups or {}).get(name, lambda: None)()
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return {name: np.asarray(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgematte-camera-") as work:
        measure(args, Path(work))


def measure(args: argparse.Namespace, work: Path) -> None:
    import edgematte

    model, frames = model_path(), load_frames()
    player = element_player(model, frames, STREAM)
    matters = {n: edgematte.Matter(model, backend="ort-cpu", refine="fast", every=n) for n in (1, 2, 3)}
    player.queue()
    for call in [player.play] + [lambda m=m: loop(m, frames) for m in matters.values()]:
        call()  # warm-up
    print(f"# {os.cpu_count()} cpus, {FRAMES} frames 1280x720 per round, {args.rounds} interleaved rounds, "
          f"load average {os.getloadavg()[0]:.1f}")
    t = interleaved({"loop": lambda: loop(matters[1], frames, STREAM), "element": player.play}, args.rounds,
                    {"element": player.queue})
    player.stop()
    n = STREAM * FRAMES
    fps = {name: n / np.median(times) for name, times in t.items()}
    print(f"{n} frames a round: loop {fps['loop']:.1f} FPS, element {fps['element']:.1f} FPS, "
          f"element throughput / loop's: {np.median(t['loop'] / t['element']):.3f}")
    t = interleaved({n: (lambda m=m: loop(m, frames)) for n, m in matters.items()}, args.rounds)
    for n in (2, 3):
        print(f"every={n}: {FRAMES / np.median(t[n]):.1f} FPS against every=1's {FRAMES / np.median(t[1]):.1f}: "
              f"{np.median(t[1] / t[n]):.2f}x")
    if not args.skip_live:
        summary, latency = live_latency(model, write_camera_file(frames, work / "camera720.mp4"), work / "out.mp4")
        print("live 1280x720 30 fps, capture -> written (H.264 file):", latency_row(summary, latency))


if __name__ == "__main__":
    main()
