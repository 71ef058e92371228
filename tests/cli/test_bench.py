import pytest

from edgematte.cli.__main__ import main


def test_bench_reports_stages_and_fps(model_args, capsys):
    argv = ["bench", "--size", "320x240", "--frames", "5", "--warmup", "1"] + model_args
    assert main(argv) == 0
    out = capsys.readouterr().out
    for stage in ("preprocess", "model", "refine", "frame"):  # "fast": refine is one fused pass, composite included
        assert stage in out
    assert "FPS" in out and "outside the model" in out


def test_bench_on_a_photo(tmp_path, model_args, capsys):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "p.png"), np.full((30, 40, 3), 90, np.uint8))
    argv = ["bench", "--image", str(tmp_path / "p.png"), "--frames", "2", "--warmup", "0", "-b", "blur"] + model_args
    assert main(argv) == 0
    assert "1280x720" in capsys.readouterr().out


def test_bench_summary_numbers():
    from edgematte.cli.bench import summarize

    summary = summarize({"frame": [10.0, 10.0, 30.0], "model": [7.0, 7.0, 9.0]})
    assert summary["fps"] == pytest.approx(100.0)
    assert summary["non_model_share"] == pytest.approx(0.3)


@pytest.mark.parametrize("size", ["1280", "0x720", "axb"])
def test_bad_size_is_a_usage_error(size):
    with pytest.raises(SystemExit) as info:
        main(["bench", "--size", size])
    assert info.value.code == 2
