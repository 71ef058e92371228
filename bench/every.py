"""What ``every`` N costs in quality: the frames between against every=1's matte of the same frames.

    python bench/every.py [--size 1280x720] [--out bench/results/every.md]

Selfie ``refine="fast"``, temporal default, on every .mkv clip in ../shared/data/videos (real static-camera
clips of people), each frame resized to ``--size``. Per configuration, over the frames where the model did not
run: the mean |alpha - every=1's alpha| in the edge band (alpha in 9..246 in either, dilated 9x9), over the
whole frame, and the mean |composite - every=1's| over green. Rows:

- ``every=N``: today's frames between (the last model frame's guided-filter fit evaluated on the new frame);
- ``every=2, refitted``: the previous behaviour, the fit redone on the new frame from the last model alpha;
- ``last matte as is``: every=1's alpha of the frame before (what skipping the guided filter too would give).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from camera import model_path  # noqa: E402
from test_pipeline import SHARED  # noqa: E402

GREEN = (0, 177, 64)


class Refitted:
    """Pipeline._fast as before: the frames between fit again from the last model alpha (the baseline)."""

    def __init__(self, pipeline) -> None:
        self.pipeline, self.fast = pipeline, pipeline._fast

    def __call__(self, frame, alpha, b, *args, **kwargs):
        since, b.since_model = b.since_model, 0
        try:
            return self.fast(frame, alpha, b, *args, **kwargs)
        finally:
            b.since_model = since


def run(model, clip: Path, size, every: int, refitted: bool = False):
    """(alphas, composites, model ran?) of every frame of ``clip``."""
    import cv2

    import edgematte

    alphas, composites, ran = [], [], []
    with edgematte.Matter(model, backend="ort-cpu", refine="fast", every=every) as matter:
        if refitted:
            matter.pipeline._fast = Refitted(matter.pipeline)
        capture = cv2.VideoCapture(str(clip))
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            result = matter.process(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), GREEN)
            alphas.append(result.alpha.copy())
            composites.append(result.composite.copy())
            ran.append("model" in result.timings)
    return alphas, composites, ran


def figures(reference, got, between) -> list:
    """(band, frame, composite) mean differences per frame where ``between``."""
    import cv2

    (a1, c1, _), (a2, c2) = reference, got
    rows = []
    for i in np.flatnonzero(between):
        band = ((a1[i] > 8) & (a1[i] < 247)) | ((a2[i] > 8) & (a2[i] < 247))
        band = cv2.dilate(band.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        d = np.abs(a1[i].astype(np.int16) - a2[i])
        rows.append((d[band].mean() if band.any() else 0.0, d.mean(),
                     np.abs(c1[i].astype(np.int16) - c2[i]).mean() if c2 is not None else float("nan")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    clips = sorted((SHARED / "data" / "videos").glob("*.mkv"))
    if not clips:
        sys.exit(f"no clips in {SHARED / 'data' / 'videos'}")
    model = model_path()
    rows = {"every=2": [], "every=3": [], "every=2, refitted": [], "last matte as is": []}
    for clip in clips:
        reference = run(model, clip, size, 1)
        for label, every, refitted in (("every=2", 2, False), ("every=3", 3, False), ("every=2, refitted", 2, True)):
            alphas, composites, ran = run(model, clip, size, every, refitted)
            rows[label] += figures(reference, (alphas, composites), ~np.asarray(ran))
        previous = ([reference[0][0]] + reference[0][:-1], None)
        rows["last matte as is"] += figures(reference, previous, np.arange(len(reference[0])) % 2 == 1)
        print(clip.name, {k: np.round(np.mean(v, axis=0), 2).tolist() for k, v in rows.items()}, flush=True)
    lines = [f"## every N: the frames between against every=1 ({len(clips)} clips, {args.size}, selfie fast)", "",
             ("Mean |difference| in levels over the frames where the model did not run. Command: "
              f"`python bench/every.py --size {args.size}`"), "",
             "| frames between | alpha, edge band | alpha, whole frame | composite |", "|---|---|---|---|"]
    for label, values in rows.items():
        band, whole, comp = np.mean(values, axis=0)
        composite = "" if np.isnan(comp) else f"{comp:.3f}"
        lines.append(f"| {label} | {band:.2f} | {whole:.3f} | {composite} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
