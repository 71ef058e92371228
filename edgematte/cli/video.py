"""``edgematte video IN -o OUT``: a video file -> same size and fps, new background or the alpha matte.

The output is written to a temporary file beside OUT and renamed at the end: after an
error or Ctrl-C there is no half-written OUT.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import InputError
from ._common import add_background_argument, add_model_arguments, open_matter, parse_background


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "video",
        help="matte a video file",
        description="Matte every frame of a video, in order, keeping its size and frame rate.",
    )
    parser.add_argument("input", metavar="IN", help="video file")
    parser.add_argument("-o", "--output", required=True, help="output video (.mp4 or .avi)")
    add_background_argument(parser, what="; without it the output is the alpha matte as a grey video")
    parser.add_argument(
        "--temporal",
        type=float,
        default=0.0,
        metavar="S",
        help="smooth alpha over time: EMA weight of the past in [0, 1), reset on scene cuts (default: off)",
    )
    add_model_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from ..io import VideoSink, VideoSource

    background = parse_background(args.background, name="--background")
    with VideoSource(args.input) as source:
        if source.size[0] < 1 or source.size[1] < 1:
            raise InputError(f"received {args.input!r} with frame size {source.size}; expected a video with frames")
        fps = source.fps if source.fps > 0 else 30.0
        grey = np.empty((source.size[1], source.size[0], 3), np.uint8)
        with open_matter(args, temporal=args.temporal or None) as matter, VideoSink(
            args.output, fps, source.size
        ) as sink, tqdm(total=source.frame_count, unit="frame") as bar:
            for frame in source:
                if background is None:
                    out = cv2.cvtColor(matter.process(frame).alpha, cv2.COLOR_GRAY2BGR, dst=grey)
                else:
                    out = matter.replace_background(frame, background)
                sink.write(out)
                bar.update(1)
            if sink.frames == 0:
                raise InputError(f"received {args.input!r}, which yielded no frame; expected a video with frames")
    print(f"wrote {sink.frames} frames at {fps:g} fps to {args.output}")
    return 0
