"""Make docs/result.png for the README: photo | alpha | new background, from docs/astronaut.jpg.

    python docs/make_readme_picture.py [--model selfie]
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

import edgematte
from edgematte.io import read_image

HERE = Path(__file__).resolve().parent
PANEL = 256


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="selfie")
    parser.add_argument("-o", "--output", default=str(HERE / "result.png"))
    args = parser.parse_args()
    photo = read_image(HERE / "astronaut.jpg")
    with edgematte.Matter(args.model, backend="ort-cpu") as matter:
        alpha = matter.process(photo).alpha.copy()
        green = matter.replace_background(photo, (64, 177, 0)).copy()
    panels = [photo, cv2.cvtColor(alpha, cv2.COLOR_GRAY2BGR), green]
    row = np.hstack([cv2.resize(p, (PANEL, PANEL), interpolation=cv2.INTER_AREA) for p in panels])
    cv2.imwrite(args.output, row, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.output} ({Path(args.output).stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
