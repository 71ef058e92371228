"""Clips and photos generated in tmp_path for the CLI tests."""

import numpy as np
import pytest


def red_disc_clip(path, frames=12, size=(160, 120), fps=15.0, fourcc="MJPG"):
    """A red disc moving over blue (foreground for tests/assets/tiny_seg.onnx), written with OpenCV."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        frame = np.empty((size[1], size[0], 3), np.uint8)
        frame[...] = (255, 0, 0)
        cv2.circle(frame, (40 + 5 * i, size[1] // 2), size[1] // 4, (0, 0, 255), -1)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture
def clip(tmp_path):
    return red_disc_clip(tmp_path / "clip.avi")


@pytest.fixture
def model_args(tiny_onnx):
    return ["--model", str(tiny_onnx), "--backend", "ort-cpu"]


@pytest.fixture
def make_clip():
    """The clip writer itself, for tests that need another length or size."""
    return red_disc_clip
