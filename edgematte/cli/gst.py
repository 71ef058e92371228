"""``edgematte gst``: make GStreamer's tools find the ``edgematte`` element of this installation.

    eval "$(edgematte gst --env)"          # then: gst-inspect-1.0 edgematte
    edgematte gst --check                  # gst-inspect-1.0 edgematte with that environment

``--env`` prints the export lines: GST_PLUGIN_PATH (the folder holding the plugin loader's file)
and PYTHONPATH (this installation and its site-packages: the loader embeds the system's Python,
which neither runs a virtual environment nor reads an editable install's .pth files). What stands
in the way (no plugin loader, another Python version) is said on stderr.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from ..errors import BackendUnavailableError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "gst",
        help="set up GStreamer to find the edgematte element",
        description="Print the environment that lets gst-launch-1.0 and gst-inspect-1.0 find the edgematte element.",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--env", action="store_true", help='print export lines, for eval "$(edgematte gst --env)"')
    action.add_argument("--check", action="store_true", help="run gst-inspect-1.0 edgematte with that environment")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..gst import env_lines

    problems = _problems()
    if args.env:
        for problem in problems:
            print(f"edgematte gst: warning: {problem}", file=sys.stderr)
        print("\n".join(env_lines()))
        return 0
    if problems:
        raise BackendUnavailableError(problems[0])
    env = dict(os.environ, **_exported())
    done = subprocess.run(["gst-inspect-1.0", "edgematte"], env=env, capture_output=True, text=True)
    if done.returncode != 0 or "edgematte" not in done.stdout:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BackendUnavailableError(f"gst-inspect-1.0 does not find the edgematte element ({reason})")
    if not args.quiet:
        print('gst-inspect-1.0 finds the edgematte element; in a shell: eval "$(edgematte gst --env)"')
    return 0


def _problems() -> list:
    """What keeps GStreamer from loading the element here, one sentence each."""
    from ..gst import PACKAGES, loader_library, loader_python

    problems = []
    if shutil.which("gst-inspect-1.0") is None:
        problems.append(f"gst-inspect-1.0 is not on PATH; expected the packages {PACKAGES}")
    library = loader_library()
    if library is None:
        problems.append("GStreamer's Python plugin loader (libgstpython.so) is not installed; expected the package "
                        "gstreamer1.0-python3-plugin-loader")
    else:
        embedded, ours = loader_python(library), f"{sys.version_info[0]}.{sys.version_info[1]}"
        if embedded is not None and embedded != ours:
            problems.append(f"the plugin loader embeds Python {embedded} but edgematte is installed for Python {ours}; "
                            f"expected an environment made with python{embedded}")
    return problems


def _exported() -> dict:
    """The environment the export lines give, as a shell that runs them would have it."""
    from ..gst import environment

    return {name: value + (os.pathsep + os.environ[name] if os.environ.get(name) else "")
            for name, value in environment().items()}
