"""Timestamps that go back (issue 19, defect 9): concatenated MPEG-TS files are re-stamped to run on, with
one warning, instead of failing in the muxer ("could not write 'o.mp4': Invalid argument")."""

from __future__ import annotations

import logging

import pytest
from clips import probe, write_clip

from edgematte.cli.__main__ import main
from edgematte.io import VideoFile


@pytest.fixture
def joined(tmp_path):
    """Two 20-frame MPEG-TS clips with AAC, concatenated byte for byte (``cat a.ts b.ts``)."""
    first, second = write_clip(tmp_path / "a.ts", frames=20), write_clip(tmp_path / "b.ts", frames=20)
    path = tmp_path / "joined.ts"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    return path


def _restamp_warnings(caplog):
    return [r.getMessage() for r in caplog.records if "timestamps go back" in r.getMessage()]


@pytest.mark.parametrize("output", ["o.mp4", "o.mkv", "o.webm"])
def test_concatenated_ts_files_are_re_stamped_with_one_warning(joined, tmp_path, tiny_onnx, caplog, output):
    argv = ["video", str(joined), "-o", str(tmp_path / output), "-b", "green", "--model", str(tiny_onnx),
            "--backend", "ort-cpu", "--quiet"]
    with caplog.at_level(logging.WARNING, logger="edgematte"):
        assert main(argv) == 0
    warnings = _restamp_warnings(caplog)
    assert len(warnings) == 1 and "joined.ts': timestamps go back at" in warnings[0] and "re-stamped" in warnings[0]
    info = probe(tmp_path / output)
    assert info["frames"] == 40 and info["audio_codecs"]
    assert 3.5 < info["audio_seconds"] < 4.5  # both halves of the sound, in order


def test_the_source_yields_increasing_timestamps(joined, caplog):
    with caplog.at_level(logging.WARNING, logger="edgematte"), VideoFile(joined) as video:
        stamps = []
        for _ in video:
            stamps.append(video.pts)
    assert len(stamps) == 40 and all(b > a for a, b in zip(stamps, stamps[1:]))
    assert len(_restamp_warnings(caplog)) == 1


def test_ordinary_files_keep_their_timestamps(tmp_path, caplog):
    clip = write_clip(tmp_path / "a.ts", frames=20)
    with av_open(clip) as container:
        expected = [f.pts for f in container.decode(video=0)]
    with caplog.at_level(logging.WARNING, logger="edgematte"), VideoFile(clip) as video:
        stamps = []
        for _ in video:
            stamps.append(video.pts)
    assert stamps == expected and not _restamp_warnings(caplog)


def av_open(path):
    import av

    return av.open(str(path))
