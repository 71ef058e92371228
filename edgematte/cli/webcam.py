"""``edgematte webcam``: live background replacement from a camera, on :mod:`edgematte.live`.

``--source`` (alias ``--device``) takes a camera index, ``/dev/videoN``, ``csi://N`` (Jetson), an
``rtsp://``/``http://`` URL, a video file standing in for a camera (played at its frame rate unless
``--no-pace``) or a GStreamer pipeline ending in ``appsink``. Frames go to a window (unless
``--no-window``), ``-o FILE``, ``--virtual-cam [/dev/videoN]`` and ``--sink 'appsrc ! ...'``. Frames
the matting cannot keep up with are dropped, not queued. Press q or Esc (or close the window) to
quit. At the end: frames, dropped, FPS and latency (capture -> written) on stdout, and with
``--stats FILE`` the same as JSON.
"""

from __future__ import annotations

import argparse

from ._common import (
    POSITIVE_INT,
    add_background_argument,
    add_video_arguments,
    clean_stale_partials,
    open_matter,
    usage_checks,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "webcam",
        help="live background replacement from a camera",
        description="Live background replacement. Quit with q, Esc or by closing the window.",
    )
    parser.add_argument(
        "--source", "--device", dest="source", default="0", metavar="URI",
        help="camera index, /dev/videoN, csi://N, rtsp:// or http:// URL, video file, or a GStreamer pipeline "
        "ending in appsink (default: %(default)s)",
    )
    add_background_argument(parser, default="blur", what=" (default: %(default)s)")
    parser.add_argument(
        "--virtual-cam", nargs="?", const="pyvirtualcam", default=None, metavar="DEVICE",
        help="send frames to a virtual camera: pyvirtualcam, or a v4l2loopback device (/dev/videoN, YUY2 through "
        "GStreamer)",
    )
    parser.add_argument(
        "--sink", action="append", default=[], metavar="PIPELINE",
        help="send frames to a GStreamer pipeline starting at appsrc (repeatable)",
    )
    parser.add_argument("--no-window", action="store_true", help="show no window (headless, tests)")
    parser.add_argument("--max-frames", type=POSITIVE_INT, default=None, help="stop after this many frames")
    parser.add_argument("-o", "--output", metavar="FILE", help="record what is shown: a video (.mp4, ...) or PNGs")
    parser.add_argument(
        "--no-pace", action="store_true", help="a video file as --source: read as fast as possible, not at its fps"
    )
    parser.add_argument(
        "--every", type=POSITIVE_INT, default=1, metavar="N",
        help="run the model on every Nth frame; the frames between evaluate its last fit on the new frame",
    )
    parser.add_argument("--stats", metavar="FILE", help="write frames, dropped, fps, latency and stage times as JSON")
    add_video_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import live
    from ..background import Backgrounds

    with usage_checks():  # wrong options fail here, before the camera opens (exit 2)
        Backgrounds("--background").parse(args.background)
    clean_stale_partials(args.output)
    sinks = ([] if args.no_window else ["window"]) + ([args.output] if args.output else [])
    sinks += ([args.virtual_cam] if args.virtual_cam else []) + list(args.sink)
    with open_matter(args, temporal=args.temporal, every=args.every) as matter:
        summary = live.run(args.source, sinks, matter=matter, background=args.background, pace=not args.no_pace,
                           max_frames=args.max_frames, stats=args.stats)
    if not args.quiet:
        latency = summary["latency_ms"]
        print(f"{summary['frames']} frames, {summary['dropped']} dropped, {summary['fps']:.1f} FPS, latency "
              f"p50 {latency.get('p50', 0):.1f} ms, p99 {latency.get('p99', 0):.1f} ms (capture -> written)")
        if args.output:
            print(f"recorded {summary['frames']} frames to {args.output}")
    return 0
