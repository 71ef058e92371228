"""RobustVideoMatting's smallest useful internal frame: the data behind ``edgematte.models.rvm.MIN_INTERNAL_SIDE``.

    python bench/rvm_minimum.py        # prints the table; about a minute on 2 cores

For each input (the first 6 frames of each clip in ``../shared/data/videos/asl_*.mkv``, and each photo in
``../shared/data/portraits`` scaled to a 640 px longer side and shown 4 times), the real MobileNetV3 graph
(``../shared/weights/rvm_mobilenetv3``, whole graph, recurrent states carried) mattes it with the ratio that
makes the internal frame's shorter side S px, and the last matte is compared (IoU of alpha > 0.5) with the
graph's own matte at the automatic ratio (320 px longer side). Per S: the median IoU, the share of inputs
with IoU >= 0.8 and the lowest IoU. Not a test: the numbers describe one network on one set of people.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SIDES = (8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 96, 128)


def _inputs():
    import cv2

    for clip in sorted((SHARED / "data" / "videos").glob("asl_*.mkv")):
        capture, frames = cv2.VideoCapture(str(clip)), []
        while len(frames) < 6:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        yield clip.name, frames
    photos = sorted((SHARED / "data" / "portraits").rglob("*.jpg")) + [SHARED / "data" / "portraits" / "astronaut.png"]
    for photo in photos:
        image = cv2.imread(str(photo))
        if image is None:
            continue
        scale = 640 / max(image.shape[:2])
        image = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                           interpolation=cv2.INTER_AREA)
        yield photo.name, [image] * 4


def main() -> int:
    import onnxruntime as ort

    graph = SHARED / "weights" / "rvm_mobilenetv3" / "rvm_mobilenetv3_from_tfjs_uint8_fp32.onnx"
    if not graph.is_file():
        print(f"{graph} is absent", file=sys.stderr)
        return 1
    session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
    zero = np.zeros((1, 1, 1, 1), np.float32)

    def matte(frames, ratio: float) -> np.ndarray:
        states = [zero] * 4
        for frame in frames:
            src = np.ascontiguousarray(frame[..., ::-1].transpose(2, 0, 1)[None], np.float32) / 255
            feed = {"src": src, "downsample_ratio": np.array([ratio], np.float32)}
            feed.update({f"r{i}i": state for i, state in enumerate(states, 1)})
            _, pha, *states = session.run(None, feed)
        return pha[0, 0] > 0.5

    rows = []
    for name, frames in _inputs():
        h, w = frames[0].shape[:2]
        reference = matte(frames, min(1.0, 320 / max(h, w)))
        ious = []
        for side in SIDES:
            got = matte(frames, (side + 0.5) / min(h, w))
            ious.append((got & reference).sum() / max(1, (got | reference).sum()))
        rows.append(ious)
        print(f"{name:22s} {w}x{h}  " + " ".join(f"{v:.2f}" for v in ious))
    table = np.array(rows)
    print(f"{'shorter side S (px)':29s} " + " ".join(f"{s:4d}" for s in SIDES))
    print(f"{'median IoU':29s} " + " ".join(f"{v:.2f}" for v in np.median(table, 0)))
    print(f"{'share with IoU >= 0.8':29s} " + " ".join(f"{v:.2f}" for v in (table >= 0.8).mean(0)))
    print(f"{'lowest IoU':29s} " + " ".join(f"{v:.2f}" for v in table.min(0)))
    print(f"inputs: {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
