"""``edgematte matte IN... -o OUT``: photos or folders -> PNG with alpha, or composites."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._common import add_background_argument, add_model_arguments, open_matter, parse_background

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "matte",
        help="matte photos: PNG with alpha, or a new background",
        description="Matte image files or folders. One input and an image -o writes that file; otherwise -o is a "
        "folder that receives <name>.png per input.",
    )
    parser.add_argument("inputs", nargs="+", metavar="IN", help="image files or folders of images")
    parser.add_argument("-o", "--output", required=True, help="output image (one input) or folder")
    add_background_argument(parser, what="; without it the output is a PNG with alpha")
    add_model_arguments(parser, refine="full")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..io import list_images, read_image, write_image

    paths = list_images(args.inputs)
    if not paths:
        raise InputError(f"received {args.inputs}, which hold no images; expected image files or folders with images")
    output = Path(args.output)
    targets = _targets(paths, output)
    background = parse_background(args.background, name="--background")
    with open_matter(args) as matter:
        for source, target in tqdm(list(zip(paths, targets)), unit="image", disable=len(paths) < 2):
            frame = read_image(source)
            write_image(target, matter.replace_background(frame, background))
    if len(paths) == 1:
        print(f"wrote {targets[0]}")
    else:
        print(f"wrote {len(paths)} images to {output}")
    return 0


def _targets(paths, output: Path):
    """One output file per input: ``output`` itself for a single input with an image suffix."""
    if len(paths) == 1 and output.suffix.lower() in IMAGE_OUTPUTS:
        return [output]
    if output.suffix.lower() in IMAGE_OUTPUTS:
        raise InputError(f"received {len(paths)} inputs and the file -o {str(output)!r}; expected a folder for -o")
    targets = [output / (p.stem + ".png") for p in paths]
    if len(set(targets)) != len(targets):
        raise InputError("received inputs with the same file name in different folders; expected distinct names")
    return targets
