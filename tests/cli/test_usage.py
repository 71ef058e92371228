"""Usage errors: an option's value, or options together, wrong before any work starts, give one line
(``edgematte COMMAND: error: ...``) and exit 2, with nothing opened or written; failures while running
exit 1."""

from __future__ import annotations

import pytest

from edgematte.cli.__main__ import main

#: (arguments after the command, with {clip} and {tmp} filled in; what the one line must say)
VIDEO = [
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "nonsense"], "--background 'nonsense'"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--temporal", "1.5"], "argument --temporal: received '1.5'"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--temporal", "-0.1"], "expected a weight in [0, 1)"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--temporal", "nan"], "argument --temporal"),
    (["{clip}", "-o", "{clip}", "-b", "green"], "which is the input"),
    (["{clip}", "-o", "{tmp}/o.mp4"], "for a video with alpha"),
    (["{clip}", "-o", "{tmp}/o.avi"], "for a video with alpha"),
    (["{clip}", "-o", "{tmp}/o.gif", "-b", "green"], "expected a suffix among"),
    (["{clip}", "-o", "{tmp}/f_%04d.jpg"], "'.jpg' for an image with alpha"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--output-alpha", "{tmp}/pha.jpg"], "expected a suffix among"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--output-alpha", "{tmp}/o.mp4"], "twice"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--crf", "60"], "--crf 60 for H.264; expected 0..51"),
    (["{clip}", "-o", "{tmp}/o.webm", "--crf", "64"], "--crf 64; expected 0..51 (H.264) or 0..63 (VP9)"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--bitrate", "0"], "--bitrate 0; expected bits per second"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--bitrate", "fast"], "argument --bitrate: received 'fast'"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--preset", "fastest"], "x264 preset 'fastest'"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--encoder", "no_such"], "encoder 'no_such'"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--fps", "0"], "argument --fps: received '0'"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--threads", "-4"], "argument --threads: received '-4'"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--downsample-ratio", "2"], "expected a number in (0, 1]"),
    (["{clip}", "-o", "{tmp}/o.mp4", "-b", "green", "--crf", "18", "--bitrate", "4M"], "not allowed with"),
    (["{clip}", "-b", "green"], "the following arguments are required: -o/--output"),
]
WEBCAM = [
    (["--device", "{clip}", "--no-window", "-b", "nonsense"], "--background 'nonsense'"),
    (["--device", "{clip}", "--no-window", "--temporal", "1"], "argument --temporal: received '1'"),
    (["--device", "{clip}", "--no-window", "--max-frames", "0"], "argument --max-frames: received '0'"),
]
OTHERS = [
    (["bench", "--frames", "0"], "argument --frames: received '0'"),
    (["bench", "--warmup", "-1"], "argument --warmup: received '-1'"),
    (["bench", "-b", "300,0,0"], "--background '300,0,0'"),
    (["export", "u2netp", "-o", "{tmp}/m.onnx", "--onnx", "{tmp}/x.onnx"], "only for RobustVideoMatting rows"),
    (["export", "rvm", "-o", "{tmp}/m.onnx", "--height", "64"], "received --height 64 alone for 'rvm'; expected both"),
    (["export", "rvm", "-o", "{tmp}/m.onnx", "--downsample-ratio", "0"], "argument --downsample-ratio"),
    (["matte"], "the following arguments are required: IN, -o/--output"),
    (["nonsense"], "invalid choice: 'nonsense'"),
]


def _run(argv, clip, tmp_path, capsys):
    argv = [a.replace("{clip}", str(clip)).replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    return code, capsys.readouterr()


def _assert_usage(code, captured, command, message, tmp_path, clip):
    lines = captured.err.splitlines()
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith(f"edgematte {command}".rstrip() + ": error: "), lines
    assert message in lines[0], lines
    assert "Traceback" not in captured.err and captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [clip.name]  # nothing written


@pytest.mark.parametrize("argv, message", VIDEO)
def test_video_usage_errors_exit_2_with_one_line(clip, tmp_path, model_args, capsys, argv, message):
    code, captured = _run(["video"] + argv + model_args, clip, tmp_path, capsys)
    _assert_usage(code, captured, "video", message, tmp_path, clip)


@pytest.mark.parametrize("argv, message", WEBCAM)
def test_webcam_usage_errors_exit_2_with_one_line(clip, tmp_path, model_args, capsys, argv, message):
    code, captured = _run(["webcam"] + argv + model_args, clip, tmp_path, capsys)
    _assert_usage(code, captured, "webcam", message, tmp_path, clip)


@pytest.mark.parametrize("argv, message", OTHERS)
def test_other_usage_errors_exit_2_with_one_line(clip, tmp_path, capsys, argv, message):
    code, captured = _run(argv, clip, tmp_path, capsys)
    command = argv[0] if argv[0] in ("bench", "export", "matte") else ""
    _assert_usage(code, captured, command, message, tmp_path, clip)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["video", "{tmp}/none.mp4", "-o", "{tmp}/o.mp4", "-b", "green"], "does not exist"),
        (["webcam", "--device", "57", "--no-window"], "camera 57 could not be opened"),
    ],
)
def test_failures_while_running_still_exit_1(clip, tmp_path, model_args, capsys, argv, message):
    code, captured = _run(argv + model_args, clip, tmp_path, capsys)
    assert code == 1 and message in captured.err and len(captured.err.splitlines()) == 1, captured.err
