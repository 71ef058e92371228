"""Writes docs/rvm.png: input | selfie (refine fast) | RobustVideoMatting, each composited on green.

    python docs/make_rvm_picture.py [--weights ../shared/weights] [--clip ../shared/data/videos/asl_book.mkv]

Rows: docs/astronaut.jpg (NASA, public domain) as a photo (RVM's first frame), and frame 40 of the
clip (Intel IoT Developer Kit sample videos, CC BY 4.0) after RVM has seen the frames before it.
The RVM weights are GPL-3.0 and not part of the repository: pass the folder that holds
``rvm_mobilenetv3/*.onnx``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import cv2
import numpy as np

import edgematte
from edgematte.files import write_atomic

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
GREEN = (64, 177, 0)
FRAME = 40
TILE_HEIGHT = 240


def _row(image, selfie, rvm):
    h, w = image.shape[:2]
    image = np.ascontiguousarray(image[: min(h, w * 3 // 4)])  # 4:3, the top kept (heads)
    tiles = [image, selfie.replace_background(image, GREEN), rvm.replace_background(image, GREEN)]
    scale = TILE_HEIGHT / image.shape[0]
    return np.hstack([cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for t in tiles])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, default=SHARED / "weights")
    parser.add_argument("--clip", type=Path, default=SHARED / "data" / "videos" / "asl_book.mkv")
    args = parser.parse_args()
    os.environ.setdefault("EDGEMATTE_WEIGHTS", str(args.weights))
    rvm_path = next((args.weights / "rvm_mobilenetv3").glob("*.onnx"))
    selfie = edgematte.Matter("selfie", backend="ort-cpu", refine="fast")
    rvm = edgematte.Matter(rvm_path, backend="ort-cpu")
    rows = [_row(cv2.imread(str(HERE / "astronaut.jpg")), selfie, rvm)]
    rvm.reset()
    capture = cv2.VideoCapture(str(args.clip))
    for index in range(FRAME + 1):
        ok, frame = capture.read()
        assert ok, f"{args.clip} has fewer than {FRAME + 1} frames"
        if index < FRAME:
            rvm.process(frame)  # the recurrent state needs the frames before
    rows.append(_row(frame, selfie, rvm))
    width = max(r.shape[1] for r in rows)
    picture = np.vstack([cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], cv2.BORDER_CONSTANT) for r in rows])
    ok, png = cv2.imencode(".png", picture, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    write_atomic(HERE / "rvm.png", png.tobytes())
    print(f"wrote {HERE / 'rvm.png'} ({picture.shape[1]}x{picture.shape[0]})")


if __name__ == "__main__":
    main()
