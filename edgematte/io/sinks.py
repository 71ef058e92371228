"""Atomic writers: an output file appears complete or not at all.

Both writers fill a temporary file beside the destination and rename it over the
destination only when writing succeeded; after an error or Ctrl-C the temporary file is
deleted and any earlier file at the destination is left untouched.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ..errors import InputError
from ..files import PathLike, atomic_path

__all__ = ["write_image", "VideoSink", "FOURCC"]

log = logging.getLogger(__name__)

#: container suffix -> FourCC that OpenCV's bundled FFmpeg writes without extra codecs
FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


def write_image(path: PathLike, image: np.ndarray) -> Path:
    """Encode ``image`` (uint8 HxW, HxWx3 BGR or HxWx4 BGRA) by the suffix of ``path`` and write it atomically."""
    import cv2

    path = Path(path)
    if image.ndim == 3 and image.shape[2] == 4 and path.suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        raise InputError(f"received {path.name!r} for an image with alpha; expected a .png, .webp or .tif output")
    try:
        ok, encoded = cv2.imencode(path.suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(f"could not encode an image as {path.suffix!r}; expected .png, .jpg, .webp, .tif or .bmp")
    with atomic_path(path) as tmp:
        encoded.tofile(tmp)
    return path


class _Aborted(Exception):
    """Thrown into the atomic writer to drop the partial file."""


class VideoSink:
    """Write uint8 HxWx3 BGR frames of ``size`` (width, height) at ``fps`` to ``path``.

    Use as a context manager: a clean exit renames the finished temporary file to ``path``;
    an exception (KeyboardInterrupt included) deletes it. The codec follows the suffix
    (see :data:`FOURCC`) unless ``fourcc`` is given.
    """

    def __init__(self, path: PathLike, fps: float, size: Tuple[int, int], *, fourcc: Optional[str] = None) -> None:
        import cv2

        self.path = Path(path)
        suffix = self.path.suffix.lower()
        code = fourcc or FOURCC.get(suffix)
        if code is None:
            raise InputError(f"received video output {self.path.name!r}; expected a suffix among {sorted(FOURCC)}")
        if fps <= 0 or size[0] < 1 or size[1] < 1:
            raise InputError(f"received fps={fps} size={size}; expected fps > 0 and a positive (width, height)")
        self.size = (int(size[0]), int(size[1]))
        self.frames = 0
        self._atomic = atomic_path(self.path)
        self._tmp = str(self._atomic.__enter__())
        self._writer = None
        try:  # until __init__ returns, no __exit__ will clean up: Ctrl-C while FFmpeg opens must not leave the file
            self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*code), float(fps), self.size)
            if not self._writer.isOpened():
                raise InputError(f"OpenCV could not open a {code} writer for {self.path.name!r}; expected .mp4 or .avi")
        except BaseException:
            self.abort()
            raise

    def write(self, frame: np.ndarray) -> None:
        if frame.shape[:2] != (self.size[1], self.size[0]) or frame.ndim != 3 or frame.shape[2] != 3:
            raise InputError(f"received a frame of shape {frame.shape}; expected {self.size[1]}x{self.size[0]}x3 BGR")
        self._writer.write(frame)
        self.frames += 1

    def commit(self) -> Path:
        """Finish the file and move it to ``path``."""
        self._writer.release()
        self._atomic.__exit__(None, None, None)
        return self.path

    def abort(self) -> None:
        """Drop the partial file."""
        if self._writer is not None:
            self._writer.release()
        self._atomic.__exit__(_Aborted, _Aborted(), None)  # removes the temporary file
        log.debug("removed partial video %s", self._tmp)

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()
