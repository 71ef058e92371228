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


@pytest.mark.parametrize("model", ["tiny", "default"])
def test_auto_without_tensorrt_installed_prints_nothing_about_it(tmp_path, tiny_onnx, request, model):
    """README's first command on a CPU-only machine: the one line it wrote, nothing about TensorRT."""
    from pathlib import Path

    from edgematte.runtime import tensorrt_installed

    if tensorrt_installed():
        pytest.skip("TensorRT is installed here (or this is a Jetson): its fallback warns")
    photo = Path(__file__).resolve().parents[2] / "docs" / "astronaut.jpg"
    args = ["matte", photo, "-o", "x.png"]
    if model == "tiny":
        args += ["--model", tiny_onnx]
    else:
        request.getfixturevalue("selfie_env")  # the default model from ../shared, offline
    assert _cli(args, tmp_path) == (0, "wrote x.png\n", "")


def _cli(args, tmp_path, env=None, code=None):
    """(returncode, stdout, stderr) of the edgematte command in a fresh interpreter (``code``: Python run first)."""
    import os
    import subprocess

    from fresh_python import fresh_python

    env = dict(env or os.environ)
    env.pop("EDGEMATTE_BACKEND", None)
    head = ["-m", "edgematte.cli"] if code is None else ["-c", code + "\nfrom edgematte.cli.__main__ import main\n"
                                                           "import sys; sys.exit(main(sys.argv[1:]))"]
    argv, kwargs = fresh_python(head + [str(a) for a in args], cwd=tmp_path, capture_output=True, text=True, env=env)
    out = subprocess.run(argv, **kwargs, timeout=300)
    return out.returncode, out.stdout, out.stderr


def test_warnings_reach_the_terminal_as_one_edgematte_line(tmp_path, tiny_onnx):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "deep.png"), np.full((24, 32, 3), 40000, np.uint16))
    args = ["matte", "deep.png", "-o", "o.png", "--model", tiny_onnx, "--backend", "ort-cpu"]
    code, out, err = _cli(args, tmp_path)
    assert code == 0 and out == "wrote o.png\n"
    assert err.splitlines() == ["edgematte matte: warning: frame is 16-bit; converting it to 8-bit (value / 257)"]
    code, out, err = _cli(args + ["--debug"], tmp_path)
    warning = [line for line in err.splitlines() if "16-bit" in line]
    assert len(warning) == 1 and "(UserWarning at " in warning[0], err
    assert "return self." not in err  # never the source line


def test_opencv_and_ffmpeg_log_lines_are_silenced_unless_debug(tmp_path, tiny_onnx):
    for device in ("57", "/dev/video57"):
        code, out, err = _cli(["webcam", "--device", device, "--no-window", "--model", tiny_onnx], tmp_path)
        assert code == 1 and len(err.splitlines()) == 1, err
        assert err.startswith(f"edgematte webcam: error: camera {device} could not be opened")


def test_export_rvm_fp16_prints_its_report_and_no_library_logs(tmp_path):
    from rvm_graphs import counting_rvm

    counting_rvm(tmp_path / "counting.onnx")
    noisy = (
        "import importlib, logging\n"
        "to_onnx = importlib.import_module('edgematte.export.to_onnx')\n"
        "real = to_onnx.make_fp16\n"
        "def make_fp16(*args, **kwargs):\n"
        "    for i in range(150):\n"
        "        logging.getLogger('onnxruntime.transformers.float16').info('node %d kept in float32', i)\n"
        "    logging.getLogger('onnx').warning('a library warning')\n"
        "    return real(*args, **kwargs)\n"
        "to_onnx.make_fp16 = make_fp16"
    )
    args = ["export", "rvm", "--onnx", "counting.onnx", "-o", "s.onnx", "--height", "32", "--width", "32", "--fp16"]
    code, out, err = _cli(args, tmp_path, code=noisy)
    assert code == 0 and err == "", err
    lines = out.splitlines()
    assert len(lines) == 4 and lines[-1].startswith("wrote s_fp16.onnx (FP16, float32 I/O): pha drift"), out
    code, out, err = _cli(args + ["--debug"], tmp_path, code=noisy)
    assert code == 0 and err.count("kept in float32") == 150 and "a library warning" in err


@pytest.mark.parametrize("command", ["matte", "video"])
def test_help_shows_percent_d_as_typed(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "%d" in out and "%%" not in out


def test_webcam_help_names_device_paths(capsys):
    with pytest.raises(SystemExit):
        main(["webcam", "--help"])
    assert "/dev/video" in capsys.readouterr().out


def test_readme_gives_one_size_for_the_mediapipe_wheel():
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    sizes = {m for line in readme.splitlines() if "wheel" in line.lower() or ".whl" in line
             for m in re.findall(r"(\d+(?:\.\d+)?) MB", line)}
    assert sizes == {"35.7"}  # 35,664,771 bytes (34.0 MiB)
