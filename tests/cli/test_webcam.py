import importlib.util

import pytest

from edgematte.cli.__main__ import main


def test_video_file_stands_in_for_the_camera(clip, model_args, capsys):
    assert main(["webcam", "--device", str(clip), "--no-window"] + model_args) == 0
    assert capsys.readouterr().out.startswith("10 frames")


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


def test_output_records_what_is_shown(clip, tmp_path, model_args):
    from clips import probe

    out = tmp_path / "rec.mp4"
    assert (
        main(["webcam", "--device", str(clip), "--no-window", "--no-pace", "-o", str(out), "-b", "red"] + model_args)
        == 0
    )
    assert probe(out)["frames"] == 10 and probe(out)["video_codecs"] == ["h264"]


def test_a_video_device_is_paced_unless_no_pace(clip, model_args, capsys):
    import time

    start = time.monotonic()
    assert main(["webcam", "--device", str(clip), "--no-window"] + model_args) == 0
    assert time.monotonic() - start >= 0.85  # 10 frames at 10 fps: the last one at 0.9 s
    start = time.monotonic()
    assert main(["webcam", "--device", str(clip), "--no-window", "--no-pace", "--max-frames", "3"] + model_args) == 0
    assert "3 frames" in capsys.readouterr().out


def test_record_over_the_device_is_refused(clip, model_args, capsys):
    assert main(["webcam", "--device", str(clip), "--no-window", "-o", str(clip)] + model_args) == 1
    assert "is the input" in capsys.readouterr().err


def test_stats_file_accounts_for_every_frame(clip, tmp_path, model_args, capsys):
    import json

    stats = tmp_path / "stats.json"
    assert main(["webcam", "--source", str(clip), "--no-window", "--every", "2", "--stats", str(stats)] + model_args) == 0
    summary = json.loads(stats.read_text())
    assert summary["frames"] + summary["dropped"] == summary["captured"] == 10
    assert set(summary) == {"frames", "dropped", "captured", "fps", "latency_ms", "stages_ms"}
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"}
    out = capsys.readouterr().out
    assert out.startswith(f"{summary['frames']} frames, {summary['dropped']} dropped") and "p99" in out


def test_an_unknown_source_is_a_clear_error(model_args, capsys):
    assert main(["webcam", "--source", "ftp://nowhere/cam", "--no-window"] + model_args) == 1
    assert "expected a camera index, /dev/videoN, csi://N" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "x"])
def test_every_must_be_positive(clip, model_args, capsys, value):
    """A usage error (exit 2), before the camera opens, as every other option's."""
    with pytest.raises(SystemExit) as exc:
        main(["webcam", "--source", str(clip), "--no-window", "--every", value] + model_args)
    assert exc.value.code == 2
    assert f"received {value!r}; expected a whole number >= 1" in capsys.readouterr().err
