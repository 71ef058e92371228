"""The ``edgematte`` command: one subcommand per module in this package.

Exit codes: 0 ok, 1 runtime error (one line on stderr; ``--debug`` for the traceback),
2 usage error (one line: an option, or options together, wrong before any work starts), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import warnings
from typing import List, Optional

from .._version import __version__
from ..errors import EdgematteError
from ._common import UsageError

#: subcommand modules in edgematte.cli; each has ``register(subparsers)`` that sets ``func``.
SUBCOMMANDS = ("matte", "video", "webcam", "gst", "bench", "build", "export")


class _Parser(argparse.ArgumentParser):
    """argparse with edgematte's usage errors: one line, ``edgematte COMMAND: error: ...``, exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="edgematte", description="Real-time image and video matting.")
    parser.add_argument("--version", action="version", version=f"edgematte {__version__}")
    _add_global_options(parser, argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__package__}.{name}").register(subparsers)
    for subparser in subparsers.choices.values():  # accepted after the command too
        _add_global_options(subparser, argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: object) -> None:
    group = parser.add_argument_group("output")
    group.add_argument("--debug", action="store_true", default=default, help="show tracebacks and debug logs")
    group.add_argument(
        "--quiet", "-q", action="store_true", default=default, help="only warnings and errors: no progress, no summary"
    )
    group.add_argument(
        "--max-pixels", type=_pixel_limit, default=default, metavar="N",
        help="refuse images and video frames above N decoded pixels (default: 100000000, or EDGEMATTE_MAX_PIXELS; "
        "0: no limit)",
    )


def _pixel_limit(text: str) -> int:
    from ..io.pixels import parse_max_pixels

    try:
        return parse_max_pixels(text, "--max-pixels")
    except EdgematteError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug, args.quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    if getattr(args, "max_pixels", None) is not None:  # this process's limit, read where images are decoded
        from ..io.pixels import MAX_PIXELS_ENV

        os.environ[MAX_PIXELS_ENV] = str(args.max_pixels)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    _set_up_logging(args)
    if not args.debug:
        _quiet_native_logs()
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line(args.debug)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgematte: interrupted", file=sys.stderr)
        return 130
    except UsageError as exc:
        if args.debug:
            raise
        print(f"edgematte {args.command}: error: {cli_syntax(str(exc))}", file=sys.stderr)
        return 2
    except (EdgematteError, OSError) as exc:
        if args.debug:
            raise
        print(f"edgematte {args.command}: error: {cli_syntax(_describe(exc))}", file=sys.stderr)
        return 1


def _set_up_logging(args: argparse.Namespace) -> None:
    """edgematte's log lines on stderr, written for a terminal (see :class:`_Lines`); other libraries' log
    records below ERROR only with --debug."""
    level = logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO
    root = logging.getLogger()
    if not root.handlers:  # not embedded in a program (or a test) that set up logging itself
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Lines(args.command))
        root.addHandler(handler)
        root.setLevel(logging.DEBUG if args.debug else logging.ERROR)
    logging.getLogger("edgematte").setLevel(level)
    for handler in root.handlers:
        if not any(isinstance(f, _CliSyntax) for f in handler.filters):
            handler.addFilter(_CliSyntax())


class _Lines(logging.Formatter):
    """One line per record: ``edgematte COMMAND: warning: ...`` (and error), plain text for information,
    ``debug: LOGGER: ...`` for debug records."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.prefix = f"edgematte {command}"

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"{self.prefix}: {record.levelname.lower()}: {text}"
        elif record.levelno < logging.INFO:
            text = f"debug: {record.name}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _warning_line(debug: bool):
    """A ``warnings.showwarning`` that logs the warning as one edgematte line (no source line); with
    --debug it also names the category and where it was raised."""
    log = logging.getLogger("edgematte")

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        where = f" ({category.__name__} at {filename}:{lineno})" if debug else ""
        log.warning("%s%s", message, where)

    return show


def _quiet_native_logs() -> None:
    """OpenCV's and FFmpeg's own log lines off: edgematte reports the failures they describe itself
    (--debug keeps them). A library that does not import is left to the command that needs it to report."""
    try:
        import av.logging
        import cv2
    except ImportError:
        return
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when OpenCV's FFmpeg starts
    opencv = getattr(getattr(cv2, "utils", None), "logging", None)
    (opencv.setLogLevel if hasattr(opencv, "setLogLevel") else cv2.setLogLevel)(0)  # 0: LOG_LEVEL_SILENT
    if hasattr(av.logging, "set_libav_level"):  # FFmpeg prints itself, at the level it is given
        av.logging.set_libav_level(av.logging.PANIC)
    else:  # older PyAV passes FFmpeg's lines to Python logging
        av.logging.set_level(av.logging.PANIC)


def _describe(exc: BaseException) -> str:
    """The message of ``exc``; an OSError without its ``[Errno N]`` prefix."""
    if isinstance(exc, OSError) and not isinstance(exc, EdgematteError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


#: library hints in Python syntax -> the same hint as command-line options
_PYTHON_HINTS = (
    (re.compile(r"\b(task|backend|refine|encoder)=(['\"])([\w-]+)\2"), lambda m: f"--{m.group(1)} {m.group(3)}"),
    (re.compile(r"\b(crf|bitrate|threads|downsample_ratio)=([\w.+-]+)"),
     lambda m: f"--{m.group(1).replace('_', '-')} {m.group(2)}"),
    (re.compile(r"\binput_size=\(h, w\)"), lambda m: "--input-size WxH"),
    (re.compile(r"\bodd_size=(['\"])(pad|crop)\1"), lambda m: f"--{m.group(2)}"),
    (re.compile(r"\btemporal=([\w.']+)"), lambda m: f"--temporal {m.group(1)}"),
    (re.compile(r"no 'window' sink"), lambda m: "--no-window"),
)


def cli_syntax(text: str) -> str:
    """``text`` with the library's keyword-argument hints (``task='matting'``) written as CLI options."""
    for pattern, replace in _PYTHON_HINTS:
        text = pattern.sub(replace, text)
    return text


class _CliSyntax(logging.Filter):
    """Rewrites log messages' Python-syntax hints as CLI options (see :func:`cli_syntax`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = cli_syntax(record.getMessage()), None
        return True


if __name__ == "__main__":
    sys.exit(main())
