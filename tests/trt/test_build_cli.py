"""`edgematte build` wiring: argument parsing, exit codes, --check, and the missing-TensorRT message."""

from __future__ import annotations

import importlib.util

import pytest

from edgematte.cli.__main__ import SUBCOMMANDS, build_parser, main
from edgematte.errors import InputError

HAS_TRT = importlib.util.find_spec("tensorrt") is not None
RANGE = "src:1x3x8x8/1x3x16x16/1x3x32x32"


def test_build_is_a_subcommand():
    assert "build" in SUBCOMMANDS


def test_arguments_are_parsed():
    args = build_parser().parse_args(
        [
            "build",
            "m.onnx",
            "-o",
            "out",
            "--fp16",
            "--workspace",
            "512",
            "--shapes",
            RANGE,
            "--shapes",
            "rec:1x4x8x8",
            "--timing-cache",
            "t.cache",
        ]
    )
    assert (args.onnx, args.output, args.fp16, args.workspace, args.timing_cache) == (
        "m.onnx",
        "out",
        True,
        512,
        "t.cache",
    )
    assert dict(args.shapes) == {"src": ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32)), "rec": ((1, 4, 8, 8),) * 3}


def test_defaults():
    args = build_parser().parse_args(["build", "m.onnx"])  # output None: "engines", or the cache for RVM
    assert (args.output, args.fp16, args.workspace, args.shapes, args.timing_cache, args.check) == (
        None,
        False,
        None,
        None,
        None,
        False,
    )


@pytest.mark.parametrize(
    "argv", [["build"], ["build", "m.onnx", "--shapes", "src:1x3/1x3"], ["build", "m.onnx", "--workspace", "0"]]
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("edgematte build: error: ") and err.count("\n") == 1, err


def test_missing_onnx_exits_1_with_one_line(tmp_path, capsys):
    assert main(["build", str(tmp_path / "absent.onnx")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("edgematte build: error: received ONNX path") and "\n" not in err


def test_duplicate_shapes_exit_2(make_onnx, capsys):
    assert main(["build", str(make_onnx()), "--check", "--shapes", RANGE, "--shapes", RANGE]) == 2
    assert "one per input" in capsys.readouterr().err


@pytest.mark.skipif(HAS_TRT, reason="tensorrt is installed here, so its absence cannot be observed")
def test_without_tensorrt_the_error_names_the_trt_extra(make_onnx, tmp_path, capsys):
    assert main(["build", str(make_onnx()), "-o", str(tmp_path / "engines")]) == 1
    err = capsys.readouterr().err
    assert "edgematte build: error:" in err and "'tensorrt'" in err and "edgematte[trt]" in err
    assert not (tmp_path / "engines").exists()


def test_check_static_model(make_onnx, capsys):
    assert main(["build", str(make_onnx()), "--check"]) == 0
    out = capsys.readouterr().out
    assert "ready for TensorRT 8.5 (opset 17, FP32 graph)" in out and "src: min [1, 3, 16, 16]" in out


def test_check_dynamic_model_needs_shapes(make_onnx, capsys):
    model = str(make_onnx(shape=("n", 3, "h", "w")))
    assert main(["build", model, "--check"]) == 1
    assert "pass --shapes src:MIN/OPT/MAX" in capsys.readouterr().err
    assert main(["build", model, "--check", "--shapes", RANGE]) == 0
    assert "src: min [1, 3, 8, 8] opt [1, 3, 16, 16] max [1, 3, 32, 32]" in capsys.readouterr().out


def test_check_targets_a_tensorrt_version(make_onnx, capsys):
    model = str(make_onnx(opset=18))
    assert main(["build", model, "--check"]) == 1
    assert "opset 18 is above 17" in capsys.readouterr().err
    assert main(["build", model, "--check", "--for-trt", "10.3"]) == 0


def test_check_for_tensorrt_11_needs_fp16_onnx(make_onnx, capsys):
    assert main(["build", str(make_onnx("a.onnx")), "--check", "--fp16", "--for-trt", "11.4"]) == 1
    assert "export MODEL --fp16" in capsys.readouterr().err
    assert main(["build", str(make_onnx("b.onnx", fp16=True)), "--check", "--fp16", "--for-trt", "11.4"]) == 0


def test_rvm_builds_fp16_engines_and_only_rvm_takes_sizes(tmp_path, tiny_onnx, monkeypatch, capsys):
    """`edgematte build` of RVM's static export makes an FP16 engine (as `build rvm --size` does); frame sizes
    are for RVM's own graph only, and that graph needs them."""
    from rvm_graphs import counting_rvm

    from edgematte.export import to_trt

    built = []
    monkeypatch.setattr(to_trt, "build_engine", lambda onnx, out_dir, config, **kw: built.append((onnx, config.fp16)))
    static = counting_rvm(tmp_path / "rvm_static.onnx", static=(24, 32))
    to_trt.build_engines(static)
    to_trt.build_engines(tiny_onnx)
    assert built == [(static, True), (tiny_onnx, False)]
    with pytest.raises(InputError, match="without sizes"):
        to_trt.build_engines(counting_rvm(tmp_path / "rvm.onnx"))
    assert main(["build", str(tiny_onnx), "--size", "64x48"]) != 0
    assert "expected them only for RobustVideoMatting's own graph" in capsys.readouterr().err
