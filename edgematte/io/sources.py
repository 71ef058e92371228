"""Frame sources: image files and folders, video files, cameras. Frames are uint8 HxWx3 BGR.

``open_source(uri)`` dispatches: an int or digit string is a camera index, an existing folder
is an image folder, an image suffix is one image, anything else is a video file (or a
device path such as ``/dev/video0``). End of stream ends the iteration.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InputError

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "list_images",
    "read_image",
    "VideoSource",
    "ImageSource",
    "open_source",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")

PathLike = Union[str, "os.PathLike[str]"]


def list_images(inputs: Sequence[PathLike]) -> List[Path]:
    """Image files named in ``inputs``, folders expanded (sorted, non-recursive)."""
    found: List[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"received input {str(path)!r}, which does not exist; expected an image file or a folder")
    return found


def read_image(path: PathLike) -> np.ndarray:
    """The image at ``path`` as uint8 HxWx3 BGR (grey and alpha channels are converted)."""
    import cv2

    data = np.fromfile(str(path), dtype=np.uint8)  # works for non-ASCII paths, unlike cv2.imread
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputError(f"could not decode {str(path)!r}; expected an image OpenCV reads ({', '.join(IMAGE_SUFFIXES)})")
    return image


class VideoSource:
    """Frames of a video file or a camera (``device`` int index or a path), in order.

    ``fps`` (float, 0 when unknown), ``size`` (width, height) and ``frame_count`` (None for
    cameras and when the container does not say) are known after construction.
    """

    def __init__(self, device: Union[int, PathLike]) -> None:
        import cv2

        self.is_camera = isinstance(device, int)
        self.name = f"camera {device}" if self.is_camera else str(device)
        if not self.is_camera and not Path(device).exists():
            raise InputError(f"received video {self.name!r}, which does not exist; expected a video file or device")
        self._capture = cv2.VideoCapture(device if self.is_camera else str(device))
        if not self._capture.isOpened():
            self._capture.release()
            raise InputError(_unopened(self.name, self.is_camera))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.size = (int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count: Optional[int] = count if count > 0 and not self.is_camera else None
        self._frames = 0

    def read(self) -> Optional[np.ndarray]:
        """The next frame, or None at the end of the stream."""
        ok, frame = self._capture.read()
        if not ok:
            if self.is_camera and self._frames == 0:
                raise InputError(_unopened(self.name, True))
            if self.is_camera:
                log.warning("%s stopped delivering frames (unplugged?)", self.name)
            return None
        self._frames += 1
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> "VideoSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageSource:
    """Frames from image files (a file or a folder), in sorted order; ``paths`` lists them."""

    def __init__(self, inputs: Sequence[PathLike]) -> None:
        self.paths = list_images(inputs)
        self.name = ", ".join(str(p) for p in inputs)
        self.fps = 0.0
        self.frame_count: Optional[int] = len(self.paths)
        self.size: Optional[Tuple[int, int]] = None
        self.is_camera = False

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield read_image(path)

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(uri: Union[int, PathLike]) -> Union[VideoSource, ImageSource]:
    """A camera index, an image folder, an image file, or a video file/device path."""
    if isinstance(uri, int) or (isinstance(uri, str) and uri.isdigit()):
        return VideoSource(int(uri))
    path = Path(uri).expanduser()
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource([path])
    return VideoSource(path)


def _unopened(name: str, is_camera: bool) -> str:
    if is_camera:
        return (
            f"{name} could not be opened or gave no frame; expected a connected camera "
            "(is it plugged in, used by another program, or readable by this user?), or a video file path"
        )
    return f"could not open {name!r} as a video; expected a file OpenCV can decode ({', '.join(VIDEO_SUFFIXES)})"
