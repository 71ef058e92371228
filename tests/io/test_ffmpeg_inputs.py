"""What FFmpeg may read (issue 19, defect 7): local paths through the file protocol and video or image
demuxers only; URLs only for the network schemes named; never text (tty), playlists or concatenations."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest
from clips import write_clip

from edgematte.background import parse_background
from edgematte.cli.__main__ import main
from edgematte.errors import InputError
from edgematte.io import VideoFile, open_source


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "clip.mp4", frames=4, audio=None)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text(("The quick brown fox jumps over the lazy dog. " * 3 + "\n") * 200)
    return path


@pytest.fixture
def model_args(tiny_onnx):
    return ["--model", str(tiny_onnx), "--backend", "ort-cpu", "--quiet"]


def test_a_text_file_is_no_video(text_file, tmp_path, model_args, capsys):
    """FFmpeg's tty demuxer would render it as frames of text."""
    with pytest.raises(InputError, match="notes.txt', which FFmpeg does not read as a video or an image"):
        VideoFile(text_file)
    assert main(["video", str(text_file), "-o", str(tmp_path / "o.webm")] + model_args) == 1
    assert "does not read as a video" in capsys.readouterr().err
    assert not (tmp_path / "o.webm").exists()


def test_a_text_file_is_no_background(text_file, tmp_path, model_args, capsys):
    import cv2

    with pytest.raises(InputError, match="does not read as a video"):
        parse_background(str(text_file), name="--background")
    cv2.imwrite(str(tmp_path / "x.png"), np.zeros((48, 64, 3), np.uint8))
    assert main(["matte", str(tmp_path / "x.png"), "-o", str(tmp_path / "o.png"), "-b", str(text_file)] + model_args)
    assert "does not read as a video" in capsys.readouterr().err


def test_playlists_and_concatenations_are_refused(clip, tmp_path):
    (tmp_path / "list.ffconcat").write_text(f"ffconcat version 1.0\nfile '{clip}'\nfile '{clip}'\n")
    (tmp_path / "list.m3u8").write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{clip}\n#EXT-X-ENDLIST\n")
    for name in ("list.ffconcat", "list.m3u8"):
        with pytest.raises(InputError, match="does not read as a video"):
            VideoFile(tmp_path / name)


@pytest.mark.parametrize(
    "source, match",
    [
        ("concat:file://{clip}|file://{clip}", "no URL edgematte opens"),
        ("concat:{clip}|{clip}", "names FFmpeg's 'concat' protocol and no file"),
        ("subfile,,start,0,end,1000,,:{clip}", "names FFmpeg's 'subfile,,start,0,end,1000,,' protocol"),
        ("ftp://example.invalid/a.mp4", "a ftp:// URL"),
        ("data:video/mp4;base64,AAAA", "names FFmpeg's 'data' protocol"),
        ("gopher://example.invalid/", "a gopher:// URL"),
    ],
)
def test_protocols_other_than_the_named_network_schemes_are_refused(clip, source, match):
    text = source.format(clip=clip)
    with pytest.raises(InputError, match=match) as error:
        open_source(text)
    assert "expected a local file (its path) or a URL of http, https, rtsp, rtsps, rtmp, rtmps, udp, srt" in str(
        error.value)


def test_a_file_url_is_a_local_path(clip, text_file):
    with VideoFile(f"file://{clip}") as video:
        assert len(list(video)) == 4
    with pytest.raises(InputError, match="does not read as a video"):
        VideoFile(f"file://{text_file}")


def test_a_file_named_like_a_protocol_is_a_file(clip, tmp_path, monkeypatch):
    odd = tmp_path / "concat:odd.mp4"
    odd.write_bytes(clip.read_bytes())
    monkeypatch.chdir(tmp_path)
    with VideoFile("concat:odd.mp4") as video:
        assert len(list(video)) == 4


@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server for ``tmp_path``: its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_urls_still_work(clip, http_root):
    with VideoFile(f"{http_root}/clip.mp4") as video:
        assert [f.shape for f in video] == [(48, 64, 3)] * 4


def test_a_stream_url_never_reads_local_files(clip, tmp_path, http_root):
    """An HLS playlist served over HTTP that points at a local file: the file protocol is not allowed."""
    (tmp_path / "evil.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\nfile://{clip}\n#EXT-X-ENDLIST\n")
    try:
        with VideoFile(f"{http_root}/evil.m3u8") as video:
            frames = list(video)
    except InputError:
        frames = []
    assert frames == []
