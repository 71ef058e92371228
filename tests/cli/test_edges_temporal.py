"""--temporal (video, webcam) and the edge controls --edge-shift, --feather, --threshold (video, webcam, matte)."""

import cv2
import numpy as np
import pytest
from clips import decode_frames

import edgematte
from edgematte.cli.__main__ import main
from edgematte.temporal import STRENGTH


def _photo(path):
    frame = np.empty((120, 160, 3), np.uint8)
    frame[...] = (255, 0, 0)
    cv2.circle(frame, (80, 60), 35, (0, 0, 255), -1)
    cv2.imwrite(str(path), frame)
    return frame


def _alphas(tiny_onnx, clip, **kwargs):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast", **kwargs) as m:
        return [m.process(frame).alpha.copy() for frame in decode_frames(clip)]


@pytest.mark.parametrize("flags, kwargs", [([], {}), (["--temporal", "0"], {"temporal": 0}),
                                           (["--temporal", "0.5"], {"temporal": 0.5})])
def test_video_temporal_is_the_api_default_and_0_turns_it_off(clip, tmp_path, model_args, tiny_onnx, flags, kwargs):
    out = tmp_path / "alpha"
    assert main(["video", str(clip), "-o", f"{out}/%03d.png", "--matte-only"] + flags + model_args) == 0
    written = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(out.glob("*.png"))]
    expected = _alphas(tiny_onnx, clip, **kwargs)
    assert len(written) == len(expected)
    for got, want in zip(written, expected):
        np.testing.assert_array_equal(got if got.ndim == 2 else got[..., 3], want)


def test_the_cli_default_strength_is_the_api_default():
    from edgematte.cli.__main__ import build_parser

    for command in (["video", "in.mp4", "-o", "out.mp4"], ["webcam"]):
        args = build_parser().parse_args(command)
        assert args.temporal == STRENGTH and (args.edge_shift, args.feather, args.threshold) == (0, 0, None)
    assert not hasattr(build_parser().parse_args(["matte", "a.png", "-o", "b.png"]), "temporal")  # photos: never


@pytest.mark.parametrize("command", ["video", "webcam", "matte"])
@pytest.mark.parametrize("flag, value, expected", [
    ("--edge-shift", "300", "expected an int in [-256, 256]"),
    ("--edge-shift", "1.5", "expected an int in [-256, 256] (pixels)"),
    ("--feather", "-1", "expected an int in [0, 256]"),
    ("--threshold", "0", "expected a number in (0, 1]"),
    ("--threshold", "1.5", "expected a number in (0, 1]"),
    ("--threshold", "half", "expected a number in (0, 1]"),
])
def test_edge_settings_out_of_bounds_are_usage_errors(command, flag, value, expected, capsys):
    args = {"video": ["video", "in.mp4", "-o", "out.mp4"], "webcam": ["webcam"],
            "matte": ["matte", "a.png", "-o", "b.png"]}
    with pytest.raises(SystemExit) as exc:
        main(args[command] + [flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"received {value!r}; {expected}" in err


@pytest.mark.parametrize("value", ["1", "1.0", "-0.1", "nan", "x"])
def test_temporal_out_of_bounds_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["video", "in.mp4", "-o", "out.mp4", "--temporal", value])
    assert exc.value.code == 2
    assert f"received {value!r}; expected a weight in [0, 1) (0: off)" in capsys.readouterr().err


def test_matte_edge_controls_match_the_api(tmp_path, model_args, tiny_onnx):
    image = _photo(tmp_path / "p.png")
    out = tmp_path / "cut.png"
    flags = ["--edge-shift", "-3", "--feather", "2", "--threshold", "0.5"]
    assert main(["matte", str(tmp_path / "p.png"), "-o", str(out)] + flags + model_args) == 0
    alpha = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., 3]
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", edge_shift=-3, feather=2, threshold=0.5) as m:
        np.testing.assert_array_equal(alpha, m.process(image).alpha)
    assert set(np.unique(alpha)) <= {0, 255}
    with edgematte.Matter(tiny_onnx, backend="ort-cpu") as m:
        assert (alpha == 255).sum() < (m.process(image).alpha >= 128).sum()  # shrunk
