"""The ``edgematte`` command: one subcommand per module in this package.

Exit codes: 0 ok, 1 runtime error (one line on stderr; ``--debug`` for the traceback),
2 usage error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from .._version import __version__
from ..errors import EdgematteError

#: subcommand modules in edgematte.cli; each has ``register(subparsers)`` that sets ``func``.
SUBCOMMANDS = ("matte", "video", "webcam", "bench", "build", "export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgematte", description="Real-time image and video matting.")
    parser.add_argument("--version", action="version", version=f"edgematte {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__package__}.{name}").register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(levelname)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("edgematte: interrupted", file=sys.stderr)
        return 130
    except (EdgematteError, OSError) as exc:
        if args.debug:
            raise
        print(f"edgematte {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
