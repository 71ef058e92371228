"""Camera apps at 1280x720 with the selfie model, refine "fast": the GStreamer element and ``every`` against a
plain ``Matter.replace_background`` loop on the same frames, and the live path's latency from capture to written.

    pytest bench/test_camera.py --benchmark-json bench/results/camera.json
    python bench/ratios.py bench/results/camera.json

Groups (each round takes the same 60 frames of a real clip, scaled to 1280x720):

- ``element-vs-loop``: the element (``appsrc ! edgematte ! fakesink``, in this process, the frames queued in the
  source before each round, as the loop's are in memory) against the loop (baseline), each round the 60 frames
  5 times (a 10 s stream: the element's start, from READY, is part of it). Goal: the element's speedup >= 0.90
  (within 10% of the loop).
- ``every``: ``Matter(every=2)`` (and 3) against ``every=1`` (baseline). Goal: ``every=2`` >= 1.6x.
- ``live-latency`` (one round, no ratio): ``edgematte.live.run`` on a 1,000-frame 1280x720 30 fps file standing in
  for a camera (played at its rate), written to an H.264 file. extra_info holds frames, dropped, captured,
  fps, latency p50/p90/p99/max (ms), the p50 of the first and last 100 frames (growth), and stage medians.
  Goal on a quiet 2-core machine: p50 <= 40 ms, p99 <= 66 ms, no growth, frames + dropped = captured.
  The same run from the command line: ``edgematte webcam --source FILE --no-window -o out.mp4 --stats s.json``.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, Tuple

import numpy as np
import pytest

from test_pipeline import SHARED, _model_path

SIZE = (1280, 720)
FRAMES, ROUNDS = 60, 5
STREAM = 5  # element-vs-loop rounds: the 60 frames 5 times (10 s at 30 fps), the element's start within them
GREEN = (64, 177, 0)  # BGR
CLIP = SHARED / "data" / "videos" / "asl_book.mkv"


# -- workloads (bench/camera.py runs them interleaved) ------------------------------------------------
def load_frames(count: int = FRAMES) -> np.ndarray:
    """``count`` frames of a real clip (a person at a desk), 1280x720 BGR."""
    import av
    import cv2

    with av.open(str(CLIP)) as container:
        decoded = [f.to_ndarray(format="bgr24") for _, f in zip(range(count), container.decode(video=0))]
    return np.stack([cv2.resize(f, SIZE, interpolation=cv2.INTER_LINEAR) for f in decoded])


def write_camera_file(frames: np.ndarray, path: Path, count: int = 1000) -> Path:
    """A ``count``-frame 1280x720 30 fps H.264 file of ``frames`` back and forth, standing in for a camera."""
    import av

    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "20"}
        for i in range(count):
            frame = av.VideoFrame.from_ndarray(frames[order[i % len(order)]], format="bgr24")
            frame.pts, frame.time_base = i, Fraction(1, 30)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def loop(matter, frames, repeat: int = 1) -> None:
    """The plain API loop over ``frames``, ``repeat`` times: the baseline."""
    for _ in range(repeat):
        for frame in frames:
            matter.replace_background(frame, GREEN)


def element_player(model: Path, frames: np.ndarray, repeat: int = 1):
    """``appsrc ! edgematte ! fakesink`` as (queue, play, stop, stats): ``queue()`` (untimed) ends the last run and
    queues ``frames`` (``repeat`` times) as GStreamer buffers while the pipeline is READY (nothing flows yet);
    ``play()`` runs them through the element to EOS; ``stop()`` sets it to NULL; ``stats()`` is the element's stats
    structure. The source costs nothing per frame in ``play()``, as the loop's does (its frames are in memory), so
    the ratio is the element's own cost. The pipeline is reused: the element keeps its Matter."""
    from edgematte.gst import import_gst, register

    Gst = import_gst().Gst
    register()
    pipeline = Gst.parse_launch(f"edgematte name=matte model={model} backend=ort-cpu background=#00b140 ! "
                                "fakesink sync=false")
    matte, held = pipeline.get_by_name("matte"), {}

    def queue() -> None:  # a new appsrc each round (one that has sent EOS refuses buffers until restarted)
        pipeline.set_state(Gst.State.NULL)
        if "src" in held:
            pipeline.remove(held.pop("src"))
        src = held["src"] = Gst.ElementFactory.make("appsrc")
        src.set_property("format", Gst.Format.TIME)
        src.set_property("max-bytes", 0)  # unlimited: the round's frames wait in the source
        src.set_property("caps", Gst.Caps.from_string(
            f"video/x-raw,format=BGR,width={SIZE[0]},height={SIZE[1]},framerate=30/1"))
        pipeline.add(src)
        src.link(matte)
        pipeline.set_state(Gst.State.READY)
        for i in range(repeat * len(frames)):
            buffer = Gst.Buffer.new_wrapped(frames[i % len(frames)].tobytes())  # own memory: written in place
            buffer.pts, buffer.duration = i * Gst.SECOND // 30, Gst.SECOND // 30
            assert src.emit("push-buffer", buffer) == Gst.FlowReturn.OK
        del buffer  # appsrc holds the only reference: the buffer is writable, no copy
        src.emit("end-of-stream")

    def play() -> None:
        pipeline.set_state(Gst.State.PLAYING)
        message = pipeline.get_bus().timed_pop_filtered(600 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        assert message is not None and message.type == Gst.MessageType.EOS, message and message.parse_error()

    def stop() -> None:
        pipeline.set_state(Gst.State.NULL)

    return SimpleNamespace(queue=queue, play=play, stop=stop, stats=lambda: matte.get_property("stats"))


def live_latency(model: Path, camera: Path, out: Path) -> Tuple[Dict[str, Any], np.ndarray]:
    """``camera`` through the live path at its frame rate into the H.264 file ``out``: (summary, latencies ms)."""
    from edgematte import live

    with live.Live(camera, model=model, backend="ort-cpu", refine="fast", background="green") as stream:
        sink = live.open_output(str(out), stream.fps, stream.size)
        for item in stream:
            sink.write(item.image, item.frame)
        sink.close()
        return stream.stats.summary(), np.asarray(stream.stats.latency_ms)


def latency_row(summary: Dict[str, Any], latency: np.ndarray) -> Dict[str, Any]:
    """The live run's figures: accounting, fps, latency percentiles, growth (first/last 100 frames), stages."""
    return dict(
        {k: summary[k] for k in ("frames", "dropped", "captured", "fps")},
        **{f"{k}_ms": v for k, v in summary["latency_ms"].items()},
        first100_p50_ms=round(float(np.median(latency[:100])), 3),
        last100_p50_ms=round(float(np.median(latency[-100:])), 3),
        stages_ms=summary["stages_ms"],
    )


# -- fixtures -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def selfie(tmp_path_factory) -> Path:
    return _model_path("selfie", tmp_path_factory)


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    if not CLIP.is_file():
        pytest.skip(f"{CLIP} is absent")
    return load_frames()


@pytest.fixture(scope="module")
def camera_file(frames, tmp_path_factory) -> Path:
    return write_camera_file(frames, tmp_path_factory.mktemp("camera") / "camera720.mp4")


# -- the element against the loop ---------------------------------------------------------------------
def test_plain_replace_background_loop(benchmark, selfie, frames):
    import edgematte

    with edgematte.Matter(selfie, backend="ort-cpu", refine="fast") as matter:
        benchmark.group, benchmark.extra_info["role"] = "element-vs-loop-1280x720", "baseline"
        benchmark.pedantic(loop, (matter, frames, STREAM), rounds=ROUNDS, warmup_rounds=1)
    benchmark.extra_info["fps"] = round(STREAM * FRAMES / benchmark.stats.stats.median, 2)


def test_element(benchmark, selfie, frames):
    player = element_player(selfie, frames, STREAM)
    benchmark.group = "element-vs-loop-1280x720"
    benchmark.pedantic(player.play, setup=player.queue, rounds=ROUNDS, warmup_rounds=1)
    player.stop()
    stats = player.stats()
    benchmark.extra_info.update(fps=round(STREAM * FRAMES / benchmark.stats.stats.median, 2),
                                frames=stats.get_value("frames"), element_ms=stats.get_value("element-ms"),
                                total_ms=stats.get_value("total-ms"))


# -- every --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("every", [1, 2, 3])
def test_every(benchmark, selfie, frames, every):
    import edgematte

    with edgematte.Matter(selfie, backend="ort-cpu", refine="fast", every=every) as matter:
        benchmark.group = "every-1280x720"
        if every == 1:
            benchmark.extra_info["role"] = "baseline"
        benchmark.pedantic(loop, (matter, frames), rounds=ROUNDS, warmup_rounds=1)
    benchmark.extra_info["fps"] = round(FRAMES / benchmark.stats.stats.median, 2)


# -- the live path ------------------------------------------------------------------------------------
def test_live_latency(benchmark, selfie, camera_file, tmp_path):
    results = []
    benchmark.group = "live-latency-1280x720"
    benchmark.pedantic(lambda: results.append(live_latency(selfie, camera_file, tmp_path / "out.mp4")), rounds=1)
    summary, latency = results[-1]
    assert summary["frames"] + summary["dropped"] == summary["captured"] == 1000
    benchmark.extra_info.update(latency_row(summary, latency))
