import cv2
import numpy as np
import pytest

from edgematte.errors import InputError
from edgematte.io import ImageSource, VideoSink, VideoSource, list_images, open_source, read_image, write_image


def test_list_images_expands_folders_sorted(tmp_path):
    for name in ("b.png", "a.jpg", "c.txt"):
        (tmp_path / name).write_bytes(b"")
    single = tmp_path / "single.png"
    single.write_bytes(b"")
    folder = tmp_path
    assert [p.name for p in list_images([folder])] == ["a.jpg", "b.png", "single.png"]
    assert list_images([single]) == [single]
    with pytest.raises(InputError, match="does not exist"):
        list_images([tmp_path / "nope"])


def test_read_image_converts_grey_and_alpha_to_bgr(tmp_path):
    cv2.imwrite(str(tmp_path / "g.png"), np.full((5, 6), 9, np.uint8))
    cv2.imwrite(str(tmp_path / "a.png"), np.full((5, 6, 4), 9, np.uint8))
    assert read_image(tmp_path / "g.png").shape == (5, 6, 3)
    assert read_image(tmp_path / "a.png").shape == (5, 6, 3)
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(InputError, match="could not decode"):
        read_image(tmp_path / "bad.png")


def test_write_image_is_atomic(tmp_path):
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


def test_video_sink_commits_on_success_and_drops_on_error(tmp_path):
    frame = np.zeros((48, 64, 3), np.uint8)
    with VideoSink(tmp_path / "ok.avi", 10.0, (64, 48)) as sink:
        for _ in range(3):
            sink.write(frame)
    assert sink.frames == 3 and (tmp_path / "ok.avi").stat().st_size > 0
    with pytest.raises(RuntimeError):
        with VideoSink(tmp_path / "bad.avi", 10.0, (64, 48)) as sink:
            sink.write(frame)
            raise RuntimeError("camera fell off")
    with pytest.raises(InputError, match="expected 48x64x3"):
        with VideoSink(tmp_path / "shape.avi", 10.0, (64, 48)) as sink:
            sink.write(np.zeros((10, 10, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.avi"]


def test_video_source_reads_what_the_sink_wrote(tmp_path):
    with VideoSink(tmp_path / "v.mp4", 12.0, (32, 24)) as sink:
        for i in range(5):
            sink.write(np.full((24, 32, 3), 40 * i, np.uint8))
    with VideoSource(tmp_path / "v.mp4") as source:
        assert source.size == (32, 24) and source.fps == pytest.approx(12.0) and source.frame_count == 5
        means = [frame.mean() for frame in source]
    assert len(means) == 5 and means == sorted(means)


def test_open_source_dispatches(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((3, 3, 3), np.uint8))
    assert isinstance(open_source(tmp_path), ImageSource)
    assert len(list(open_source(tmp_path / "x.png"))) == 1
    with pytest.raises(InputError, match="camera 63"):
        open_source("63")
    with pytest.raises(InputError, match="does not exist"):
        open_source(tmp_path / "none.mp4")


def test_written_files_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "p.png", np.zeros((4, 4, 3), np.uint8))
        with VideoSink(tmp_path / "v.avi", 5.0, (8, 8)) as sink:
            sink.write(np.zeros((8, 8, 3), np.uint8))
    finally:
        os.umask(umask)
    assert (tmp_path / "p.png").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "v.avi").stat().st_mode & 0o777 == 0o644


def test_video_sink_interrupted_while_opening_leaves_no_file(tmp_path, monkeypatch):
    """Ctrl-C while OpenCV opens the writer (after the temporary file exists) must not leave it behind."""
    import cv2

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cv2, "VideoWriter", interrupted)
    with pytest.raises(KeyboardInterrupt):
        VideoSink(tmp_path / "v.mp4", 12.0, (32, 24))
    assert list(tmp_path.iterdir()) == []
