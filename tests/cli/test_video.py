import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

import edgematte
from fresh_python import fresh_python
from edgematte.cli.__main__ import main


def probe(path):
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps, frames


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_keeps_fps_size_and_frame_count(clip, tmp_path, model_args, suffix):
    out = tmp_path / f"out{suffix}"
    assert main(["video", str(clip), "-o", str(out), "--background", "green"] + model_args) == 0
    fps, frames = probe(out)
    assert fps == pytest.approx(15.0) and len(frames) == 12
    assert frames[0].shape == (120, 160, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["clip.avi", out.name])


def test_video_without_background_is_the_alpha_matte_in_order(clip, tmp_path, model_args, tiny_onnx):
    out = tmp_path / "alpha.avi"
    assert main(["video", str(clip), "-o", str(out)] + model_args) == 0
    _, written = probe(out)
    _, source = probe(clip)
    with edgematte.Matter(tiny_onnx, backend="ort-cpu") as m:
        expected = [m.process(frame).alpha.copy() for frame in source]
    assert len(written) == len(expected)
    for got, want in zip(written, expected):  # MJPG is lossy: compare loosely, but in order
        assert np.abs(got[..., 1].astype(int) - want).mean() < 4


def test_temporal_option_runs(clip, tmp_path, model_args):
    out = tmp_path / "smooth.avi"
    assert main(["video", str(clip), "-o", str(out), "--temporal", "0.6"] + model_args) == 0
    assert len(probe(out)[1]) == 12


@pytest.mark.parametrize("failure, code", [(edgematte.ModelError("boom"), 1), (KeyboardInterrupt(), 130)])
def test_failure_mid_video_leaves_no_partial_file(clip, tmp_path, model_args, monkeypatch, failure, code):
    from edgematte.matter import Matter

    real = Matter.replace_background
    calls = []

    def failing(self, frame, background):
        calls.append(1)
        if len(calls) == 4:
            raise failure
        return real(self, frame, background)

    monkeypatch.setattr(Matter, "replace_background", failing)
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "-b", "blur"] + model_args) == code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi"]
    # an earlier file at the destination survives untouched
    out.write_bytes(b"previous result")
    calls.clear()
    assert main(["video", str(clip), "-o", str(out), "-b", "blur"] + model_args) == code
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "out.mp4"]


def test_sigint_from_outside_leaves_no_partial_file(tmp_path, tiny_onnx, make_clip):
    clip = make_clip(tmp_path / "long.avi", frames=600)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = ["-m", "edgematte.cli", "video", str(clip), "-o", str(out_dir / "o.mp4")]
    args += ["--model", str(tiny_onnx), "--backend", "ort-cpu", "-b", "blur"]
    argv, kwargs = fresh_python(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc = subprocess.Popen(argv, **kwargs)
    try:
        deadline = time.monotonic() + 60
        while not any(out_dir.iterdir()) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the video finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert list(out_dir.iterdir()) == []


def test_missing_video_is_a_runtime_error(tmp_path, model_args, capsys):
    assert main(["video", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o.mp4")] + model_args) == 1
    assert "does not exist" in capsys.readouterr().err


def test_unknown_output_container_is_a_runtime_error(clip, tmp_path, model_args, capsys):
    assert main(["video", str(clip), "-o", str(tmp_path / "o.gif")] + model_args) == 1
    assert "suffix" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o.gif")
