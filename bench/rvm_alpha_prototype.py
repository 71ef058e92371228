"""The prototype that chose RVM's full-resolution alpha smoothing (``Temporal.smooth_alpha``), beside the pipeline's.

    python bench/rvm_alpha_prototype.py [--set tuning|held-out] [--levels 1,3,0.95 ...]

A NumPy filter over the alphas of ``Matter(rvm)`` with only the coefficient smoothing of its temporal stage (the
default before ``smooth_alpha``, which this script takes out), and the pipeline's default as it is. Why: RVM's alpha
at full resolution is A * I + b, so where A is large (uncertain regions, e.g. dark clothing) the frame's own
per-pixel noise passes into the alpha, which no smoothing of A and b removes. Per frame: the pipeline's motion
weights (mean channel difference of this and the last frame at half size, 3x3 mean, ``strength`` at <= ``still``
levels, 0 at >= ``moving``), upsampled bilinearly, blend a float alpha state: state = w * state + (1 - w) * alpha,
rounded. Figures as ``bench/quality.py --temporal`` (flicker, pops, lag against ``temporal=0``), on the tuning or
held-out clips of ``bench/temporal.py``'s split.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import temporal  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def filtered(frames, alphas, still: float, moving: float, strength: float):
    """The alphas smoothed at full resolution where the picture held still (see the module docstring)."""
    import cv2

    h, w = frames[0].shape[:2]
    out, state, previous = [], None, None
    for frame, alpha in zip(frames, alphas):
        small = cv2.resize(frame, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA).astype(np.float32)
        if state is None:
            state = alpha.astype(np.float32)
        else:
            d = cv2.blur(np.abs(small - previous).mean(axis=2), (3, 3), borderType=cv2.BORDER_REPLICATE)
            weight = cv2.resize(strength * np.clip((moving - d) / (moving - still), 0, 1), (w, h),
                                interpolation=cv2.INTER_LINEAR)
            state = weight * state + (1 - weight) * alpha
        previous = small
        out.append(np.rint(state).astype(np.uint8))
    return out


def main() -> None:
    import edgematte
    import edgematte.temporal

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("tuning", "held-out"), default="tuning")
    parser.add_argument("--levels", action="append", default=[], metavar="STILL,MOVING,STRENGTH",
                        help="a filter to measure (repeatable; default 1,3,0.95: the pipeline's own levels)")
    args = parser.parse_args()
    levels = [tuple(float(v) for v in item.split(",")) for item in args.levels or ["1,3,0.95"]]
    weights = SHARED / "weights" / temporal.RVM_WEIGHTS
    tuning, held_out = temporal.split(temporal.clips(SHARED / "data" / "videos"))
    rows = {"RVM, coefficients only": temporal.Figures(),
            "RVM, default (with Temporal.smooth_alpha)": temporal.Figures(),
            **{f"RVM, coefficients + prototype {lv}": temporal.Figures() for lv in levels}}
    smooth_alpha = edgematte.temporal.Temporal.smooth_alpha
    for path in tuning if args.set == "tuning" else held_out:
        frames = temporal.read_clip(path)
        motion = temporal.picture_motion(frames)
        with edgematte.Matter(weights, backend="ort-cpu", temporal=0) as matter:
            reference = [matter.process(f).alpha.copy() for f in frames]
        with edgematte.Matter(weights, backend="ort-cpu") as matter:
            rows["RVM, default (with Temporal.smooth_alpha)"] += temporal.clip_figures(
                [matter.process(f).alpha.copy() for f in frames], motion, reference)
        edgematte.temporal.Temporal.smooth_alpha = lambda self, s, alpha, b: alpha
        try:
            with edgematte.Matter(weights, backend="ort-cpu") as matter:
                coefficients = [matter.process(f).alpha.copy() for f in frames]
        finally:
            edgematte.temporal.Temporal.smooth_alpha = smooth_alpha
        rows["RVM, coefficients only"] += temporal.clip_figures(coefficients, motion, reference)
        for lv in levels:
            rows[f"RVM, coefficients + prototype {lv}"] += temporal.clip_figures(
                filtered(frames, coefficients, *lv), motion, reference)
        print(path.name, flush=True)
    print(f"| {args.set} clips | flicker | pops | lag |\n|---|---|---|---|")
    for label, f in rows.items():
        print(f"| {label} | {f.flicker:.2f} | {100 * f.pops:.1f}% | {f.lag:.2f} |")


if __name__ == "__main__":
    main()
