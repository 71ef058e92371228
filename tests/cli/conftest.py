"""Clips and photos generated in tmp_path for the CLI tests."""

import pytest
from clips import write_clip


@pytest.fixture
def clip(tmp_path):
    """clip.mp4: 10 frames 64x48 at 10 fps, H.264 + AAC tone of 1 s."""
    return write_clip(tmp_path / "clip.mp4")


@pytest.fixture
def model_args(tiny_onnx):
    return ["--model", str(tiny_onnx), "--backend", "ort-cpu"]


@pytest.fixture
def make_clip():
    """The clip writer itself, for tests that need another length, size or codec."""
    return write_clip
