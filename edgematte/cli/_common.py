"""Options and helpers the matting subcommands share."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple, TypeVar

from ..background import parse_background
from ..errors import InputError

__all__ = [
    "UsageError",
    "usage_checks",
    "bounded",
    "accepted_by",
    "POSITIVE_INT",
    "POSITIVE_FLOAT",
    "RATIO",
    "add_model_arguments",
    "add_background_argument",
    "add_odd_size_arguments",
    "add_edge_arguments",
    "add_video_arguments",
    "parse_background",
    "open_matter",
    "parse_size",
    "progress",
    "clean_stale_partials",
    "STATUS_EVERY_S",
]

log = logging.getLogger("edgematte")

#: seconds between status lines when stderr is not a terminal (logs, CI) and tqdm stays off
STATUS_EVERY_S = 5.0

T = TypeVar("T")


class UsageError(InputError):
    """The command line is wrong before any work starts (an option's value, or options that do not go
    together): one line on stderr and exit 2."""


@contextlib.contextmanager
def usage_checks() -> Iterator[None]:
    """InputErrors raised inside become UsageErrors (exit 2): wrap the checks a command makes of its
    options before it opens the model, the input or an output."""
    try:
        yield
    except UsageError:
        raise
    except InputError as exc:
        raise UsageError(str(exc)) from exc


def bounded(cast: Callable[[str], Any], expected: str, ok: Callable[[Any], bool]) -> Callable[[str], Any]:
    """An argparse ``type=``: ``cast(text)`` where ``ok`` holds, else "received 'TEXT'; expected EXPECTED".
    ``ok`` may also refuse by raising an InputError (see :func:`accepted_by`)."""

    def parse(text: str) -> Any:
        try:
            value = cast(text)
            valid = not (isinstance(value, float) and not math.isfinite(value)) and ok(value)
        except (ValueError, InputError):
            valid = False
        if not valid:
            raise argparse.ArgumentTypeError(f"received {text!r}; expected {expected}")
        return value

    parse.__name__ = expected
    return parse


def accepted_by(config: Callable[..., Any], name: str) -> Callable[[Any], bool]:
    """A check for :func:`bounded` that keeps a setting's bounds in one place, its API config:
    ``config(name=value)`` raises an InputError for a value out of bounds."""
    return lambda value: config(**{name: value}) is not None


POSITIVE_INT = bounded(int, "a whole number >= 1", lambda v: v >= 1)
POSITIVE_FLOAT = bounded(float, "a number > 0", lambda v: v > 0)
#: RobustVideoMatting's downsample ratio
RATIO = bounded(float, "a number in (0, 1]", lambda v: 0 < v <= 1)


def add_model_arguments(parser: argparse.ArgumentParser, *, refine: str = "fast") -> None:
    from ..matter import DEFAULT_MODEL
    from ..pipeline import REFINE_MODES

    group = parser.add_argument_group("model")
    group.add_argument(
        "--model", default=DEFAULT_MODEL, help="model-table name, .onnx file or engine (default: %(default)s)"
    )
    group.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "ort-cpu", "tensorrt"),
        help="runtime (default: auto = TensorRT if it starts, else ONNX Runtime on the CPU; "
        "EDGEMATTE_BACKEND=ort-cpu makes the CPU the quiet default)",
    )
    group.add_argument(
        "--refine",
        choices=REFINE_MODES,
        default=refine,
        help="unknown-band refinement: off, fast (real time) or full (best edges) (default: %(default)s)",
    )
    group.add_argument(
        "--threads", type=POSITIVE_INT, default=None, help="CPU threads (default: the CPUs this process may use)"
    )
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
        "--downsample-ratio", type=RATIO, default=None, metavar="R",
        help="RobustVideoMatting only: internal scale in (0, 1] (default: automatic, longer side ~320 px)",
    )


def add_background_argument(parser: argparse.ArgumentParser, default: Optional[str] = None, what: str = "") -> None:
    parser.add_argument(
        "--background",
        "-b",
        default=default,
        metavar="IMG|VIDEO|COLOR|blur",
        help="an image file, a video file (looped), a colour (name, #RRGGBB or R,G,B) or 'blur'" + what,
    )


def add_odd_size_arguments(parser: argparse.ArgumentParser) -> None:
    """--pad (default) / --crop: how H.264 (4:2:0, even sides only) gets frames with an odd width or height."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--pad", dest="odd_size", action="store_const", const="pad", default="pad",
        help="H.264 of frames with an odd width or height: add a column or row repeating the last (default)",
    )
    group.add_argument(
        "--crop", dest="odd_size", action="store_const", const="crop",
        help="H.264 of frames with an odd width or height: drop the last column or row instead",
    )


