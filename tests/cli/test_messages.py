"""Command-line messages: global options anywhere, progress without a terminal, hints in CLI syntax."""

import logging

import pytest

from edgematte.cli.__main__ import cli_syntax, main


@pytest.mark.parametrize("where", ["before", "after", "end"])
def test_debug_and_quiet_are_accepted_anywhere(clip, tmp_path, model_args, capsys, where):
    out = str(tmp_path / "o.mp4")
    command = ["video", str(clip), "-o", out, "-b", "red"]
    flags = ["--debug", "--quiet"]
    argv = {"before": flags + command, "after": command[:1] + flags + command[1:], "end": command + flags}[where]
    assert main(argv + model_args) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "frames" not in captured.err  # quiet: no summary, no progress
    assert logging.getLogger("edgematte").level == logging.DEBUG  # debug wins for the log level


def test_debug_after_the_command_shows_the_traceback(tmp_path, model_args):
    with pytest.raises(Exception, match="does not exist"):
        main(["video", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o.mp4"), "-b", "red", "--debug"] + model_args)


def test_no_progress_bar_without_a_terminal_but_status_lines(make_clip, tmp_path, model_args, capsys, monkeypatch):
    monkeypatch.setattr("edgematte.cli._common.STATUS_EVERY_S", 0.0)
    clip = make_clip(tmp_path / "c.mp4", frames=4)
    assert main(["video", str(clip), "-o", str(tmp_path / "o.mp4"), "-b", "red"] + model_args) == 0
    err = capsys.readouterr().err  # pytest's stderr is no terminal
    assert "\r" not in err and "it/s" not in err and "frame/s" not in err  # no tqdm
    assert [line.split(" ")[0] for line in err.splitlines() if "frames/s" in line] == ["1/4", "2/4", "3/4", "4/4"]


def test_python_hints_are_written_as_options():
    assert cli_syntax("run it (with task='matting')") == "run it (with --task matting)"
    assert cli_syntax("expected input_size=(h, w)") == "expected --input-size WxH"
    assert cli_syntax("backend='ort-cpu' is quiet") == "--backend ort-cpu is quiet"


def test_the_export_hint_uses_cli_syntax(tmp_path, capsys, monkeypatch):
    from edgematte.models import MODELS

    needs_export = [name for name, spec in MODELS.items() if getattr(spec, "task", None) == "matting"]
    if not needs_export:
        pytest.skip("no model row needs an export here")
    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGEMATTE_WEIGHTS", str(tmp_path / "weights"))
    photo = tmp_path / "p.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(photo), np.zeros((8, 8, 3), np.uint8))
    code = main(
        ["matte", str(photo), "-o", str(tmp_path / "o.png"), "--model", needs_export[0], "--backend", "ort-cpu"]
    )
    err = capsys.readouterr().err
    assert code == 1 and "task=" not in err, err


def test_dynamic_model_hint_names_the_option(tmp_path, tiny_onnx, capsys):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((8, 8, 3), np.uint8))
    dynamic = tiny_onnx.parent / "tiny_seg_dynamic.onnx"
    argv = [
        "matte",
        str(tmp_path / "p.png"),
        "-o",
        str(tmp_path / "o.png"),
        "--model",
        str(dynamic),
        "--backend",
        "ort-cpu",
    ]
    assert main(argv) == 1
    assert "--input-size WxH" in capsys.readouterr().err


def test_auto_without_tensorrt_installed_prints_nothing_about_it(tmp_path, tiny_onnx):
    """README's first command on a CPU-only machine: the one line it wrote, nothing about TensorRT."""
    import os
    import subprocess
    from pathlib import Path

    from fresh_python import fresh_python

    from edgematte.runtime import tensorrt_installed

    if tensorrt_installed():
        pytest.skip("TensorRT is installed here (or this is a Jetson): its fallback warns")
    photo = Path(__file__).resolve().parents[2] / "docs" / "astronaut.jpg"
    env = {k: v for k, v in os.environ.items() if k != "EDGEMATTE_BACKEND"}
    argv, kwargs = fresh_python(
        ["-m", "edgematte.cli", "matte", str(photo), "-o", "x.png", "--model", str(tiny_onnx)],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )
    out = subprocess.run(argv, **kwargs, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (out.stdout, out.stderr) == ("wrote x.png\n", "")
