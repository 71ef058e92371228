import importlib.util

import pytest

from edgematte.cli.__main__ import main


def test_video_file_stands_in_for_the_camera(clip, model_args, capsys):
    assert main(["webcam", "--device", str(clip), "--no-window"] + model_args) == 0
    assert capsys.readouterr().out.startswith("12 frames")


def test_max_frames_stops_early(clip, model_args, capsys):
    assert main(["webcam", "--device", str(clip), "--no-window", "--max-frames", "5", "-b", "red"] + model_args) == 0
    assert capsys.readouterr().out.startswith("5 frames")


def test_unplugged_camera_gives_a_clear_message(model_args, capsys):
    assert main(["webcam", "--device", "57", "--no-window"] + model_args) == 1
    err = capsys.readouterr().err
    assert "camera 57 could not be opened" in err and "plugged in" in err


def test_no_display_asks_for_no_window(clip, model_args, monkeypatch, capsys):
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert main(["webcam", "--device", str(clip)] + model_args) == 1
    assert "--no-window" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("pyvirtualcam") is not None, reason="pyvirtualcam is installed here")
def test_virtual_cam_without_pyvirtualcam_names_the_extra(clip, model_args, capsys):
    assert main(["webcam", "--device", str(clip), "--no-window", "--virtual-cam"] + model_args) == 1
    assert "edgematte[webcam]" in capsys.readouterr().err
