"""Options and helpers the matting subcommands share."""

from __future__ import annotations

import argparse
from typing import Any, Optional, Tuple

from ..background import parse_background

__all__ = ["add_model_arguments", "add_background_argument", "parse_background", "open_matter", "parse_size"]

def add_model_arguments(parser: argparse.ArgumentParser, *, refine: str = "fast") -> None:
    from ..matter import DEFAULT_MODEL
    from ..pipeline import REFINE_MODES

    group = parser.add_argument_group("model")
    group.add_argument("--model", default=DEFAULT_MODEL, help="model-table name, .onnx file or engine (default: %(default)s)")
    group.add_argument(
        "--backend", default="auto", choices=("auto", "ort-cpu", "tensorrt"), help="runtime (default: %(default)s)"
    )
    group.add_argument(
        "--refine",
        choices=REFINE_MODES,
        default=refine,
        help="unknown-band refinement: off, fast (real time) or full (best edges) (default: %(default)s)",
    )
    group.add_argument("--threads", type=int, default=None, help="CPU threads (default: the CPUs this process may use)")
    group.add_argument(
        "--task",
        choices=("segmentation", "matting"),
        default=None,
        help="what an .onnx/engine file outputs (default: the table's for names, else segmentation)",
    )
    group.add_argument(
        "--input-size", type=parse_size, default=None, metavar="WxH", help="model input size, for dynamic-shape files"
    )
    group.add_argument(
        "--downsample-ratio", type=float, default=None, metavar="R",
        help="RobustVideoMatting only: internal scale in (0, 1] (default: automatic, longer side ~320 px)",
    )


def add_background_argument(parser: argparse.ArgumentParser, default: Optional[str] = None, what: str = "") -> None:
    parser.add_argument(
        "--background",
        "-b",
        default=default,
        metavar="IMG|COLOR|blur",
        help="an image file, a colour (name, #RRGGBB or R,G,B) or 'blur'" + what,
    )


def parse_size(text: str) -> Tuple[int, int]:
    """"1280x720" -> (1280, 720), for argparse ``type=``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"received {text!r}; expected WIDTHxHEIGHT such as 1280x720") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"received {text!r}; expected a positive width and height")
    return width, height


def open_matter(args: argparse.Namespace, *, temporal: Any = None):
    """A Matter from the shared model options."""
    from ..matter import Matter

    input_size = None if args.input_size is None else (args.input_size[1], args.input_size[0])
    return Matter(
        args.model,
        backend=args.backend,
        refine=args.refine,
        temporal=temporal,
        task=args.task,
        input_size=input_size,
        threads=args.threads,
        downsample_ratio=args.downsample_ratio,
    )
