"""``edgematte export MODEL --checkpoint PATH --output OUT.onnx [--height H --width W | --dynamic] [--fp16]``.

``edgematte export rvm --onnx IN -o OUT --height H --width W [--downsample-ratio R] [--fp16]``:
a RobustVideoMatting graph made static for TensorRT (see :mod:`edgematte.export.rvm`).

``edgematte export selfie|rvm --int8 -o OUT --calibration CLIPS``: the CPU network in INT8, calibrated
on real video (see :mod:`edgematte.export.int8`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..models import MODELS
from ._common import RATIO, UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a model to ONNX, checked against PyTorch",
        description="Export a model of the table to ONNX (opset 17, input 'src' RGB 0..1 NCHW, output 'alpha'), "
        "simplify it with onnxslim and check ONNX Runtime against PyTorch (max abs diff <= --atol).",
    )
    parser.add_argument("model", help=f"table name: {', '.join(sorted(MODELS)) or '(none registered)'}")
    parser.add_argument("--checkpoint", type=Path, help="weights file (official layout); default: EDGEMATTE_WEIGHTS/cache")
    parser.add_argument("--output", "-o", type=Path, required=True, help="ONNX file to write")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--dynamic", action="store_true", help="symbolic height and width")
    size.add_argument("--height", type=int, help="input height (with --width; MODNet: multiple of 32)")
    parser.add_argument("--width", type=int, help="input width (with --height)")
    parser.add_argument("--fp16", action="store_true", help="FP16 graph with float32 input/output; prints the drift")
    parser.add_argument(
        "--parity-image", action="append", default=[], type=Path, metavar="IMAGE",
        help="also check parity on this image (repeatable)",
    )
    parser.add_argument("--atol", type=float, default=1e-4, help="max abs diff allowed between ORT and PyTorch")
    parser.add_argument(
        "--int8", action="store_true", help="selfie and RVM rows: the network in INT8 for the CPU (QDQ, static), "
        "calibrated on --calibration; prints its alpha difference and speed against FP32 on this CPU"
    )
    parser.add_argument("--calibration", action="append", default=[], type=Path, metavar="VIDEO_OR_FOLDER",
                        help="with --int8: videos (or folders of them) of the scenes it will see (repeatable)")
    rvm = parser.add_argument_group("RobustVideoMatting (model rvm, rvm-resnet50)")
    rvm.add_argument("--onnx", type=Path, help="the RVM .onnx to make static (default: the table row's file)")
    rvm.add_argument("--downsample-ratio", type=RATIO, help="ratio folded into the graph (default: automatic)")
    rvm.add_argument(
        "--parity-clip", type=Path, metavar="VIDEO", help="video the static graph is checked on, states carried "
        "(default: synthetic frames)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.int8 or args.calibration:
        return _run_int8(args)
    if args.model in MODELS and MODELS[args.model].architecture == "rvm":
        return _run_rvm(args)
    if args.onnx is not None or args.downsample_ratio is not None or args.parity_clip is not None:
        raise UsageError(
            f"received --onnx/--downsample-ratio/--parity-clip for model {args.model!r}; expected them only for "
            "RobustVideoMatting rows (rvm, rvm-resnet50)"
        )
    from ..export import to_onnx

    report = to_onnx(
        args.model,
        args.output,
        checkpoint=args.checkpoint,
        height=args.height,
        width=args.width,
        dynamic=args.dynamic,
        fp16=args.fp16,
        parity_images=args.parity_image,
        atol=args.atol,
    )
    for line in report.lines():
        print(line)
    return 0


def _run_rvm(args: argparse.Namespace) -> int:
    from ..export.rvm import export_rvm
    from ..export.to_onnx import onnx_for

    if args.height is None or args.width is None:
        given = [f"--{n} {v}" for n, v in (("height", args.height), ("width", args.width)) if v is not None]
        raise UsageError(f"received {given[0] + ' alone' if given else 'no --height and --width'} for "
                         f"{args.model!r}; expected both")
    report = export_rvm(
        args.onnx if args.onnx is not None else onnx_for(args.model),
        args.output,
        height=args.height,
        width=args.width,
        downsample_ratio=args.downsample_ratio,
        fp16=args.fp16,
        clip=args.parity_clip,
        atol=args.atol,
    )
    for line in report.lines():
        print(line)
    return 0


def _run_int8(args: argparse.Namespace) -> int:
    from ..export.int8 import quantize_rvm, quantize_selfie
    from ..export.to_onnx import onnx_for
    from ..models.selfie import SELFIE_ARCHITECTURE

    architecture = MODELS[args.model].architecture if args.model in MODELS else None
    others = [flag for flag, value in (("--height", args.height), ("--width", args.width), ("--dynamic", args.dynamic),
                                       ("--fp16", args.fp16), ("--checkpoint", args.checkpoint),
                                       ("--downsample-ratio", args.downsample_ratio)) if value]
    if not args.int8 or not args.calibration or others or architecture not in ("rvm", SELFIE_ARCHITECTURE):
        raise UsageError(
            f"received model {args.model!r} with --int8={args.int8}, {len(args.calibration)} --calibration path(s)"
            f"{' and ' + ', '.join(others) if others else ''}; expected a selfie or rvm row with --int8 and at least "
            "one --calibration video or folder, and none of --height/--width/--dynamic/--fp16/--checkpoint/"
            "--downsample-ratio"
        )
    if architecture == "rvm":
        report = quantize_rvm(args.onnx if args.onnx is not None else onnx_for(args.model), args.output,
                              args.calibration)
    else:
        report = quantize_selfie(args.onnx if args.onnx is not None else onnx_for(args.model), args.output,
                                 args.calibration)
    for line in report.lines():
        print(line)
    return 0
