"""The background parser's files and objects: the API takes what the CLI takes, with the same message."""

import numpy as np
import pytest
from clips import write_clip

from edgematte.background import Backgrounds, VideoBackground, parse_background
from edgematte.cli.__main__ import main
from edgematte.errors import InputError

FRAME = np.zeros((48, 64, 3), np.uint8)
FRAME[..., 0] = 255  # blue: alpha ~0 for the tiny model, so the composite shows the background


def test_the_api_takes_names_paths_pil_images_and_videos(matter, tmp_path):
    import cv2
    from PIL import Image

    assert tuple(matter.replace_background(FRAME, "green")[0, 0]) == (64, 177, 0)
    cv2.imwrite(str(tmp_path / "bg.png"), np.full((10, 10, 3), (1, 2, 3), np.uint8))
    assert tuple(matter.replace_background(FRAME, str(tmp_path / "bg.png"))[0, 0]) == (1, 2, 3)
    assert tuple(matter.replace_background(FRAME, tmp_path / "bg.png")[0, 0]) == (1, 2, 3)
    pil = Image.fromarray(np.full((10, 10, 3), (30, 20, 10), np.uint8))  # RGB
    assert tuple(matter.replace_background(FRAME, pil)[0, 0]) == (10, 20, 30)


def test_a_video_background_advances_and_loops_through_the_api(matter, tmp_path):
    clip = write_clip(tmp_path / "bg.mp4", frames=3, audio=None)  # the disc moves: each frame differs
    blue = np.zeros((48, 64, 3), np.uint8)
    blue[..., 0] = 255  # alpha ~0 for the tiny model: the composite is the background
    shown = [matter.replace_background(blue, str(clip)).copy() for _ in range(4)]
    assert np.array_equal(shown[0], shown[3])  # looped after 3 frames
    assert not np.array_equal(shown[0], shown[1]) and not np.array_equal(shown[1], shown[2])
    assert isinstance(parse_background(str(clip)), VideoBackground)
    backgrounds = Backgrounds()
    assert [backgrounds(clip).shape for _ in range(4)] == [(48, 64, 3)] * 4


@pytest.mark.parametrize("colour", [(1.7, 2, 3), (True, 0, 0)], ids=repr)
def test_the_cli_and_the_api_refuse_the_same_values_each_in_its_words(matter, tmp_path, capsys, colour, tiny_onnx):
    import cv2

    with pytest.raises(InputError) as api:
        matter.replace_background(FRAME, colour)
    cv2.imwrite(str(tmp_path / "x.png"), FRAME)
    text = ",".join(str(c) for c in colour)
    argv = ["matte", str(tmp_path / "x.png"), "-o", str(tmp_path / "o.png"), "-b", text, "--model", str(tiny_onnx)]
    assert main(argv + ["--backend", "ort-cpu"]) == 2  # a usage error
    assert "expected None, 'blur', a colour name" in str(api.value)
    err = capsys.readouterr().err
    assert f"--background {text!r}" in err and "#rrggbb" in err and "R,G,B (3 whole numbers 0..255" in err
    assert "PIL" not in err and "uint8" not in err
