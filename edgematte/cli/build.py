"""``edgematte build ONNX -o engines/``: build (or reuse) a TensorRT engine on this GPU.

RobustVideoMatting's own graph (``edgematte build rvm --size 1280x720 --size 1920x1080``) becomes one FP16
engine per frame size, from its static export, in the user cache's engines where ``Matter(rvm,
backend="tensorrt")`` finds them (:func:`edgematte.export.rvm.build_rvm_engines`); a static export itself
(``edgematte export rvm``) builds like any model. ``--check`` runs only the ONNX prerequisites for a target
TensorRT version. It needs no TensorRT, so it works on the host before a model is copied to a Jetson.
"""

from __future__ import annotations

import argparse
from typing import Tuple

from ..errors import InputError
from ._common import UsageError, parse_size

HELP = "build a TensorRT engine from an ONNX model (FP16 with --fp16)"
DESCRIPTION = (
    "Build a TensorRT engine on this GPU, or reuse the cached one, under DIR/MODEL/KEY.plan with a JSON manifest. "
    "RobustVideoMatting's own graph (e.g. `edgematte build rvm --size 1280x720`) gets one FP16 engine per --size, "
    "from its static export, where Matter finds them. "
    "--check runs only the ONNX prerequisites for a target TensorRT version and needs no TensorRT."
)


def _shape_range(text: str) -> Tuple[str, tuple]:
    from ..export.profiles import parse_shape_range

    try:
        return parse_shape_range(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"received {text!r}; expected a positive number of MiB")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("build", help=HELP, description=DESCRIPTION)
    p.add_argument("onnx", metavar="ONNX", help="ONNX model (from `edgematte export`), or a model-table name")
    p.add_argument("-o", "--output", default=None, metavar="DIR",
                   help="engine cache folder (default: engines; RobustVideoMatting: the user cache's, where Matter looks)")
    p.add_argument("--size", type=parse_size, action="append", metavar="WxH",
                   help="RobustVideoMatting: a frame size to build an engine for (repeatable), e.g. 1280x720")
    p.add_argument("--downsample-ratio", type=float, default=None, metavar="R",
                   help="RobustVideoMatting: the ratio folded into its engines (default: automatic per size)")
    p.add_argument(
        "--fp16", action="store_true", help="FP16 engine (TensorRT 11: build from the FP16 ONNX of `export --fp16`)"
    )
    p.add_argument(
        "--workspace", type=_positive, metavar="MB", help="builder workspace limit in MiB (default: TensorRT's)"
    )
    p.add_argument(
        "--shapes",
        type=_shape_range,
        action="append",
        metavar="NAME:MIN/OPT/MAX",
        help="shape range of a dynamic input, dims joined by x, repeated per input, "
        "e.g. src:1x3x288x512/1x3x512x512/1x3x1088x1920",
    )
    p.add_argument(
        "--timing-cache", metavar="PATH", help="timing cache file to reuse and update (default: DIR/timing/...)"
    )
    p.add_argument("--name", metavar="MODEL", help="model name for DIR/MODEL/ (default: the ONNX file name)")
    p.add_argument("--force", action="store_true", help="rebuild even if a matching engine is cached")
    p.add_argument(
        "--check", action="store_true", help="only check the ONNX for TensorRT (no TensorRT needed) and exit"
    )
    p.add_argument(
        "--for-trt", default="8.5", metavar="VERSION", help="TensorRT version --check targets (default 8.5, JetPack 5)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    shapes = dict(args.shapes or [])
    if len(shapes) != len(args.shapes or []):
        raise UsageError("received two --shapes for one input; expected one per input")
    args.onnx = _model_file(args.onnx)
    if args.check:
        return _check(args, shapes)

    from ..export.to_trt import EngineConfig, build_engines
    from ..runtime.engine_cache import read_manifest

    config = EngineConfig(fp16=args.fp16, workspace_mb=args.workspace, shapes=shapes, timing_cache=args.timing_cache)
    plans = build_engines(args.onnx, args.output, config, sizes=[(h, w) for w, h in args.size or []],
                          downsample_ratio=args.downsample_ratio, model=args.name, force=args.force)
    for plan in plans:
        manifest = read_manifest(plan)
        print(plan)
        print(f"  {manifest.precision} ({manifest.typing} typing) for {manifest.target.describe()}")
        for label, specs in (("in ", manifest.inputs), ("out", manifest.outputs)):
            for spec in specs:
                print(f"  {label} {spec.name} {list(spec.shape)} {spec.dtype}")
    return 0


def _model_file(name: str) -> str:
    """An ONNX path as given, or the file of a model-table row (``rvm``)."""
    from pathlib import Path

    from ..models import MODELS

    if Path(name).exists() or name not in MODELS:
        return name
    from ..export.to_onnx import onnx_for

    return str(onnx_for(name))


def _check(args: argparse.Namespace, shapes: dict) -> int:
    from ..export.onnx_prereq import check_onnx_for_trt, strongly_typed

    report = check_onnx_for_trt(
        args.onnx, trt_version=args.for_trt, shapes=shapes, fp16=args.fp16, strongly_typed=strongly_typed(args.for_trt)
    )
    print(
        f"{report.path}: ready for TensorRT {args.for_trt} "
        f"(opset {report.opset}, {'FP16' if report.fp16_graph else 'FP32'} graph)"
    )
    for name, (lo, opt, hi) in report.profiles.items():
        print(f"  {name}: min {list(lo)} opt {list(opt)} max {list(hi)}")
    for warning in report.warnings:
        print(f"  warning: {warning}")
    return 0
