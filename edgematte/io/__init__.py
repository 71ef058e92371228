"""Reading frames (images, folders, video files, cameras) and writing results atomically."""

from __future__ import annotations

from .sinks import FOURCC, VideoSink, write_image
from .sources import IMAGE_SUFFIXES, VIDEO_SUFFIXES, ImageSource, VideoSource, list_images, open_source, read_image

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "FOURCC",
    "ImageSource",
    "VideoSource",
    "VideoSink",
    "list_images",
    "open_source",
    "read_image",
    "write_image",
]
