"""``edgematte export MODEL --checkpoint PATH --output OUT.onnx [--height H --width W | --dynamic] [--fp16]``."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..models import MODELS


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
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
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
