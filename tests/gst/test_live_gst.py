"""The live path's GStreamer ends: a pipeline ending in appsink as the camera, pipelines starting at appsrc as sinks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgematte import live
from edgematte.errors import InputError, OutputError

TINY = str(Path(__file__).resolve().parent.parent / "assets" / "tiny_seg.onnx")
OPTIONS = dict(model=TINY, backend="ort-cpu")
SOURCE = ("videotestsrc num-buffers={n} pattern=red ! video/x-raw,width=64,height=48,framerate=30/1 ! videoconvert ! "
          "appsink")


@pytest.fixture(autouse=True)
def gstreamer(gst_env, monkeypatch):
    for name, value in gst_env.items():
        monkeypatch.setenv(name, value)


def test_a_pipeline_ending_in_appsink_is_a_camera():
    source = live.open_camera(SOURCE.format(n=5))
    try:
        assert source.size == (64, 48) and source.fps == 30.0
        frames = list(source)
    finally:
        source.close()
    assert len(frames) == 5 and frames[0].shape == (48, 64, 3) and (frames[0][..., 2] > 200).all()  # red, BGR


def test_appsink_to_appsrc_every_frame_is_written_or_dropped(tmp_path):
    sink = f"appsrc ! videoconvert ! pngenc ! multifilesink location={tmp_path}/%03d.png"
    summary = live.run(SOURCE.format(n=20), [sink], background=None, **OPTIONS)
    written = sorted(tmp_path.glob("*.png"))
    assert summary["captured"] == 20 and summary["frames"] + summary["dropped"] == 20
    assert len(written) == summary["frames"] > 0


def test_an_appsrc_sink_gets_bgra_with_alpha(tmp_path):
    out = tmp_path / "out.raw"
    summary = live.run(SOURCE.format(n=6), [f"appsrc ! filesink location={out}"], background=None, pace=False,
                       **OPTIONS)
    frames = np.fromfile(out, np.uint8).reshape(-1, 48, 64, 4)
    assert len(frames) == summary["frames"] and (frames[..., 3] == 255).all()  # red is the tiny model's foreground


@pytest.mark.parametrize("description, message", [
    ("videotestsrc ! nosuchelement ! appsink", "could not build the GStreamer source"),
    ("videotestsrc num-buffers=3 ! fakesink", "with 0 appsink elements; expected one, at its end"),
    ("videotestsrc ! video/x-raw,format=I420 ! appsink caps=video/x-raw,format=I420",
     "expected video/x-raw,format=BGR"),
])
def test_gstreamer_sources_that_cannot_work_say_why(description, message):
    with pytest.raises(InputError, match=message):
        live.open_camera(description)


def test_a_missing_v4l2loopback_device_is_a_clear_error(tmp_path):
    with pytest.raises(OutputError, match=r"the GStreamer sink .*v4l2sink device=/dev/video57.* could not start"):
        live.open_output("/dev/video57", 30.0, (64, 48))


def test_webcam_cli_with_gstreamer_source_sink_and_stats(tmp_path, capsys):
    import json

    from edgematte.cli.__main__ import main

    out, stats = tmp_path / "out.raw", tmp_path / "stats.json"
    argv = ["webcam", "--source", SOURCE.format(n=10), "--no-window", "--sink", f"appsrc ! filesink location={out}",
            "--stats", str(stats), "--every", "2", "--model", TINY, "--backend", "ort-cpu", "-b", "green"]
    assert main(argv) == 0
    summary = json.loads(stats.read_text())
    assert summary["frames"] + summary["dropped"] == summary["captured"] == 10
    assert np.fromfile(out, np.uint8).size == summary["frames"] * 48 * 64 * 3
    assert capsys.readouterr().out.startswith(f"{summary['frames']} frames, {summary['dropped']} dropped")
