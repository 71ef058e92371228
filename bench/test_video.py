"""720p video I/O cost: ``edgematte video`` (decode + matte + H.264 encode + audio copy) against matting the
same frames already in memory, side by side in one run.

    pytest bench/test_video.py --benchmark-json bench/results/video.json
    python bench/ratios.py bench/results/video.json

The baseline mattes the decoded frames held in a list (refine "fast", green background, the
Matter opened inside the timed call as the command does). ``video`` runs the command on the
same clip (H.264 + AAC, 1280x720, 30 fps); ``io-only`` decodes and re-encodes the clip with the
audio copied and no matting, to show what the I/O itself costs. extra_info["io_overhead"] of
the ``video`` entry is ``video / baseline - 1``. Goal: <= 0.15.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import edgematte
from edgematte.cli.__main__ import main

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from clips import write_clip  # noqa: E402
from test_pipeline import _model_path  # noqa: E402

SIZE = (1280, 720)
FRAMES, FPS = 90, 30
ROUNDS = 3
MODEL = "selfie"
_MEDIANS = {}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A 3 s 720p H.264 clip with an AAC tone."""
    return write_clip(tmp_path_factory.mktemp("video") / "clip.mp4", frames=FRAMES, size=SIZE, fps=FPS)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return _model_path(MODEL, tmp_path_factory)


def _frames(path: Path):
    from edgematte.io import VideoFile

    with VideoFile(path) as source:
        return list(source)


def _record(benchmark, name: str) -> None:
    _MEDIANS[name] = benchmark.stats.stats.median
    base = _MEDIANS.get("memory")
    if base and name != "memory":
        benchmark.extra_info["io_overhead"] = round(_MEDIANS[name] / base - 1, 3)


def test_matte_frames_in_memory(benchmark, clip, model):
    frames = _frames(clip)

    def run():
        with edgematte.Matter(model, backend="ort-cpu", refine="fast") as matter:
            for frame in frames:
                matter.process(frame, "green")

    benchmark.group = "video-1280x720"
    benchmark.extra_info["role"] = "baseline"
    benchmark.extra_info["frames"] = len(frames)
    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    _record(benchmark, "memory")


def test_video_command(benchmark, clip, model, tmp_path):
    out = tmp_path / "out.mp4"
    argv = ["video", str(clip), "-o", str(out), "-b", "green", "--model", str(model), "--backend", "ort-cpu", "-q"]
    benchmark.group = "video-1280x720"
    benchmark.pedantic(lambda: main(argv), rounds=ROUNDS, warmup_rounds=1)
    _record(benchmark, "video")
    from clips import probe

    info = probe(out)
    assert info["frames"] == FRAMES and info["audio_codecs"] == ["aac"]


def test_io_only(benchmark, clip, tmp_path):
    """Decode, re-encode (the command's encoder settings) and copy the audio, without matting."""
    from edgematte.io import VideoFile, VideoSink

    def run():
        with VideoFile(clip) as source, VideoSink(
            tmp_path / "io.mp4", source.stream.average_rate, source.size, time_base=source.time_base
        ) as sink:
            source.on_audio = sink.add_audio(source.audio)
            for frame in source:
                sink.write(frame, source.pts)

    benchmark.group = "video-1280x720"
    benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    _record(benchmark, "io")
    assert np.isfinite(_MEDIANS["io"])
