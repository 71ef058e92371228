"""PNG sequences: only the file name is a pattern (issue 19, defect 5), and a re-run that fails or is
interrupted leaves the earlier sequence whole (defect 6)."""

from __future__ import annotations

import signal
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import write_clip
from fresh_python import signal_when_ready
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgematte.cli.__main__ import main
from edgematte.io import ImageFiles, ImageSequenceSink, open_sink


@pytest.fixture
def model_args(tiny_onnx):
    return ["--model", str(tiny_onnx), "--backend", "ort-cpu", "--quiet"]


def _frame(value: int) -> np.ndarray:
    return np.full((4, 6, 4), value, np.uint8)


# -- defect 5: % in output paths --------------------------------------------------------------


@pytest.mark.parametrize(
    "target, first",
    [("50% done/", "50% done/frame_000001.png"), ("pat%dir/f_%04d.png", "pat%dir/f_0001.png"),
     ("a%%b/%d.png", "a%%b/1.png"), ("x/50%_f_%03d.png", "x/50%_f_001.png"), ("y/f%4d.png", "y/f0001.png")],
)
def test_only_the_file_name_is_a_pattern(tmp_path, target, first):
    with open_sink(f"{tmp_path}/{target}", 10, (6, 4)) as sink:
        sink.write(_frame(1))
        sink.write(_frame(2))
    assert (tmp_path / first).is_file()
    assert len([p for p in (tmp_path / first).parent.iterdir()]) == 2


@pytest.mark.parametrize("target", ["50% done/", "pat%dir/f_%04d.png"])
def test_the_cli_writes_sequences_under_percent_folders(tmp_path, model_args, target):
    clip = write_clip(tmp_path / "clip.mp4", frames=3, audio=None)
    assert main(["video", str(clip), "-o", f"{tmp_path}/{target}"] + model_args) == 0
    folder = tmp_path / target.split("/")[0]
    assert len(list(folder.iterdir())) == 3


_names = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(folder=_names, head=_names | st.just(""), tail=_names | st.just(""),
       width=st.sampled_from(["", "0", "4", "04", "06"]))
def test_any_pattern_round_trips(tmp_path_factory, folder, head, tail, width):
    """A sequence written to FOLDER/HEAD%0Nd TAIL.png reads back through the same pattern, in order."""
    if folder in (".", "..") or "%" in head and "d" in head:  # the first %d of the name is the number
        return
    root = tmp_path_factory.mktemp("seq")
    pattern = root / folder / f"{head}%{width}d{tail}.png"
    try:
        sink = ImageSequenceSink(pattern)
    except OSError:  # a name the file system refuses (too long in bytes)
        return
    with sink:
        for value in (10, 20, 30):
            sink.write(_frame(value))
    frames = list(ImageFiles(pattern))
    assert [int(f[0, 0, 0]) for f in frames] == [10, 20, 30]
    assert not [p for p in (root / folder).iterdir() if "partial" in p.name]


# -- defect 6: an interrupted re-run ----------------------------------------------------------


def _sequence(folder: Path):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_failed_re_run_leaves_the_earlier_sequence(tmp_path):
    out = tmp_path / "out"
    with open_sink(str(out) + "/", 10, (6, 4)) as sink:
        for value in range(5):
            sink.write(_frame(value))
    earlier = _sequence(out)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        with open_sink(out, 10, (6, 4)) as sink:
            for value in range(3):
                sink.write(_frame(100 + value))
            raise KeyboardInterrupt
    assert _sequence(out) == {**earlier, "notes.txt": b"mine"} and len(list(out.iterdir())) == 6


def test_a_shorter_re_run_replaces_the_whole_sequence(tmp_path):
    out = tmp_path / "out"
    for count in (5, 2):
        with open_sink(out / "%03d.png", 10, (6, 4)) as sink:
            for value in range(count):
                sink.write(_frame(count))
    assert sorted(p.name for p in out.iterdir()) == ["001.png", "002.png"]


def test_a_new_folder_is_absent_after_a_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with open_sink(tmp_path / "new" / "%d.png", 10, (6, 4)) as sink:
            sink.write(_frame(1))
            raise RuntimeError
    assert not (tmp_path / "new").exists()


def _kill_mid_run(tmp_path, clip, out: Path, model_args, sig):
    """`edgematte video CLIP -o OUT/` in a fresh interpreter, sent ``sig`` once it has written new frames."""
    args = ["-m", "edgematte.cli", "video", str(clip), "-o", str(out) + "/"] + model_args
    return signal_when_ready(args, cwd=tmp_path, sig=sig, timeout=120,
                             ready=lambda: sum(1 for _ in out.rglob("frame_*.png")) >= 40)  # 30 earlier + new ones


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_re_run_leaves_the_earlier_sequence_whole(tmp_path, model_args, sig):
    out = tmp_path / "out"
    short = write_clip(tmp_path / "short.mp4", frames=30, audio=None)
    assert main(["video", str(short), "-o", str(out) + "/"] + model_args) == 0
    earlier = _sequence(out)
    assert len(earlier) == 30
    long = write_clip(tmp_path / "long.mp4", frames=600, size=(320, 240), audio=None)
    code, err = _kill_mid_run(tmp_path, long, out, model_args, sig)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 130), err
    assert _sequence(out) == earlier  # every earlier frame, none of the new run's
    debris = [p for p in out.iterdir() if p.is_dir()]
    assert len(debris) == (1 if sig == signal.SIGKILL else 0)
    assert all(".partial" in p.name for p in debris)
    assert main(["video", str(short), "-o", str(out) + "/", "-b", "red"] + model_args) == 0  # cleans the debris
    assert sorted(p.name for p in out.iterdir()) == sorted(earlier)
    assert cv2.imread(str(out / "frame_000001.png")).shape == (48, 64, 3)
