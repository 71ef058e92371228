"""MediaPipe's own selfie loop, served one frame at a time over stdin/stdout (for bench/test_mediapipe.py).

Runs in a Python that has ``mediapipe==0.10.14`` (its pins may clash with edgematte's: give it its own
virtual environment) and imports nothing from edgematte. The loop is the one MediaPipe documents for
background replacement (``mediapipe/docs/solutions/selfie_segmentation.md``, Python): BGR -> RGB,
``SelfieSegmentation.process``, RGB -> BGR, a mask ``segmentation_mask > 0.1`` stacked to three channels,
``np.where`` onto a colour image; ``model_selection=0`` is the general 256x256 model, edgematte's default
``selfie`` (the camera flip of the webcam example is left out). Same frame every time.

    python mediapipe_loop.py FRAME.npy [MODEL_SELECTION]

Protocol: each byte ``n`` on stdin runs one iteration and writes its milliseconds as a line; ``e`` answers
``0`` at once (the round trip of the pipe, to subtract); end of input or ``q`` stops.
"""

import sys
import time

import cv2
import mediapipe as mp
import numpy as np

BG_COLOR = (64, 177, 0)  # BGR, the colour bench/test_pipeline.py composites onto


def main() -> int:
    frame = np.load(sys.argv[1])
    selection = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    out = sys.stdout
    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=selection) as selfie_segmentation:
        bg_image = np.zeros(frame.shape, dtype=np.uint8)
        bg_image[:] = BG_COLOR
        while True:
            request = sys.stdin.buffer.read(1)
            if not request or request == b"q":
                return 0
            if request == b"e":
                out.write("0\n")
                out.flush()
                continue
            start = time.perf_counter()
            image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            image.flags.writeable = False
            results = selfie_segmentation.process(image)
            image.flags.writeable = True
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            condition = np.stack((results.segmentation_mask,) * 3, axis=-1) > 0.1
            output_image = np.where(condition, image, bg_image)
            assert output_image.shape == frame.shape
            out.write(f"{(time.perf_counter() - start) * 1e3:.4f}\n")
            out.flush()


if __name__ == "__main__":
    sys.exit(main())
