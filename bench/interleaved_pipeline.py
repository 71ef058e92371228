"""Matter.replace_background at 1280x720, this checkout against an earlier one, calls interleaved: the default
selfie model with refine "fast" (a portrait) and RobustVideoMatting (a clip, in order), for a noisy machine.

    git archive <commit> | tar -x -C /tmp/prev && (cd /tmp/prev && python setup.py build_ext --inplace)
    python bench/interleaved_pipeline.py /tmp/prev [--rounds 200] [--models selfie rvm]

Each checkout runs in its own process (no module of one can leak into the other); the parent drives them in
turn, one frame each per round, alternating which goes first, and each times its own call. The result is the
median of the per-round ratios (previous / this: > 1 means this checkout is faster) beside each side's median.
Both run with the same thread counts and the shared weights and data (../shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
SIZE = (1280, 720)
BACKGROUND = (64, 177, 0)


def frames(model: str):
    """The selfie's portrait covering 1280x720, or RVM's clip at 1280x720 (its frames in order)."""
    import cv2

    if model == "selfie":
        image = cv2.imread(str(SHARED / "data" / "portraits" / "astronaut.png"))
        scale = max(SIZE[1] / image.shape[0], SIZE[0] / image.shape[1])
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
        y, x = (image.shape[0] - SIZE[1]) // 2, (image.shape[1] - SIZE[0]) // 2
        return [np.ascontiguousarray(image[y:y + SIZE[1], x:x + SIZE[0]])]
    capture = cv2.VideoCapture(str(SHARED / "data" / "videos" / "asl_book.mkv"))
    out = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return out
        out.append(cv2.resize(frame, SIZE, interpolation=cv2.INTER_LINEAR))


def serve(root: str, model: str) -> None:
    """Child: the checkout at ``root``; each line "run" on stdin processes the next frame and prints its ms."""
    sys.path.insert(0, root)
    import edgematte

    assert edgematte.__file__.startswith(os.path.abspath(root)), edgematte.__file__
    if model == "selfie":
        from edgematte.export.to_onnx import onnx_for

        path, kwargs = onnx_for("selfie", progress=False), {"refine": "fast"}
    else:
        path, kwargs = SHARED / "weights" / "rvm_mobilenetv3" / "rvm_mobilenetv3_from_tfjs_uint8_fp32.onnx", {}
    clip = frames(model)
    with edgematte.Matter(path, backend="ort-cpu", **kwargs) as matter:
        for frame in clip[:3]:
            matter.replace_background(frame, BACKGROUND)
        print("ready", flush=True)
        index = 0
        for line in sys.stdin:
            if line.strip() != "run":
                break
            start = time.perf_counter()
            matter.replace_background(clip[index % len(clip)], BACKGROUND)
            print(f"{(time.perf_counter() - start) * 1e3:.4f}", flush=True)
            index += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("previous", nargs="?", help="a checkout of the earlier commit with its kernels built in place")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--models", nargs="+", default=["selfie", "rvm"], choices=["selfie", "rvm"])
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--serve", nargs=2, metavar=("ROOT", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(*args.serve)
    this = str(HERE.parent)
    results = {}
    print(f"# {SIZE[0]}x{SIZE[1]}, {args.rounds} interleaved rounds, previous = {args.previous}, this = {this}")
    print(f"{'model':<14} {'previous ms':>12} {'this ms':>10} {'previous/this':>14}")
    for model in args.models:
        sides = {}
        for name, root in (("previous", args.previous), ("this", this)):
            env = dict(os.environ, EDGEMATTE_WEIGHTS=str(SHARED / "weights"), EDGEMATTE_BACKEND="ort-cpu",
                       EDGEMATTE_CACHE=tempfile.mkdtemp(prefix=f"interleaved-{name}-"))
            env.pop("PYTHONPATH", None)
            child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", root, model],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=tempfile.gettempdir())
            assert child.stdout.readline().strip() == "ready", f"{name} did not start"
            sides[name] = (child, [])
        for i in range(args.rounds):
            order = ("previous", "this") if i % 2 else ("this", "previous")
            for name in order:
                child, times = sides[name]
                child.stdin.write("run\n")
                child.stdin.flush()
                times.append(float(child.stdout.readline()))
        for child, _ in sides.values():
            child.stdin.close()
            child.wait()
        prev, ours = (np.array(sides[k][1]) for k in ("previous", "this"))
        ratio = float(np.median(prev / ours))
        results[model] = {"previous_ms": float(np.median(prev)), "this_ms": float(np.median(ours)), "ratio": ratio}
        print(f"{model + (' fast' if model == 'selfie' else ''):<14} {np.median(prev):>12.2f} {np.median(ours):>10.2f} "
              f"{ratio:>13.3f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
