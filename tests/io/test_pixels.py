"""The decoded-pixel limit (issue 19, defect 3): a small file announcing a huge image is refused from its
header, before anything is decoded; the limit is named in the error and changed by EDGEMATTE_MAX_PIXELS
or --max-pixels."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from clips import write_clip
from hypothesis import given, settings
from hypothesis import strategies as st

from edgematte.background import parse_background
from edgematte.cli.__main__ import main
from edgematte.errors import InputError
from edgematte.io import VideoFile, decode_image, read_image

MAX_PIXELS_ENV = "EDGEMATTE_MAX_PIXELS"


def png_bomb(width: int, height: int, rows: int = 4) -> bytes:
    """A PNG whose header says ``width`` x ``height`` grey pixels; its data holds only ``rows`` rows."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(b"\0" * ((width + 1) * rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@pytest.fixture(autouse=True)
def default_limit(monkeypatch):
    monkeypatch.delenv(MAX_PIXELS_ENV, raising=False)  # also undoes what main(["--max-pixels", ...]) sets


@pytest.fixture
def no_decoding(monkeypatch):
    """cv2.imdecode raises: whatever reaches it was decoded."""

    def imdecode(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(cv2, "imdecode", imdecode)


@pytest.fixture
def bomb(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb(30000, 30000))
    return path


def test_a_30000x30000_png_is_refused_from_its_header(bomb, no_decoding):
    assert bomb.stat().st_size < 10_000
    with pytest.raises(InputError, match=r"30000x30000 pixels \(900 MP\); expected at most 100 MP, the decoded-pixel "
                                         r"limit \(raise it with EDGEMATTE_MAX_PIXELS=N or --max-pixels N"):
        read_image(bomb)
    with pytest.raises(InputError, match="bomb.png.*decoded-pixel limit"):
        decode_image(bomb.read_bytes(), repr(str(bomb)))
    with pytest.raises(InputError, match="decoded-pixel limit"):
        parse_background(str(bomb), name="--background")


def test_the_cli_names_the_limit_and_takes_another(bomb, tmp_path, tiny_onnx, capsys, no_decoding):
    model = ["--model", str(tiny_onnx), "--backend", "ort-cpu", "--quiet"]
    assert main(["matte", str(bomb), "-o", str(tmp_path / "o.png")] + model) == 1
    assert "expected at most 100 MP, the decoded-pixel limit" in capsys.readouterr().err
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.zeros((48, 64, 3), np.uint8))
    assert main(["matte", str(photo), "-o", str(tmp_path / "o.png"), "-b", str(bomb)] + model) != 0
    assert "bomb.png', 30000x30000 pixels (900 MP); expected at most 100 MP" in capsys.readouterr().err


def test_the_limit_moves_with_the_environment_and_the_option(tmp_path, tiny_onnx, monkeypatch, capsys):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.zeros((48, 64, 3), np.uint8))  # 3072 pixels
    monkeypatch.setenv(MAX_PIXELS_ENV, "3000")
    with pytest.raises(InputError, match=r"64x48 pixels .*at most 0.003 MP"):
        read_image(photo)
    monkeypatch.setenv(MAX_PIXELS_ENV, "3072")
    assert read_image(photo).shape == (48, 64, 3)
    monkeypatch.setenv(MAX_PIXELS_ENV, "0")  # no limit
    assert read_image(photo).shape == (48, 64, 3)
    monkeypatch.setenv(MAX_PIXELS_ENV, "lots")
    with pytest.raises(InputError, match="received EDGEMATTE_MAX_PIXELS='lots'; expected a whole number of pixels"):
        read_image(photo)
    monkeypatch.delenv(MAX_PIXELS_ENV)
    model = ["--model", str(tiny_onnx), "--backend", "ort-cpu", "--quiet"]
    assert main(["matte", str(photo), "-o", str(tmp_path / "o.png"), "--max-pixels", "1000"] + model) == 1
    assert "64x48 pixels" in capsys.readouterr().err
    assert main(["matte", str(photo), "-o", str(tmp_path / "o.png"), "--max-pixels", "5000"] + model) == 0
    with pytest.raises(SystemExit) as usage:
        main(["matte", str(photo), "-o", str(tmp_path / "o.png"), "--max-pixels", "-1"] + model)
    assert usage.value.code == 2 and "--max-pixels='-1'" in capsys.readouterr().err


def test_a_video_above_the_limit_is_refused_when_opened(tmp_path, monkeypatch):
    clip = write_clip(tmp_path / "clip.mp4", frames=2, audio=None)  # 64x48
    monkeypatch.setenv(MAX_PIXELS_ENV, "1000")
    with pytest.raises(InputError, match=r"video '.*clip.mp4', 64x48 pixels .*decoded-pixel limit"):
        VideoFile(clip)
    with pytest.raises(InputError, match="decoded-pixel limit"):
        parse_background(str(clip))


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp", ".pgm"])
@pytest.mark.parametrize("shape", [(7, 13), (300, 200)], ids=str)
def test_headers_give_the_size_opencv_decodes(suffix, shape):
    from edgematte.io.pixels import image_size

    image = np.random.default_rng(0).integers(0, 255, shape + ((3,) if suffix != ".pgm" else ()), dtype=np.uint8)
    ok, data = cv2.imencode(suffix, image)
    assert ok
    assert image_size(data.tobytes()) == (shape[1], shape[0])


MAGICS = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"GIF87a", b"GIF89a", b"BM", b"RIFF", b"II*\x00", b"MM\x00*", b"II+\x00",
          b"MM\x00+"] + [b"P" + c for c in (b"1", b"2", b"3", b"4", b"5", b"6", b"F", b"f")]


def test_the_default_limit_is_100_mp_and_every_header_is_fuzzed():
    from edgematte.io.pixels import _HEADER_READERS, MAX_PIXELS, max_pixels

    assert max_pixels() == MAX_PIXELS == 100_000_000
    assert {magic for magic, _ in _HEADER_READERS} == set(MAGICS)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(MAGICS), st.binary(max_size=64))
def test_garbage_headers_never_raise(magic, tail):
    from edgematte.io.pixels import image_size

    size = image_size(magic + tail)
    assert size is None or (len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size))
    try:
        decode_image(magic + tail, "garbage")
    except InputError:
        pass


_ENCODED = {suffix: cv2.imencode(suffix, np.full((9, 11, 3), 7, np.uint8))[1].tobytes()
            for suffix in (".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm")}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_ENCODED)), st.integers(0, 200),
       st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=4))
def test_damaged_real_headers_never_raise(suffix, cut, flips):
    from edgematte.io.pixels import image_size

    data = bytearray(_ENCODED[suffix][: max(cut, 2)])
    for at, value in flips:
        if at < len(data):
            data[at] = value
    size = image_size(bytes(data))
    assert size is None or all(isinstance(v, int) and v > 0 for v in size)
