"""Truncated inputs (issue 19, defect 8): a stream that ends short of the frames its container announced
warns with both numbers, once; complete files say nothing."""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from pathlib import Path

import pytest
from clips import write_clip

from edgematte.cli.__main__ import main
from edgematte.io import VideoFile

WARNING = r"ended after (\d+) of the (about )?(\d+) frames its container announced \(a truncated or damaged file\?\)"


@pytest.fixture(scope="module")
def videos(shared_data) -> Path:
    folder = shared_data / "videos"
    if not (folder / "asl_book.mkv").is_file():
        pytest.skip(f"{folder / 'asl_book.mkv'} is absent")
    return folder


def faststart_mp4(source: Path, target: Path) -> Path:
    """``source`` re-encoded to H.264 in an MP4 whose index (moov) comes first, as web videos are."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w", options={"movflags": "+faststart"}) as out:
        video = src.streams.video[0]
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = video.codec_context.width, video.codec_context.height, "yuv420p"
        for index, frame in enumerate(src.decode(video)):
            frame.pts, frame.time_base = index, Fraction(1, 30)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return target


def cut(path: Path, target: Path, fraction: float = 0.5) -> Path:
    data = path.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def _decode(path: Path, caplog):
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="edgematte"), VideoFile(path) as video:
        count = sum(1 for _ in video)
    return count, [r.getMessage() for r in caplog.records if "container announced" in r.getMessage()]


def test_a_half_cut_faststart_mp4_warns_with_both_counts(videos, tmp_path, caplog):
    whole = faststart_mp4(videos / "asl_book.mkv", tmp_path / "whole.mp4")
    assert _decode(whole, caplog) == (109, [])
    decoded, warnings = _decode(cut(whole, tmp_path / "half.mp4"), caplog)
    assert len(warnings) == 1 and "half.mp4" in warnings[0]
    found = re.search(WARNING, warnings[0])
    assert found and int(found.group(1)) == decoded < 109 and int(found.group(3)) == 109 and not found.group(2)


def test_a_half_cut_mkv_warns_with_the_estimate(videos, tmp_path, caplog):
    decoded, warnings = _decode(cut(videos / "asl_book.mkv", tmp_path / "half.mkv"), caplog)
    assert len(warnings) == 1 and f"ended after {decoded} of the about 110 frames" in warnings[0]


def test_the_cli_passes_the_warning_on(videos, tmp_path, tiny_onnx, caplog):
    half = cut(videos / "asl_book.mkv", tmp_path / "half.mkv")
    argv = ["video", str(half), "-o", str(tmp_path / "o.mkv"), "--matte-only", "--model", str(tiny_onnx),
            "--backend", "ort-cpu", "--quiet"]
    with caplog.at_level(logging.WARNING, logger="edgematte"):
        assert main(argv) == 0
    assert [r for r in caplog.records if "half.mkv' ended after" in r.getMessage()]


@pytest.mark.parametrize("codec, suffix, audio", [("libx264", ".mp4", "aac"), ("libx264", ".mkv", "aac"),
                                                  ("libvpx-vp9", ".webm", "libopus"), ("libx264", ".mov", "aac"),
                                                  ("mpeg4", ".avi", None), ("libx264", ".ts", "aac")])
def test_complete_files_say_nothing(tmp_path, caplog, codec, suffix, audio):
    clip = write_clip(tmp_path / f"clip{suffix}", frames=25, codec=codec, audio=audio)
    assert _decode(clip, caplog) == (25, [])


def test_the_shared_clips_are_complete(videos, caplog):
    for path in sorted(videos.glob("*.mkv")) + sorted(videos.glob("*.gif")):
        assert _decode(path, caplog)[1] == [], path.name


def test_a_looping_background_warns_once(videos, tmp_path, caplog):
    from edgematte.background import VideoBackground

    half = cut(videos / "asl_book.mkv", tmp_path / "half.mkv")
    background = VideoBackground(half)
    with caplog.at_level(logging.WARNING, logger="edgematte"):
        for _ in range(2 * 47 + 3):  # round the loop twice
            background.next_frame()
    background.close()
    assert len([r for r in caplog.records if "container announced" in r.getMessage()]) == 1
