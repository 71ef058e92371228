"""``edgematte video IN -o OUT``: a video, image sequence or camera -> composite, alpha video or PNG sequence.

Video is decoded and encoded with FFmpeg (PyAV). Every output is written to a temporary file
beside it and renamed at the end: after an error, a full disk or Ctrl-C there is no
half-written OUT and an earlier OUT is left as it was. Temporaries of killed runs
(``.NAME.PID.RANDOM.partial.EXT``) are removed by the next run into the same folder.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from ..errors import InputError
from ._common import (
    POSITIVE_FLOAT,
    add_background_argument,
    add_odd_size_arguments,
    add_video_arguments,
    clean_stale_partials,
    open_matter,
    progress,
    usage_checks,
)

EPILOG = """outputs:
  -b green -o out.mp4|.mkv|.mov   H.264 composite; the input's audio is copied (--no-audio drops it)
  -o out.webm                     VP9 with alpha (yuva420p)
  -o out.mov                      ProRes 4444 with alpha
  -o 'frames/%04d.png' | -o DIR/  RGBA PNG sequence
  --matte-only -o matte.mp4       the alpha matte as a grey video
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "video",
        help="matte a video file or image sequence",
        description="Matte every frame of a video (any file FFmpeg reads) or an image sequence (a folder or a "
        "%d pattern), in order, keeping its size, frame rate, timestamps and audio.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", metavar="IN", help="video file, folder of frames or pattern such as frames/%%04d.png")
    parser.add_argument("-o", "--output", required=True, help="output video, %%d pattern or folder (see below)")
    add_background_argument(parser, what="; without it the output keeps the alpha (.webm, .mov, PNG)")
    parser.add_argument("--matte-only", action="store_true", help="write the alpha matte as a grey video instead")
    parser.add_argument("--output-alpha", metavar="PATH", help="also write the alpha matte (grey video or PNGs)")
    parser.add_argument(
        "--output-foreground",
        metavar="PATH",
        help="also write the foreground colours (the model's for RVM, else a blur-fusion estimate)",
    )
    quality = parser.add_mutually_exclusive_group()
    quality.add_argument("--crf", type=int, help="quality, lower is better (default: H.264 18, VP9 31)")
    quality.add_argument("--bitrate", type=parse_bitrate, help="target bit rate instead of --crf, e.g. 4M or 800k")
    parser.add_argument("--preset", default="veryfast", help="x264 speed preset (default: %(default)s)")
    parser.add_argument(
        "--encoder",
        metavar="NAME",
        help="FFmpeg encoder for opaque outputs instead of libx264, e.g. h264_nvenc on NVIDIA GPUs",
    )
    add_odd_size_arguments(parser)
    parser.add_argument("--no-audio", action="store_true", help="drop the input's audio")
    parser.add_argument("--fps", type=POSITIVE_FLOAT, default=25.0, help="frame rate of image sequences (default: %(default)s)")
    add_video_arguments(parser)
    parser.set_defaults(func=run)


def parse_bitrate(text: str) -> int:
    """ "4M" -> 4000000, "800k" -> 800000, "2500000" -> 2500000."""
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    try:
        value = float(text[:-1] if scale > 1 else text) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"received {text!r}; expected bits per second such as 4M or 800k") from None
    return int(value)


def run(args: argparse.Namespace) -> int:
    from ..background import Backgrounds
    from ..io import VideoFile, VideoOptions, check_sink, open_sink, open_source, refuse_overwriting, to_bgr
    from ..pipeline import NO_COMPOSITE
    from ..refine import estimate_foreground

    with_alpha = args.background is None and not args.matte_only
    with usage_checks():  # wrong options fail here, before any work (exit 2)
        refuse_overwriting(_input_files(args.input), [args.output, args.output_alpha, args.output_foreground])
        options = VideoOptions(crf=args.crf, bitrate=args.bitrate, preset=args.preset, encoder=args.encoder,
                               odd_size=args.odd_size)
        check_sink(args.output, alpha=with_alpha, options=options)
        for extra in (args.output_alpha, args.output_foreground):
            if extra:
                check_sink(extra, options=options)
        backgrounds = Backgrounds("--background")
        backgrounds.parse(args.background)
    clean_stale_partials(args.output, args.output_alpha, args.output_foreground)
    with open_source(args.input) as source, open_matter(args, temporal=args.temporal) as matter:
        if source.is_camera:
            raise InputError(f"received camera {args.input!r}; expected a video file (use `edgematte webcam -o FILE`)")
        video = isinstance(source, VideoFile)
        fps = (source.stream.average_rate or source.fps) if video and source.fps else args.fps
        time_base = source.time_base if video else None
        size = source.size
        if not size:
            raise InputError(f"received {args.input!r}, which holds no frame; expected a video or images")
        with contextlib.ExitStack() as outputs:

            def sink(path, has_alpha=False):
                return outputs.enter_context(
                    open_sink(path, fps, size, alpha=has_alpha, options=options, time_base=time_base)
                )

            main = sink(args.output, with_alpha)
            alpha = sink(args.output_alpha) if args.output_alpha else None
            foreground = sink(args.output_foreground) if args.output_foreground else None
            if video and source.audio is not None and not args.no_audio and hasattr(main, "add_audio"):
                source.on_audio = main.add_audio(source.audio)  # before the first frame, as muxers need
            for frame in progress(source, total=source.frame_count, unit="frame", quiet=args.quiet):
                result = matter.process(frame, NO_COMPOSITE if args.matte_only else backgrounds(args.background))
                pts = source.pts if video else None
                main.write(result.alpha if args.matte_only else result.composite, pts)
                if alpha is not None:
                    alpha.write(result.alpha, pts)
                if foreground is not None:
                    fgr = result.foreground  # the model's own (RVM), else a blur-fusion estimate
                    foreground.write(fgr if fgr is not None else estimate_foreground(to_bgr(frame), result.alpha), pts)
            if main.frames == 0:
                raise InputError(f"received {args.input!r}, which yielded no frame; expected a video with frames")
    backgrounds.close()
    if not args.quiet:
        print(f"wrote {main.frames} frames at {float(fps):g} fps to {args.output}")
    return 0


def _input_files(uri: str):
    """The files an input names (a video file, or the frames of a folder or pattern), for the overwrite check."""
    from ..io import ImageFiles, is_pattern

    with contextlib.suppress(InputError):
        if not uri.isdigit():
            return ImageFiles(uri).paths + [Path(uri).parent if is_pattern(uri) else uri] if _is_images(uri) else [uri]
    return []


def _is_images(uri: str) -> bool:
    from ..io import IMAGE_SUFFIXES, is_pattern

    return Path(uri).is_dir() or is_pattern(uri) or Path(uri).suffix.lower() in IMAGE_SUFFIXES
