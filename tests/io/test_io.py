import errno
import os

import cv2
import numpy as np
import pytest
from clips import decode_frames, probe, write_clip

from edgematte.errors import InputError, OutputError
from edgematte.io import (
    Camera,
    ImageFiles,
    ImageSequenceSink,
    VideoFile,
    VideoSink,
    list_images,
    open_sink,
    open_source,
    read_image,
    refuse_overwriting,
    write_image,
)


def test_list_images_expands_folders_patterns_and_recursion(tmp_path):
    for name in ("b.png", "a.jpg", "c.txt", "f2.png", "f10.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.png").write_bytes(b"")
    assert [p.name for p in list_images([tmp_path])] == ["a.jpg", "b.png", "f10.png", "f2.png"]
    assert [p.name for p in list_images([tmp_path], recursive=True)][-1] == "d.png"
    assert [p.name for p in list_images([tmp_path / "f%d.png"])] == ["f2.png", "f10.png"]
    with pytest.raises(InputError, match="does not exist"):
        list_images([tmp_path / "nope"])


def test_read_image_converts_or_keeps_what_is_stored(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((5, 6), 9, np.uint8))
    cv2.imwrite(str(tmp_path / "a.png"), np.full((5, 6, 4), 9, np.uint8))
    cv2.imwrite(str(tmp_path / "d.png"), np.full((5, 6, 3), 4000, np.uint16))
    assert read_image(tmp_path / "g.png").shape == (5, 6, 3)
    assert read_image(tmp_path / "a.png").shape == (5, 6, 3)
    assert read_image(tmp_path / "a.png", unchanged=True).shape == (5, 6, 4)
    assert read_image(tmp_path / "d.png", unchanged=True).dtype == np.uint16
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="could not decode"):
        read_image(tmp_path / "bad.png")


