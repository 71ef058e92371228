"""RobustVideoMatting's smallest internal frame (issue 19, defect 10): a downsample_ratio that shrinks a frame
below the network's minimum (64 px on the shorter side, measured by bench/rvm_minimum.py) is refused, naming
it, instead of an all-zero (1e-9) or faint (0.01) alpha without a word."""

from __future__ import annotations

import numpy as np
import pytest

import edgematte
from edgematte.cli.__main__ import main
from edgematte.errors import InputError

MINIMUM = r"expected at least 64 px on its shorter side, the network's minimum"


FRAME = np.full((720, 1280, 3), 90, np.uint8)


@pytest.mark.parametrize("ratio", [1e-9, 0.01, 0.088])
def test_the_real_graph_refuses_ratios_below_its_minimum(rvm_onnx, ratio):
    with edgematte.Matter(rvm_onnx, backend="ort-cpu", downsample_ratio=ratio) as matter:
        with pytest.raises(InputError, match=f"shrinks a 1280x720 frame to .*{MINIMUM}: a ratio of 0.089 or more"):
            matter.process(FRAME)


def test_the_smallest_ratio_it_names_runs(counting):
    with edgematte.Matter(counting, backend="ort-cpu", downsample_ratio=0.089) as matter:
        assert matter.process(FRAME).alpha.shape == (720, 1280)


def test_the_cli_names_the_minimum(counting, tmp_path, capsys):
    from clips import write_clip

    clip = write_clip(tmp_path / "clip.mp4", frames=2, size=(320, 240), audio=None)
    argv = ["video", str(clip), "-o", str(tmp_path / "o.webm"), "--model", str(counting), "--backend", "ort-cpu",
            "--downsample-ratio", "0.01", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "64 px" in err and "network's minimum" in err and "0.267 or more" in err


@pytest.mark.parametrize(
    "h, w, ratio, ok",
    [(720, 1280, 64 / 720, True), (720, 1280, 0.0888, False), (64, 64, 1.0, True), (64, 64, 0.99, False),
     (24, 32, 0.5, True), (63, 4000, 0.01, True), (2160, 3840, 1 / 12, True), (2160, 3840, 0.029, False)],
)
def test_the_rule(h, w, ratio, ok):
    """Frames whose shorter side is under the minimum already are the caller's to judge."""
    from edgematte.models.rvm import check_internal_size

    if ok:
        check_internal_size(h, w, ratio)
    else:
        with pytest.raises(InputError, match=MINIMUM):
            check_internal_size(h, w, ratio)


@pytest.mark.parametrize("h, w", [(480, 640), (720, 1280), (100, 4000), (64, 5000), (4000, 70), (30, 9000)])
def test_the_automatic_ratio_keeps_the_minimum(h, w):
    from edgematte.models.rvm import MIN_INTERNAL_SIDE, auto_downsample_ratio, check_internal_size, internal_size

    ratio = auto_downsample_ratio(h, w)
    check_internal_size(h, w, ratio)
    assert min(internal_size(h, w, ratio)) >= min(MIN_INTERNAL_SIDE, h, w)
