"""H.264 (4:2:0) needs even sides: frames with an odd width or height are padded by one column or row
repeating the last (default, one notice line) or cropped with --crop. Real encodes with PyAV."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from clips import decode_frames, probe, write_clip

from edgematte.cli.__main__ import main
from edgematte.errors import InputError
from edgematte.io import VideoOptions, VideoSink


@pytest.fixture
def odd_clip(tmp_path):
    """10 frames of 63x47 (VP9, which takes odd sides) with Opus audio."""
    return write_clip(tmp_path / "odd.webm", size=(63, 47), codec="libvpx-vp9", audio="libopus")


def _notices(caplog, name):
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{name}: frames of 63x47")]


def test_video_pads_odd_frames_by_default_with_one_notice(odd_clip, tmp_path, model_args, caplog):
    out = tmp_path / "o.mp4"
    with caplog.at_level(logging.INFO, logger="edgematte"):
        assert main(["video", str(odd_clip), "-o", str(out), "-b", "green"] + model_args) == 0
    assert _notices(caplog, "o.mp4") == [  # in CLI syntax
        "o.mp4: frames of 63x47 padded to 64x48 (libx264 needs an even width and height; --crop crops instead)"
    ]
    info = probe(out)
    assert info["video_codecs"] == ["h264"] and info["frames"] == 10 and info["audio_codecs"] == ["opus"]
    frames = decode_frames(out)
    assert frames[0].shape == (48, 64, 3)
    for frame in frames:  # the added column and row repeat the last ones (up to the codec's loss)
        assert np.abs(frame[:, 63].astype(int) - frame[:, 62]).mean() < 3
        assert np.abs(frame[47].astype(int) - frame[46]).mean() < 3
        assert frame[:47, :63].mean() > 10  # the picture itself, not black


def test_video_crop_drops_the_odd_column_and_row_of_every_output(odd_clip, tmp_path, model_args, caplog):
    out, alpha = tmp_path / "o.mkv", tmp_path / "pha.mp4"
    with caplog.at_level(logging.INFO, logger="edgematte"):
        argv = ["video", str(odd_clip), "-o", str(out), "-b", "green", "--crop", "--output-alpha", str(alpha)]
        assert main(argv + model_args) == 0
    assert len(_notices(caplog, "o.mkv")) == 1 and len(_notices(caplog, "pha.mp4")) == 1
    assert "cropped to 62x46" in _notices(caplog, "o.mkv")[0]
    assert decode_frames(out)[0].shape == (46, 62, 3) and len(decode_frames(alpha)) == 10
    assert decode_frames(alpha, "gray")[0].shape == (46, 62)


def test_formats_that_take_odd_sides_keep_them(odd_clip, tmp_path, model_args, caplog):
    out = tmp_path / "o.webm"
    with caplog.at_level(logging.INFO, logger="edgematte"):
        assert main(["video", str(odd_clip), "-o", str(out)] + model_args) == 0  # VP9 with alpha
    assert not _notices(caplog, "o.webm")
    assert decode_frames(out, "bgra", decoder="libvpx-vp9")[0].shape == (47, 63, 4)


def test_webcam_recording_pads_odd_frames(odd_clip, tmp_path, model_args):
    out = tmp_path / "rec.mp4"
    argv = ["webcam", "--device", str(odd_clip), "--no-window", "--no-pace", "-o", str(out), "-b", "red"]
    assert main(argv + model_args) == 0
    assert probe(out)["frames"] == 10 and decode_frames(out)[0].shape == (48, 64, 3)


def test_pad_and_crop_together_are_a_usage_error(odd_clip, tmp_path, model_args, capsys):
    with pytest.raises(SystemExit) as info:
        main(["video", str(odd_clip), "-o", str(tmp_path / "o.mp4"), "-b", "red", "--pad", "--crop"] + model_args)
    assert info.value.code == 2 and "not allowed with" in capsys.readouterr().err


@pytest.mark.parametrize("odd_size, shape", [("pad", (48, 64)), ("crop", (46, 62))])
def test_video_sink_takes_odd_frames(tmp_path, odd_size, shape):
    out = tmp_path / "grey.mp4"
    with VideoSink(out, 25, (63, 47), options=VideoOptions(odd_size=odd_size)) as sink:
        for i in range(3):
            sink.write(np.full((47, 63), 60 * i, np.uint8))
    frames = decode_frames(out, "gray")
    assert len(frames) == 3 and frames[0].shape == shape


def test_odd_size_must_be_pad_or_crop():
    with pytest.raises(InputError, match=r"received odd_size='round'; expected one of \('pad', 'crop'\)"):
        VideoOptions(odd_size="round")
