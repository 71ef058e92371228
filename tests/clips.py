"""Real media files made with PyAV for the I/O and CLI tests, and probes that read them back.

Clips show a red disc moving over blue: foreground for tests/assets/tiny_seg.onnx
(alpha = sigmoid(20 (R - B))). Audio is a 440 Hz tone.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np


def read_frames(path, count: int, size=None, interpolation=None) -> List[np.ndarray]:
    """Up to ``count`` frames of the video at ``path`` (uint8 HxWx3 BGR, OpenCV's decoder), resized to ``size``
    (w, h) when given (default INTER_CUBIC); skips the test when none decodes."""
    import cv2
    import pytest

    capture = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        resize = size is not None
        frames.append(cv2.resize(frame, size, interpolation=interpolation or cv2.INTER_CUBIC) if resize else frame)
    capture.release()
    if not frames:
        pytest.skip(f"{path} does not decode here")
    return frames


def disc_frame(i: int, size=(64, 48)) -> np.ndarray:
    """Frame ``i``: uint8 HxWx3 BGR, a red disc at x = 16 + 3 i over blue."""
    import cv2

    frame = np.empty((size[1], size[0], 3), np.uint8)
    frame[...] = (255, 0, 0)
    cv2.circle(frame, (16 + 3 * i, size[1] // 2), size[1] // 4, (0, 0, 255), -1)
    return frame


def write_clip(
    path,
    *,
    frames: int = 10,
    size=(64, 48),
    fps: int = 10,
    codec: str = "libx264",
    audio: Optional[str] = "aac",
    audio_seconds: Optional[float] = None,
) -> Path:
    """A video of ``frames`` disc frames (+ a mono tone as long as the video unless ``audio_seconds``)."""
    import av

    path = Path(path)
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        sound = None
        if audio:
            rate = 48000 if audio in ("libopus", "libvorbis", "vorbis") else 44100
            sound = container.add_stream(audio, rate=rate)
            sound.layout = "mono"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(disc_frame(i, size), format="bgr24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if sound is not None:
            seconds = frames / fps if audio_seconds is None else audio_seconds
            samples = int(seconds * sound.codec_context.sample_rate)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / sound.codec_context.sample_rate)).astype(
                np.float32
            )
            step = 1024
            resampler = av.AudioResampler(
                format=sound.codec_context.format.name, layout="mono", rate=sound.codec_context.sample_rate
            )
            for start in range(0, samples, step):
                chunk = av.AudioFrame.from_ndarray(tone[None, start : start + step], format="flt", layout="mono")
                chunk.sample_rate = sound.codec_context.sample_rate
                chunk.pts = start
                chunk.time_base = Fraction(1, sound.codec_context.sample_rate)
                for resampled in resampler.resample(chunk):
                    for packet in sound.encode(resampled):
                        container.mux(packet)
            for packet in sound.encode(None):
                container.mux(packet)
    return path


def probe(path) -> Dict:
    """Codecs, stream counts, decoded video frame count and audio duration (s) of a media file."""
    import av

    with av.open(str(path)) as container:
        info = {
            "video_codecs": [s.codec_context.name for s in container.streams.video],
            "audio_codecs": [s.codec_context.name for s in container.streams.audio],
            "streams": len(container.streams),
            "fps": float(container.streams.video[0].average_rate or 0) if container.streams.video else 0.0,
        }
        info["frames"] = sum(1 for _ in container.decode(video=0)) if container.streams.video else 0
    info["audio_seconds"] = audio_seconds(path) if info["audio_codecs"] else 0.0
    return info


def audio_seconds(path) -> float:
    """Seconds of decoded audio samples in the first audio stream (priming samples skipped by FFmpeg)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def decode_frames(path, fmt: str = "bgr24", decoder: Optional[str] = None) -> List[np.ndarray]:
    """Every video frame as an array in ``fmt``; ``decoder`` names an FFmpeg decoder (libvpx-vp9 keeps alpha)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if decoder is None:
            return [frame.to_ndarray(format=fmt) for frame in container.decode(stream)]
        context = av.codec.CodecContext.create(decoder, "r")
        return [frame.to_ndarray(format=fmt) for packet in container.demux(stream) for frame in context.decode(packet)]
