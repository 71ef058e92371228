"""``edgematte bench``: per-stage latency (median, p90) and FPS of background replacement."""

from __future__ import annotations

import argparse
import time
from typing import Dict, List, Optional

import numpy as np

from ._common import (
    POSITIVE_INT,
    add_background_argument,
    add_model_arguments,
    bounded,
    open_matter,
    parse_background,
    parse_size,
    usage_checks,
)

MODEL_STAGE = "model"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="time each pipeline stage",
        description="Time background replacement on one frame repeated: per-stage median and p90, FPS, and the "
        "share of the frame time spent outside the model.",
    )
    parser.add_argument("--size", type=parse_size, default=(1280, 720), help="frame WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--image", default=None, help="photo to use (resized to cover); default a synthetic frame")
    add_background_argument(parser, default="green", what=" (default: %(default)s)")
    parser.add_argument("--frames", type=POSITIVE_INT, default=200, help="timed frames (default: %(default)s)")
    parser.add_argument("--warmup", type=bounded(int, "a whole number >= 0", lambda v: v >= 0), default=20, help="untimed frames first (default: %(default)s)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io import read_image
    from ..background import cover as _cover

    width, height = args.size
    frame = np.empty((height, width, 3), np.uint8)
    if args.image:
        _cover(read_image(args.image), frame)
    else:
        frame[...] = synthetic_frame(width, height)
    with usage_checks():
        background = parse_background(args.background, name="--background")
    with open_matter(args) as matter:
        samples = measure(matter, frame, background, frames=args.frames, warmup=args.warmup)
        backend = type(matter.backend).__name__
    print(f"edgematte bench: {args.model} on {backend}, {width}x{height}, {args.frames} frames")
    print(format_report(samples))
    return 0


def measure(matter, frame: np.ndarray, background, *, frames: int, warmup: int) -> Dict[str, List[float]]:
    """Milliseconds per stage and per whole frame (``frame``, wall clock) over ``frames`` calls."""
    for _ in range(warmup):
        matter.replace_background(frame, background)
    samples: Dict[str, List[float]] = {}
    for _ in range(max(1, frames)):
        start = time.perf_counter()
        result = matter.process(frame, background)
        wall = (time.perf_counter() - start) * 1e3
        for stage, ms in result.timings.items():
            samples.setdefault(stage, []).append(ms)
        samples.setdefault("frame", []).append(wall)
    return samples


def summarize(samples: Dict[str, List[float]]) -> Dict[str, float]:
    """fps (from the median wall time per frame) and non_model_share (0..1 of the median frame time)."""
    frame_ms = float(np.median(samples["frame"]))
    model_ms = float(np.median(samples.get(MODEL_STAGE, [0.0])))
    return {"frame_ms": frame_ms, "fps": 1e3 / frame_ms, "non_model_share": max(0.0, frame_ms - model_ms) / frame_ms}


def format_report(samples: Dict[str, List[float]], summary: Optional[Dict[str, float]] = None) -> str:
    summary = summary or summarize(samples)
    lines = [f"{'stage':<12} {'median ms':>10} {'p90 ms':>8} {'share':>7}"]
    for stage, values in samples.items():
        if stage in ("total", "frame"):
            continue
        median = float(np.median(values))
        lines.append(
            f"{stage:<12} {median:>10.3f} {np.percentile(values, 90):>8.3f} {100 * median / summary['frame_ms']:>6.1f}%"
        )
    frame = samples["frame"]
    lines.append(f"{'frame':<12} {np.median(frame):>10.3f} {np.percentile(frame, 90):>8.3f} {100.0:>6.1f}%")
    lines.append(f"FPS {summary['fps']:.1f}; outside the model {100 * summary['non_model_share']:.1f}% of the frame time")
    return "\n".join(lines)


def synthetic_frame(width: int, height: int) -> np.ndarray:
    """A deterministic head-and-shoulders silhouette on a gradient: uint8 HxWx3 BGR."""
    import cv2

    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0] = (90 + 80 * x / width).astype(np.uint8)
    frame[..., 1] = (120 + 60 * y / height).astype(np.uint8)
    frame[..., 2] = 70
    cx, s = width // 2, min(width, height)
    cv2.ellipse(frame, (cx, height), (int(0.45 * s), int(0.35 * s)), 0, 180, 360, (60, 60, 140), -1)
    cv2.ellipse(frame, (cx, int(0.45 * height)), (int(0.14 * s), int(0.19 * s)), 0, 0, 360, (120, 160, 215), -1)
    return frame
