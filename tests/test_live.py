"""The live path: newest-frame capture, frame accounting and latency with a file-backed camera, sinks, sources."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from clips import probe, write_clip
from edgematte import live
from edgematte.errors import InputError

TINY = str(Path(__file__).resolve().parent / "assets" / "tiny_seg.onnx")
OPTIONS = dict(model=TINY, backend="ort-cpu")


class Stepped:  # not a camera: Capture is told how to treat it
    """A source that hands over frame i only once the test released it (``step``), so the test, not the clock,
    decides which frames arrive while the consumer is busy."""

    name = "stepped"

    def __init__(self, count: int) -> None:
        self.count = count
        self.released = threading.Semaphore(0)
        self.closed = False

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.released.release()

    def __iter__(self):
        for i in range(self.count):
            self.released.acquire()
            yield np.full((4, 4, 3), i, np.uint8)

    def close(self) -> None:
        self.closed = True


def wait_until(condition, seconds: float = 30.0) -> None:
    """Poll ``condition`` (a safety deadline only; the assertions are on frame counts, never on time)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the capture thread did not get there"
        time.sleep(0.001)


def test_capture_hands_out_the_newest_frame_and_counts_the_replaced_ones():
    source = Stepped(8)
    capture = live.Capture(source)
    source.step()
    first = capture.next()
    assert first.index == 0 and first.image[0, 0, 0] == 0
    source.step(3)  # frames 1, 2, 3 arrive while the consumer is busy
    wait_until(lambda: capture.captured == 4)
    newest = capture.next()
    assert newest.index == 3 and newest.image[0, 0, 0] == 3 and capture.dropped == 2
    assert newest.captured >= first.captured
    source.step(5)  # the rest: the stream ends
    taken = 2
    while capture.next() is not None:
        taken += 1
    assert taken + capture.dropped == capture.captured == 8
    capture.close()
    assert not source.closed  # its owner closes it


def test_closing_counts_an_untaken_frame_as_dropped():
    source = Stepped(3)
    capture = live.Capture(source)
    source.step(2)
    wait_until(lambda: capture.captured == 2)
    assert capture.next().index == 1
    source.step()
    wait_until(lambda: capture.captured == 3)
    capture.close()
    assert (capture.captured, capture.dropped) == (3, 2)


def test_a_source_error_reaches_the_consumer_after_its_frames():
    class Failing(Stepped):
        def __iter__(self):
            yield np.zeros((4, 4, 3), np.uint8)
            raise InputError("camera 7 stopped delivering frames")

    capture = live.Capture(Failing(1))
    assert capture.next() is not None
    with pytest.raises(InputError, match="camera 7 stopped"):
        capture.next()
    capture.close()


@pytest.fixture
def clip(tmp_path):
    """A 20-frame 64x48 clip at 20 fps standing in for a camera."""
    return write_clip(tmp_path / "camera.mp4", frames=20, fps=20, audio=None)