def add_edge_arguments(parser: argparse.ArgumentParser) -> None:
    """--edge-shift, --feather, --threshold (edgematte.edges; EdgeConfig's bounds, checked while parsing: exit 2)."""
    from ..edges import MAX_RADIUS, EdgeConfig

    pixels = f"an int in [{{}}, {MAX_RADIUS}] (pixels)"
    group = parser.add_argument_group("edge")
    shift = bounded(int, pixels.format(-MAX_RADIUS), accepted_by(EdgeConfig, "edge_shift"))
    group.add_argument("--edge-shift", type=shift, default=0, metavar="PX",
                       help="grow (PX > 0) or shrink (PX < 0) the matte by PX pixels (default: 0)")
    group.add_argument("--feather", type=bounded(int, pixels.format(0), accepted_by(EdgeConfig, "feather")),
                       default=0, metavar="PX", help="soften the edge into a ramp 2 PX + 1 pixels wide (default: 0)")
    group.add_argument("--threshold", type=bounded(float, "a number in (0, 1]", accepted_by(EdgeConfig, "threshold")),
                       default=None, metavar="T",
                       help="a hard cut: opaque where alpha >= T, T in (0, 1] (default: the soft matte)")


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the commands that matte a stream (video, webcam): --temporal, the model's, the edge's."""
    from ..pipeline.core import TemporalConfig
    from ..temporal import STRENGTH

    strength = bounded(float, "a weight in [0, 1) (0: off)", accepted_by(TemporalConfig, "strength"))
    parser.add_argument(
        "--temporal", type=strength, default=STRENGTH, metavar="S",
        help="smoothing over time that holds still edges and follows moving ones at once: the past's weight "
        "where the picture holds still, in [0, 1); 0 turns every temporal filter off (default: %(default)s)",
    )
    add_model_arguments(parser)
    add_edge_arguments(parser)


def parse_size(text: str) -> Tuple[int, int]:
    """ "1280x720" -> (1280, 720), for argparse ``type=``."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"received {text!r}; expected WIDTHxHEIGHT such as 1280x720") from None
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"received {text!r}; expected a positive width and height")
    return width, height


def open_matter(args: argparse.Namespace, *, temporal: Any = None, **options: Any):
    """A Matter from the shared model and edge options (``options``: further Matter keywords); ``temporal``
    None (photos) or 0 is off."""
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
        edge_shift=getattr(args, "edge_shift", 0),
        feather=getattr(args, "feather", 0),
        threshold=getattr(args, "threshold", None),
        **options,
    )


def progress(items: Iterable[T], *, total: Optional[int], unit: str, quiet: bool = False) -> Iterator[T]:
    """``items``, with a tqdm bar on a terminal, a status line every STATUS_EVERY_S s elsewhere, nothing when quiet."""
    if quiet:
        yield from items
        return
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, total=total, unit=unit)
        return
    start = last = time.monotonic()
    done = 0
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= STATUS_EVERY_S:
            last = now
            print(f"{done}/{total or '?'} {unit}s, {done / (now - start):.1f} {unit}s/s", file=sys.stderr, flush=True)


def clean_stale_partials(*targets: Optional[str]) -> None:
    """Remove temporaries left in the output folders by killed runs (see ``edgematte.files``)."""
    from ..files import remove_stale_partials

    folders = {Path(t) if Path(t).is_dir() else Path(t).parent for t in targets if t and t != "-"}
    for folder in folders:
        for path in remove_stale_partials(folder):
            log.info("removed %s, left by a run that was killed", path)
