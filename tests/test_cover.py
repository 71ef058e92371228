"""The cover resize of image backgrounds: O(frame) memory for any background shape (issue 19, defect 2).

A 1x2000 background behind a 1280x720 frame made a 1,440,000x720 resize (3.2 GB, 12 s) before
cropping; a 254-byte 1x60000 PNG as --background asked for 210 GB.
"""

from __future__ import annotations

import numpy as np
import pytest

import edgematte
from edgematte.background import cover as _cover

cv2 = pytest.importorskip("cv2")
_resize = cv2.resize  # the twin's, never the spy's


def cover_twin(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """The obviously correct slow twin: resize the whole image to cover (h, w), then crop the centre."""
    ih, iw = image.shape[:2]
    scale = max(h / ih, w / iw)
    rh, rw = max(h, round(ih * scale)), max(w, round(iw * scale))
    resized = _resize(image, (rw, rh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    y, x = (rh - h) // 2, (rw - w) // 2
    return resized[y : y + h, x : x + w]


@pytest.fixture
def resize_spy(monkeypatch):
    """Records the pixels of every cv2.resize output; refuses (before allocating) any above 8 frames of 720p."""
    sizes = []

    def resize(src, dsize, *args, **kwargs):
        pixels = int(dsize[0]) * int(dsize[1])
        sizes.append(pixels)
        if pixels > 8 * 1280 * 720:
            raise AssertionError(f"cv2.resize to {dsize}: {pixels * 3 / 1e9:.1f} GB for one background")
        return _resize(src, dsize, *args, **kwargs)

    monkeypatch.setattr(cv2, "resize", resize)
    return sizes


ORDINARY = [(1080, 1920), (3000, 4000), (1200, 1600), (720, 1280), (1000, 1000), (10, 10), (5, 7), (1920, 1080),
            (333, 500), (4032, 3024), (2, 2)]  # aspect within 4x of the frame's


@pytest.mark.parametrize("frame", [(720, 1280), (480, 640), (48, 64), (1280, 720)], ids=str)
@pytest.mark.parametrize("background", ORDINARY, ids=str)
def test_ordinary_backgrounds_are_the_whole_resize_bit_for_bit(frame, background):
    rng = np.random.default_rng(sum(frame) + sum(background))
    image = rng.integers(0, 256, background + (3,), dtype=np.uint8)
    out = np.empty(frame + (3,), np.uint8)
    _cover(image, out)
    np.testing.assert_array_equal(out, cover_twin(image, *frame))


def _smooth(h: int, w: int) -> np.ndarray:
    """A smooth image (gradients), so that a sub-pixel shift changes it by little."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(1, w - 1), yy * 255 // max(1, h - 1), (xx + yy) * 255 // max(1, h + w - 2)],
                    axis=2).astype(np.uint8)


@pytest.mark.parametrize(
    "frame, background",
    [((48, 64), (3, 900)), ((48, 64), (900, 3)), ((48, 64), (7, 3001)), ((64, 48), (1, 2000)), ((48, 64), (40, 9000)),
     ((48, 64), (2000, 90)), ((720, 1280), (60, 4000))],
    ids=str,
)
def test_strips_resize_only_what_covers_the_frame(frame, background, resize_spy):
    image = _smooth(*background)
    out = np.empty(frame + (3,), np.uint8)
    _cover(image, out)
    assert max(resize_spy) <= 8 * max(frame) * max(frame)  # O(frame): the whole resize is never made
    twin = cover_twin(image, *frame)  # affordable at these sizes
    step = 255 / min(background)  # the most a half-pixel shift can change a gradient here
    assert np.abs(out.astype(int) - twin).max() <= step + 1


def test_a_1x2000_background_behind_720p(resize_spy, tiny_onnx):
    image = np.zeros((1, 2000, 3), np.uint8)
    image[:, 1000:] = (0, 255, 0)  # right half green: the centre column is the first green one
    out = np.empty((720, 1280, 3), np.uint8)
    _cover(image, out)
    assert max(resize_spy) <= 8 * 1280 * 720
    assert tuple(out[360, 0]) == (0, 0, 0) and tuple(out[360, -1]) == (0, 255, 0)
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[..., 0] = 255  # blue: alpha ~0 for the tiny model, so the composite is the background
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as matter:
        composite = matter.replace_background(frame, image)
    assert tuple(composite[0, -1]) == (0, 255, 0)


def test_a_1x60000_png_as_cli_background(resize_spy, tmp_path, tiny_onnx):
    from edgematte.cli.__main__ import main

    strip = np.zeros((1, 60000, 3), np.uint8)
    assert cv2.imwrite(str(tmp_path / "strip.png"), strip)
    assert (tmp_path / "strip.png").stat().st_size < 2000
    cv2.imwrite(str(tmp_path / "in.png"), np.full((48, 64, 3), (255, 0, 0), np.uint8))
    argv = ["matte", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--background",
            str(tmp_path / "strip.png"), "--model", str(tiny_onnx), "--backend", "ort-cpu", "--quiet"]
    assert main(argv) == 0
    assert cv2.imread(str(tmp_path / "out.png")).shape == (48, 64, 3)
    assert max(resize_spy) <= 8 * 1280 * 720