def test_a_file_backed_camera_accounts_for_every_frame(clip):
    with live.Live(clip, background="green", **OPTIONS) as stream:
        outputs = [out.frame.index for out in stream]
        summary = stream.stats.summary()
    assert summary["captured"] == 20 and summary["frames"] + summary["dropped"] == 20
    assert summary["frames"] == len(outputs) and outputs == sorted(set(outputs))
    latency = summary["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert {"wait", "model", "refine", "total", "write"} <= set(summary["stages_ms"]) and summary["fps"] > 0


class Frames:
    """Stepped's frames at 64x48, with the size and fps a camera reports."""

    is_camera = True

    def __init__(self, stepped: Stepped) -> None:
        self.stepped, self.size, self.fps, self.name = stepped, (64, 48), 30.0, "stepped"

    def __iter__(self):
        for small in self.stepped:
            yield np.full((48, 64, 3), small[0, 0, 0], np.uint8)

    def close(self) -> None:
        self.stepped.close()


def test_a_slow_consumer_gets_the_newest_frame_not_a_queue():
    source = Stepped(10)
    seen = []
    with live.Live(Frames(source), background="green", **OPTIONS) as stream:
        source.step()
        for out in stream:
            seen.append(int(out.frame.image[0, 0, 0]))
            expected = min(10, stream.capture.captured + 3)
            source.step(3)  # three frames arrive while this one is being written
            wait_until(lambda n=expected: stream.capture.captured == n)
        summary = stream.stats.summary()
    assert seen == [0, 3, 6, 9]
    assert (summary["frames"], summary["dropped"], summary["captured"]) == (4, 6, 10)


def test_run_writes_the_file_and_the_stats(clip, tmp_path):
    out, stats = tmp_path / "out.mp4", tmp_path / "stats.json"
    summary = live.run(str(clip), [str(out)], background="green", stats=stats, every=2, **OPTIONS)
    assert json.loads(stats.read_text()) == summary
    assert probe(out)["frames"] == summary["frames"] and summary["frames"] + summary["dropped"] == 20
    assert set(summary["latency_ms"]) == {"p50", "p90", "p99", "max"}


def test_run_stops_after_max_frames_and_still_accounts(clip, tmp_path):
    summary = live.run(str(clip), [str(tmp_path / "out.mp4")], max_frames=5, **OPTIONS)
    assert summary["frames"] == 5 and summary["frames"] + summary["dropped"] == summary["captured"] <= 20


def test_background_none_gives_bgra_for_alpha_outputs(clip, tmp_path):
    with live.Live(clip, background=None, pace=False, **OPTIONS) as stream:
        shapes = {out.image.shape for out in stream}
    assert shapes == {(48, 64, 4)}


def test_a_bad_background_fails_before_any_frame(clip):
    with pytest.raises(InputError, match="received background 'nocolour'"):
        live.Live(clip, background="nocolour", **OPTIONS)


@pytest.mark.parametrize("uri, message", [
    ("ftp://camera/stream", "expected a camera index, /dev/videoN, csi://N"),
    ("csi://front", "expected csi://N with the sensor number N"),
    ("v4l2:///dev/video57", "camera /dev/video57 could not be opened"),
    ("57", "camera 57 could not be opened"),
])
def test_sources_that_cannot_open_say_why(uri, message):
    with pytest.raises(InputError, match=message):
        live.open_camera(uri)


def test_csi_uris_become_the_jetson_camera_pipeline():
    description = live.csi_pipeline("csi://1?width=1280&height=720&framerate=60")
    assert description.startswith("nvarguscamerasrc sensor-id=1 ! video/x-raw(memory:NVMM),width=1280,height=720,"
                                  "framerate=60/1 ! nvvidconv ! video/x-raw,format=BGRx")
    assert description.endswith("! appsink") and "sensor-id=0 !" in live.csi_pipeline("csi://0")


@pytest.mark.parametrize("width, crop", [(640, False), (641, True)])
def test_the_v4l2loopback_sink_feeds_chrome_yuy2_with_an_even_width(width, crop):
    description = live.v4l2loopback_pipeline("/dev/video10", width)
    assert description.startswith("appsrc ! videoconvert ! ") and "format=YUY2" in description
    assert ("videocrop right=1" in description) == crop and description.endswith("device=/dev/video10 sync=false")


def test_recording_over_the_source_is_refused(clip):
    with pytest.raises(InputError, match="is the input"):
        live.run(str(clip), [str(clip)], **OPTIONS)


def test_capture_can_keep_every_frame():
    source = Stepped(5)
    capture = live.Capture(source, keep_all=True)
    source.step(5)  # all five are ready at once; each waits for the one before to be taken
    taken = [frame.index for frame in iter(capture.next, None)]
    capture.close()
    assert taken == [0, 1, 2, 3, 4] and capture.dropped == 0


def test_a_file_read_unpaced_loses_no_frame(clip):
    with live.Live(clip, pace=False, **OPTIONS) as stream:
        indices = [out.frame.index for out in stream]
    assert indices == list(range(20)) and stream.stats.summary()["dropped"] == 0


def test_a_missing_camera_is_an_error_not_an_abort_after_gstreamer_started(tmp_path):
    """OpenCV 5.1's FFmpeg camera backend throws for a missing index; with GStreamer's C++ runtime loaded in the
    process that exception used to abort Python. Cameras open through V4L2 only on Linux."""
    import subprocess

    from fresh_python import fresh_python
    from gst_support import gst_missing

    if gst_missing():
        pytest.skip(gst_missing())
    code = ("from edgematte.gst import import_gst\nimport_gst().Gst.init(None)\nfrom edgematte import live\n"
            "from edgematte.errors import InputError\ntry:\n    live.open_camera('57')\n"
            "except InputError as exc:\n    print('InputError:', exc)\n")
    argv, kwargs = fresh_python(["-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    done = subprocess.run(argv, **kwargs)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "InputError: camera 57 could not be opened" in done.stdout
