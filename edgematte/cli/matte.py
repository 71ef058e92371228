"""``edgematte matte IN... -o OUT``: photos, folders or stdin -> PNG with alpha, or composites.

In a batch a file that cannot be read, matted or written is reported in one line and skipped;
the run ends with "N written, M failed" and exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Tuple

from ..errors import EdgematteError
from ._common import (
    UsageError,
    add_background_argument,
    add_edge_arguments,
    add_model_arguments,
    clean_stale_partials,
    open_matter,
    progress,
    usage_checks,
)

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
STDIO = "-"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "matte",
        help="matte photos: PNG with alpha, or a new background",
        description="Matte image files, folders or %d patterns. One input and an image -o writes that file; "
        "otherwise -o is a folder that receives <name>.png per input. '-' reads one image from stdin or "
        "writes a PNG to stdout.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files, folders of images, or - for stdin")
    parser.add_argument("-o", "--output", required=True, help="output image (one input), folder, or - for stdout")
    parser.add_argument("-r", "--recursive", action="store_true", help="include sub-folders (mirrored under -o)")
    add_background_argument(parser, what="; without it the output is a PNG with alpha")
    add_model_arguments(parser, refine="full")
    add_edge_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..background import Backgrounds
    from ..io import check_image_suffix, refuse_overwriting

    jobs = _jobs(args.inputs, Path(args.output) if args.output != STDIO else STDIO, args.recursive)
    with usage_checks():  # wrong options fail here, before any work (exit 2)
        refuse_overwriting([source for source, _ in jobs if source != STDIO], [target for _, target in jobs])
        if args.background is None:  # a PNG with alpha
            for _, target in jobs:
                check_image_suffix(".png" if target == STDIO else target.suffix, alpha=True)
        backgrounds = Backgrounds("--background")
        backgrounds.parse(args.background)
    clean_stale_partials(*{str(target) for _, target in jobs})
    written, failed = 0, 0
    with open_matter(args) as matter:
        for source, target in progress(jobs, total=len(jobs), unit="image", quiet=args.quiet or len(jobs) < 2):
            try:
                _matte_one(matter, source, target, backgrounds(args.background))
                written += 1
            except (EdgematteError, OSError) as exc:
                if len(jobs) == 1:
                    raise
                failed += 1
                print(f"edgematte matte: skipped {source}: {exc}", file=sys.stderr)
    report = sys.stderr if args.output == STDIO else sys.stdout
    if len(jobs) == 1 and not args.quiet:
        print(f"wrote {jobs[0][1] if args.output != STDIO else 'a PNG to stdout'}", file=report)
    elif len(jobs) > 1 and (failed or not args.quiet):
        print(f"{written} written, {failed} failed (in {args.output})", file=report)
    return 1 if failed else 0


def _matte_one(matter, source, target, background) -> None:
    """Read, matte and write one image; ``source``/``target`` may be STDIO."""
    from ..io import decode_image, encode_image, read_image, write_image

    image = decode_image(sys.stdin.buffer.read(), "stdin") if source == STDIO else read_image(source, unchanged=True)
    matter.reset()  # unrelated photos: no temporal or recurrent (RVM) state carried between them
    out = matter.replace_background(image, background)
    if target == STDIO:
        sys.stdout.buffer.write(encode_image(out, ".png"))
        sys.stdout.buffer.flush()
    else:
        write_image(target, out)


def _jobs(inputs: List[str], output, recursive: bool) -> List[Tuple[object, object]]:
    """(source, target) per image: ``output`` itself for one input and an image suffix (or '-').

    UsageError when the inputs and -o do not go together; an input that cannot be read raises as it is."""
    from ..io import VIDEO_SUFFIXES, ImageFiles, open_source

    if STDIO in inputs:
        if len(inputs) > 1 or (output != STDIO and output.suffix.lower() not in IMAGE_OUTPUTS):
            raise UsageError(f"received {inputs} -o {str(output)!r}; expected '-' alone, with -o an image file or -")
        return [(STDIO, output)]
    pairs = []  # (path, path relative to its input root)
    for item in inputs:
        photo = Path(item).is_file() and Path(item).suffix.lower() not in VIDEO_SUFFIXES  # decoded whatever its suffix
        source = ImageFiles(item) if photo else open_source(item, recursive=recursive)
        if not isinstance(source, ImageFiles):
            source.close()
            raise UsageError(
                f"received {item!r}, which is no image or folder; expected photos (videos: `edgematte video`)"
            )
        root = source.root if source.root.is_dir() else None
        pairs.extend((p, p.relative_to(root) if root and recursive else Path(p.name)) for p in source.paths)
    if not pairs:
        raise UsageError(f"received {inputs}, which hold no images; expected image files or folders with images")
    if len(pairs) == 1 and (output == STDIO or output.suffix.lower() in IMAGE_OUTPUTS):
        return [(pairs[0][0], output)]
    if output == STDIO or output.suffix.lower() in IMAGE_OUTPUTS:
        raise UsageError(f"received {len(pairs)} inputs and the file -o {str(output)!r}; expected a folder for -o")
    jobs = [(path, output / relative.with_suffix(".png")) for path, relative in pairs]
    if len({target for _, target in jobs}) != len(jobs):
        raise UsageError("received inputs with the same file name in different folders; expected distinct names")
    return jobs
