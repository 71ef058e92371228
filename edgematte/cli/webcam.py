"""``edgematte webcam``: live background replacement from a camera, in a window or a virtual camera.

``--device`` takes a camera index or a video file that stands in for a camera (played at its
own frame rate unless ``--no-pace``). ``-o FILE`` records the composites shown (without the FPS
overlay). Press q or Esc (or close the window) to quit; FPS is drawn on the frame and printed
at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from ..errors import BackendUnavailableError, InputError
from ._common import add_background_argument, add_model_arguments, clean_stale_partials, open_matter

WINDOW = "edgematte"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "webcam",
        help="live background replacement from a camera",
        description="Live background replacement. Quit with q, Esc or by closing the window.",
    )
    parser.add_argument("--device", default="0", help="camera index, or a video file standing in for a camera")
    add_background_argument(parser, default="blur", what=" (default: %(default)s)")
    parser.add_argument("--virtual-cam", action="store_true", help="send frames to a virtual camera (pyvirtualcam)")
    parser.add_argument("--no-window", action="store_true", help="show no window (headless, tests)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("-o", "--output", metavar="FILE", help="record what is shown: a video (.mp4, ...) or PNGs")
    parser.add_argument(
        "--no-pace", action="store_true", help="a video file as --device: run as fast as possible, not at its fps"
    )
    parser.add_argument("--temporal", type=float, default=0.0, metavar="S", help="alpha EMA weight in [0, 1)")
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import contextlib

    import cv2

    from ..io import open_sink, open_source, refuse_overwriting

    show = not args.no_window
    if (
        show
        and sys.platform.startswith("linux")
        and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    ):
        raise InputError("received no display (DISPLAY is unset); expected a desktop session, or --no-window")
    from ..background import Backgrounds

    backgrounds = Backgrounds("--background")
    backgrounds.parse(args.background)
    if args.output:
        refuse_overwriting([] if str(args.device).isdigit() else [args.device], [args.output])
        clean_stale_partials(args.output)
    frames, fps, started = 0, 0.0, time.perf_counter()
    with open_source(args.device, pace=not args.no_pace) as source, open_matter(
        args, temporal=args.temporal or None
    ) as matter, contextlib.ExitStack() as stack:
        size = source.size
        if not size:
            raise InputError(f"received --device {args.device!r}, which holds no frame; expected a camera or a video")
        record = stack.enter_context(open_sink(args.output, source.fps or 30.0, size)) if args.output else None
        camera = _virtual_camera(size, source.fps or 30.0) if args.virtual_cam else None
        try:
            last = time.perf_counter()
            for frame in source:
                out = matter.replace_background(frame, backgrounds(args.background))
                now = time.perf_counter()
                fps = 0.9 * fps + 0.1 / max(now - last, 1e-6) if frames else 1.0 / max(now - last, 1e-6)
                last, frames = now, frames + 1
                if record is not None:
                    record.write(out)
                if camera is not None:
                    camera.send(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
                if show:
                    cv2.putText(out, f"{fps:5.1f} FPS", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
                    cv2.imshow(WINDOW, out)
                    if (
                        cv2.waitKey(1) & 0xFF in (ord("q"), 27)
                        or cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
                    ):
                        break
                if args.max_frames is not None and frames >= args.max_frames:
                    break
        finally:
            if camera is not None:
                camera.close()
            if show:
                cv2.destroyAllWindows()
    elapsed = time.perf_counter() - started
    if record is not None and not args.quiet:
        print(f"recorded {record.frames} frames to {args.output}")
    backgrounds.close()
    if not args.quiet:
        print(f"{frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} FPS including start-up)")
    return 0


def _virtual_camera(size, fps: float):
    """A pyvirtualcam.Camera taking RGB frames of ``size`` (width, height)."""
    try:
        import pyvirtualcam
    except ImportError as exc:
        raise BackendUnavailableError(
            f"--virtual-cam needs pyvirtualcam ({exc}); expected it installed: pip install 'edgematte[webcam]'"
        ) from exc
    try:
        return pyvirtualcam.Camera(width=size[0], height=size[1], fps=fps)
    except RuntimeError as exc:
        raise InputError(
            f"pyvirtualcam found no virtual camera device ({exc}); expected v4l2loopback loaded on Linux "
            "(sudo modprobe v4l2loopback) or OBS Virtual Camera installed on Windows/macOS"
        ) from exc
