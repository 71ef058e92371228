"""Reading frames (images, folders, %d patterns, video files, cameras) and writing results atomically.

``open_source(uri)`` opens every input; ``open_sink(path, ...)`` every video or image-sequence output.
"""

from __future__ import annotations

from .frames import CHANNEL_ORDERS, split_alpha, to_bgr
from .sinks import (
    VIDEO_OUTPUTS,
    ImageSequenceSink,
    VideoOptions,
    VideoSink,
    check_image_suffix,
    check_sink,
    encode_image,
    is_sequence_output,
    open_sink,
    output_error,
    refuse_overwriting,
    write_image,
)
from .sources import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    Camera,
    ImageFiles,
    VideoFile,
    decode_image,
    is_pattern,
    list_images,
    open_source,
    read_image,
)

__all__ = [
    "CHANNEL_ORDERS",
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "VIDEO_OUTPUTS",
    "Camera",
    "ImageFiles",
    "ImageSequenceSink",
    "VideoFile",
    "VideoOptions",
    "VideoSink",
    "decode_image",
    "encode_image",
    "is_pattern",
    "is_sequence_output",
    "list_images",
    "open_sink",
    "check_sink",
    "check_image_suffix",
    "open_source",
    "output_error",
    "read_image",
    "refuse_overwriting",
    "split_alpha",
    "to_bgr",
    "write_image",
]