def test_write_image_is_atomic_and_names_the_users_path(tmp_path):
    target = tmp_path / "o.png"
    target.write_bytes(b"old")
    with pytest.raises(InputError, match="with alpha"):
        write_image(tmp_path / "o.jpg", np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(InputError, match="encode"):
        write_image(tmp_path / "o.xyz", np.zeros((4, 4, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"] and target.read_bytes() == b"old"
    write_image(target, np.full((4, 4, 4), 7, np.uint8))
    assert cv2.imread(str(target), cv2.IMREAD_UNCHANGED).shape == (4, 4, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_write_image_into_a_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match=r"could not write '.*ro/x.png': permission denied$"):
            write_image(folder / "x.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        folder.chmod(0o700)


def test_write_image_error_names_the_cause_not_the_temporary(tmp_path, monkeypatch):
    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr("pathlib.Path.write_bytes", full)
    with pytest.raises(OutputError) as info:
        write_image(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    assert str(info.value) == f"could not write {str(tmp_path / 'x.png')!r}: the disk is full"
    assert list(tmp_path.iterdir()) == []


def test_video_sink_commits_on_success_and_drops_on_error(tmp_path):
    frame = np.zeros((48, 64, 3), np.uint8)
    with VideoSink(tmp_path / "ok.mp4", 10.0, (64, 48)) as sink:
        for _ in range(3):
            sink.write(frame)
    assert sink.frames == 3 and probe(tmp_path / "ok.mp4")["frames"] == 3
    with pytest.raises(RuntimeError):
        with VideoSink(tmp_path / "bad.mp4", 10.0, (64, 48)) as sink:
            sink.write(frame)
            raise RuntimeError("camera fell off")
    with pytest.raises(InputError, match="expected 48x64"):
        with VideoSink(tmp_path / "shape.mp4", 10.0, (64, 48)) as sink:
            sink.write(np.zeros((10, 10, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.mp4"]


def test_video_file_reads_what_the_sink_wrote(tmp_path):
    with VideoSink(tmp_path / "v.mkv", 12.0, (32, 24)) as sink:
        for i in range(5):
            sink.write(np.full((24, 32, 3), 40 * i, np.uint8))
    with VideoFile(tmp_path / "v.mkv") as source:
        assert source.size == (32, 24) and source.fps == pytest.approx(12.0) and source.audio is None
        means = [frame.mean() for frame in source]
    assert len(means) == 5 and means == sorted(means)


def test_video_file_hands_audio_packets_over(tmp_path):
    clip = write_clip(tmp_path / "c.mp4")
    packets = []
    with VideoFile(clip) as source:
        source.on_audio = packets.append
        assert source.frame_count == 10 and source.audio.codec_context.name == "aac"
        assert len(list(source)) == 10
    assert sum(1 for p in packets if p.size) > 40


def test_paced_video_takes_its_duration(tmp_path):
    import time

    clip = write_clip(tmp_path / "c.mp4", frames=5, fps=10, audio=None)
    start = time.monotonic()
    assert len(list(VideoFile(clip, pace=True))) == 5
    assert time.monotonic() - start >= 0.35  # frames at 0, 0.1, ... 0.4 s
    start = time.monotonic()
    assert len(list(VideoFile(clip))) == 5


def test_open_source_is_the_front_door(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((3, 4, 3), np.uint8))
    write_clip(tmp_path / "c.webm", codec="libvpx-vp9", audio=None)
    assert isinstance(open_source(tmp_path), ImageFiles) and open_source(tmp_path).size == (4, 3)
    assert isinstance(open_source(tmp_path / "%d.png"), ImageFiles)
    assert len(list(open_source(tmp_path / "x.png"))) == 1
    assert isinstance(open_source(tmp_path / "c.webm"), VideoFile)
    with open_source(f"file://{tmp_path / 'c.webm'}") as url:  # URLs go to FFmpeg (rtsp://, http://, ...)
        assert isinstance(url, VideoFile) and len(list(url)) == 10
    with pytest.raises(InputError, match="camera 63"):
        open_source("63")
    with pytest.raises(InputError, match="does not exist"):
        open_source(tmp_path / "none.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError, match="could not open .*junk.mp4"):
        open_source(tmp_path / "junk.mp4")
    assert Camera.is_camera


def test_image_sequence_sink_removes_its_frames_on_failure(tmp_path):
    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "keep.png").write_bytes(b"x")
    with pytest.raises(RuntimeError):
        with open_sink(tmp_path / "seq", 10, (4, 4)) as sink:
            assert isinstance(sink, ImageSequenceSink)
            sink.write(np.zeros((4, 4, 4), np.uint8))
            raise RuntimeError("boom")
    assert [p.name for p in (tmp_path / "seq").iterdir()] == ["keep.png"]


def test_refuse_overwriting(tmp_path):
    source = tmp_path / "a.mp4"
    source.write_bytes(b"x")
    os.symlink(source, tmp_path / "l.mp4")
    for target in (source, tmp_path / "l.mp4", tmp_path / "." / "a.mp4"):
        with pytest.raises(InputError, match="is the input"):
            refuse_overwriting([source], [target])
    with pytest.raises(InputError, match="twice"):
        refuse_overwriting([source], [tmp_path / "b.mp4", tmp_path / "b.mp4"])
    refuse_overwriting([source], [tmp_path / "b.mp4", None])


def test_written_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "p.png", np.zeros((4, 4, 3), np.uint8))
        with VideoSink(tmp_path / "v.mp4", 5.0, (8, 8)) as sink:
            sink.write(np.zeros((8, 8, 3), np.uint8))
    finally:
        os.umask(umask)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "v.mp4").stat().st_mode & 0o777 == 0o644


def test_video_sink_interrupted_while_opening_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C while FFmpeg opens the container (after the temporary file exists) must not leave it behind."""
    import av

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(av, "open", interrupted)
    with pytest.raises(KeyboardInterrupt):
        VideoSink(tmp_path / "v.mp4", 12.0, (32, 24))
    assert list(tmp_path.iterdir()) == []


def test_grey_and_bgra_frames_encode(tmp_path):
    with VideoSink(tmp_path / "g.webm", 10, (16, 16), alpha=True) as sink:
        sink.write(np.full((16, 16, 4), 200, np.uint8))
        sink.write(np.full((16, 16), 90, np.uint8))
    planes = decode_frames(tmp_path / "g.webm", "bgra", decoder="libvpx-vp9")
    assert len(planes) == 2 and abs(int(planes[0][..., 3].mean()) - 200) <= 2


def test_fast_colour_conversion_matches_the_encoders_own(tmp_path):
    """The writer's FAST_BILINEAR bgr24 -> yuv420p conversion gives the same bytes as FFmpeg's default one."""
    import av

    frame = av.VideoFrame.from_ndarray(np.random.default_rng(1).integers(0, 256, (48, 64, 3), np.uint8), format="bgr24")
    with VideoSink(tmp_path / "v.mp4", 10, (64, 48)) as sink:
        fast = sink._convert(frame)
        sink.write(frame.to_ndarray(format="bgr24"))
    slow = frame.reformat(format="yuv420p")
    assert fast.format.name == "yuv420p"
    # the pictures, not the planes' bytes: those include each row's padding, which PyAV 18.1.1 leaves uninitialised
    np.testing.assert_array_equal(fast.to_ndarray(), slow.to_ndarray())
