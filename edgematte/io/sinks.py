"""Writers: images, image sequences and videos (PyAV/FFmpeg), each complete or not at all.

``open_sink(path, fps, size, alpha=...)`` picks the writer by the output path:

=========================  ==========================  =====================================
output                     opaque (``alpha=False``)    with alpha (``alpha=True``)
=========================  ==========================  =====================================
``.mp4 .m4v .mkv .avi``    H.264 yuv420p (libx264)     refused (no alpha in these)
``.mov``                   H.264 yuv420p               ProRes 4444 with alpha (prores_ks)
``.webm``                  VP9 yuv420p (libvpx-vp9)    VP9 with alpha, yuva420p
``%d`` pattern or folder   PNG per frame               RGBA PNG per frame
=========================  ==========================  =====================================

A video is encoded into a temporary file beside the output (``edgematte.files.atomic_path``)
and renamed over it only after the trailer is written; any failure (encoder, muxer, ENOSPC,
EIO) raises :class:`~edgematte.errors.OutputError` naming the user's path and the cause, and
the temporary file is removed. An image sequence is written into a temporary folder and moved into
place at the end (:class:`ImageSequenceSink`). A video's audio is copied packet for packet when the output
container takes its codec, else re-encoded (AAC; Opus in WebM); see :meth:`VideoSink.add_audio`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InputError, OutputError
from ..files import PathLike, atomic_path, user_path
from .sources import IMAGE_SUFFIXES, frame_name, is_pattern, pattern_regex

__all__ = [
    "VIDEO_OUTPUTS",
    "VideoOptions",
    "VideoSink",
    "ImageSequenceSink",
    "open_sink",
    "check_sink",
    "check_image_suffix",
    "write_image",
    "encode_image",
    "output_error",
    "refuse_overwriting",
    "is_sequence_output",
    "ODD_SIZES",
]

log = logging.getLogger(__name__)

#: video output suffix -> FFmpeg container format
VIDEO_OUTPUTS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
_ALPHA_OUTPUTS = (".webm", ".mov", ".mkv")
_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "an input/output error (a failing disk or a removed drive?)",
    errno.ENOENT: "its folder does not exist",
    errno.ENOTDIR: "a part of its folder path is a file",
    errno.EISDIR: "it is a folder",
}


def output_error(path: PathLike, exc: BaseException) -> OutputError:
    """An OutputError naming ``path`` (the user's, never the temporary file) and the plain cause of ``exc``."""
    number = getattr(exc, "errno", None)
    cause = _CAUSES.get(number) or getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return OutputError(f"could not write {str(path)!r}: {cause}")


def refuse_overwriting(inputs: Iterable[PathLike], outputs: Iterable[Optional[PathLike]]) -> None:
    """InputError when an output is one of the inputs (same file after resolving links) or two outputs coincide."""
    sources = [Path(p) for p in inputs]
    seen: List[Path] = []
    for output in outputs:
        if output is None:
            continue
        target = user_path(output)
        target = target.parent if is_pattern(target) else target  # a frame pattern writes into its folder
        for source in sources:
            if _same_file(source, target):
                raise InputError(
                    f"received output {str(output)!r}, which is the input {str(source)!r}; "
                    "expected another file (writing it would destroy the input)"
                )
        for other in seen:
            if _same_file(other, target):
                raise InputError(f"received the output {str(output)!r} twice; expected a different file for each")
        seen.append(target)


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return user_path(a).resolve() == user_path(b).resolve()


def check_image_suffix(suffix: str, *, alpha: bool) -> None:
    """InputError when images with ``alpha`` cannot be written with ``suffix`` (JPEG and BMP have no alpha)."""
    if alpha and suffix.lower() in (".jpg", ".jpeg", ".bmp"):
        raise InputError(
            f"received {suffix!r} for an image with alpha; expected a .png, .webp or .tif output, or a background"
        )


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """``image`` (uint8 HxW, HxWx3 BGR or HxWx4 BGRA) encoded by ``suffix`` (".png", ".jpg", ...)."""
    import cv2

    check_image_suffix(suffix, alpha=image.ndim == 3 and image.shape[2] == 4)
    try:
        ok, encoded = cv2.imencode(suffix, image)
    except cv2.error:
        ok = False
    if not ok:
        raise InputError(f"could not encode an image as {suffix!r}; expected one of {', '.join(IMAGE_SUFFIXES)}")
    return encoded.tobytes()


def write_image(path: PathLike, image: np.ndarray) -> Path:
    """Encode ``image`` by the suffix of ``path`` and write it atomically; OutputError when writing fails."""
    path = Path(path)
    data = encode_image(image, path.suffix)
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise output_error(path, exc) from None
    return path


#: what VideoOptions.odd_size may say
ODD_SIZES = ("pad", "crop")


@dataclass(frozen=True)
class VideoOptions:
    """Encoder settings: ``crf`` (quality, lower is better; H.264 default 18, VP9 31) or ``bitrate``
    (bits/s, e.g. 4_000_000), the x264 ``preset`` (speed vs size), and ``encoder``: another FFmpeg
    encoder for opaque outputs instead of libx264 (e.g. ``h264_nvenc`` on NVIDIA GPUs; it gets
    ``bitrate`` but not ``crf``/``preset``). ``odd_size``: what a 4:2:0 encoder (H.264), which needs an
    even width and height, gets from frames with an odd side: ``"pad"`` (default, as ffmpeg users do it:
    one more column or row repeating the last) or ``"crop"`` (the last column or row dropped); either is
    said once in an info log line."""

    crf: Optional[int] = None
    bitrate: Optional[int] = None
    preset: str = "veryfast"
    encoder: Optional[str] = None
    odd_size: str = "pad"

    def __post_init__(self) -> None:
        if self.odd_size not in ODD_SIZES:
            raise InputError(f"received odd_size={self.odd_size!r}; expected one of {ODD_SIZES}")
        if self.crf is not None and self.bitrate is not None:
            raise InputError("received both crf and bitrate; expected one of them")
        if self.crf is not None and not 0 <= self.crf <= 63:
            raise InputError(f"received crf={self.crf}; expected 0..51 (H.264) or 0..63 (VP9)")
        if self.bitrate is not None and self.bitrate < 1000:
            raise InputError(f"received bitrate={self.bitrate}; expected bits per second, e.g. 4M")


def _codec(suffix: str, alpha: bool, options: VideoOptions, path: Path) -> Tuple[str, str, dict]:
    """(encoder, pixel format, encoder options) for an output suffix; InputError where FFmpeg would refuse them."""
    if suffix not in VIDEO_OUTPUTS:
        raise InputError(
            f"received video output {str(path)!r}; expected a suffix among {sorted(VIDEO_OUTPUTS)}, "
            "a %d pattern or a folder"
        )
    codec, pix_fmt, codec_options = _choose_codec(suffix, alpha, options, path)
    _check_encoder(codec)
    if codec == "libx264" and options.crf is not None and options.crf > 51:
        raise InputError(f"received crf={options.crf} for H.264; expected 0..51")
    if codec == "libx264" and options.preset not in X264_PRESETS:
        raise InputError(f"received the x264 preset {options.preset!r}; expected one of {', '.join(X264_PRESETS)}")
    return codec, pix_fmt, codec_options


#: x264's speed presets, fastest first
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


def _check_encoder(codec: str) -> None:
    """InputError when this FFmpeg has no encoder ``codec``."""
    import av

    try:
        av.codec.Codec(codec, "w")
    except ValueError as exc:  # av.codec.codec.UnknownCodecError
        raise InputError(f"received encoder {codec!r}, which this FFmpeg lacks ({exc}); expected libx264") from None


def _choose_codec(suffix: str, alpha: bool, options: VideoOptions, path: Path) -> Tuple[str, str, dict]:
    if alpha and suffix not in _ALPHA_OUTPUTS:
        raise InputError(
            f"received {str(path)!r} for a video with alpha; expected .webm (VP9), .mov (ProRes 4444), "
            "a %d pattern or a folder (PNG), or a background (--background) or --matte-only for an opaque video"
        )
    if suffix == ".mov" and alpha:
        return "prores_ks", "yuva444p10le", {"profile": "4444", "vendor": "apl0"}
    if suffix in (".webm", ".mkv") and (alpha or suffix == ".webm"):
        crf = {} if options.bitrate else {"crf": str(31 if options.crf is None else options.crf), "b": "0"}
        speed = {"deadline": "realtime", "cpu-used": "8"} if options.preset in _FAST_PRESETS else {"cpu-used": "4"}
        return "libvpx-vp9", "yuva420p" if alpha else "yuv420p", {"row-mt": "1", **speed, **crf}
    if options.encoder not in (None, "libx264"):
        return options.encoder, "yuv420p", {}
    crf = {} if options.bitrate else {"crf": str(18 if options.crf is None else options.crf)}
    return "libx264", "yuv420p", {"preset": options.preset, **crf}


_FAST_PRESETS = X264_PRESETS[:5]


def _can_copy(container_format: str, template) -> bool:
    """Whether ``container_format`` takes the packets of the audio stream ``template`` as they are.

    Asked of FFmpeg itself: a header is written into memory with a copy of the stream
    (the codec lists of the muxers accept codecs their headers then refuse, e.g. Vorbis in MP4).
    """
    import io

    import av

    try:
        with av.open(io.BytesIO(), "w", format=container_format) as probe:
            _add_stream_like(probe, template)
            probe.start_encoding()
        return True
    except (av.error.FFmpegError, ValueError, OSError):
        return False


def _even_size(size: Tuple[int, int], odd_size: str) -> Tuple[int, int]:
    """(width, height) rounded up ("pad") or down ("crop") to even numbers (at least 2)."""
    if odd_size == "pad":
        return size[0] + size[0] % 2, size[1] + size[1] % 2
    return max(2, size[0] - size[0] % 2), max(2, size[1] - size[1] % 2)


def _to_size(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``image`` cropped to ``size`` (width, height) from the top left, or padded at the right and bottom
    by repeating its last column and row: a new C-contiguous array."""
    width, height = size
    h, w = image.shape[:2]
    if width <= w and height <= h:
        return np.ascontiguousarray(image[:height, :width])
    pad = ((0, max(0, height - h)), (0, max(0, width - w))) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image[:height, :width], pad, mode="edge")


def _add_stream_like(container, template):
    """A stream in ``container`` that copies ``template``'s packets: ``add_stream_from_template`` (PyAV 14+),
    else ``add_stream(template=...)`` (PyAV 12 and 13, the last with wheels for Python 3.8)."""
    add = getattr(container, "add_stream_from_template", None)
    return add(template) if add is not None else container.add_stream(template=template)


def _open_output(path: Path):
    """The temporary file a video is muxed into (a Python file object, so every write error surfaces here)."""
    return open(path, "wb")


class _Aborted(Exception):
    """Thrown into the atomic writer to drop the partial file."""


class _Worker:
    """Runs submitted calls in order on one thread, so encoding overlaps the caller's next frame.

    The first error of a call is raised by the next :meth:`submit` or by :meth:`finish`; later
    calls are skipped. FFmpeg releases the GIL while it encodes.
    """

    def __init__(self, depth: int = 4) -> None:
        self._queue: "queue.Queue" = queue.Queue(maxsize=depth)
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="edgematte-encoder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            if self._error is None:
                try:
                    task()
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def submit(self, task: Callable[[], None]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(task)

    def finish(self) -> None:
        """Wait for every submitted call; raise the first error."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Skip what is queued and end the thread."""
        self._error = self._error or _Aborted()
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class VideoSink:
    """Encode frames into a video file at ``path`` (see the module table for codecs).

    ``fps`` (float or Fraction) and ``size`` (width, height) fix the stream. ``time_base``
    (a Fraction) lets :meth:`write` take the source's own timestamps, which keeps copied audio
    in sync; without it frames are numbered 0, 1, 2, ... at ``fps``. Frames are uint8 HxW
    (grey), HxWx3 BGR or HxWx4 BGRA. Use as a context manager: a clean exit finishes the file
    and renames it to ``path``; an exception drops it.
    """

    def __init__(
        self,
        path: PathLike,
        fps: Union[float, Fraction],
        size: Tuple[int, int],
        *,
        alpha: bool = False,
        options: Optional[VideoOptions] = None,
        time_base: Optional[Fraction] = None,
    ) -> None:
        import av

        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if not fps or fps <= 0 or size[0] < 1 or size[1] < 1:
            raise InputError(f"received fps={fps} size={size}; expected fps > 0 and a positive (width, height)")
        options = options or VideoOptions()
        codec, pix_fmt, codec_options = _codec(suffix, alpha, options, self.path)
        self.size = (int(size[0]), int(size[1]))
        self._even = None  # (width, height) the frames are padded or cropped to for a 4:2:0 encoder
        if pix_fmt == "yuv420p" and codec != "libvpx-vp9" and (size[0] % 2 or size[1] % 2):
            self._even = _even_size(self.size, options.odd_size)
            log.info(
                "%s: frames of %dx%d %s to %dx%d (%s needs an even width and height; %s)",
                self.path.name, *self.size, "padded" if options.odd_size == "pad" else "cropped", *self._even, codec,
                "odd_size='crop' crops instead" if options.odd_size == "pad" else "odd_size='pad' pads instead",
            )
        self.frames = 0
        self._audio: List[Tuple[object, Optional[Callable]]] = []  # (output stream, flush) per audio stream
        self._atomic = atomic_path(self.path)
        self._file = self._container = self._worker = None
        try:
            tmp = self._atomic.__enter__()
            self._file = _open_output(tmp)
            self._container = av.open(self._file, "w", format=VIDEO_OUTPUTS[suffix])
            rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001000)
            self.stream = self._container.add_stream(codec, rate=rate)
            self.stream.width, self.stream.height = self._even or self.size
            self.stream.pix_fmt = pix_fmt
            self.stream.options = codec_options
            if options is not None and options.bitrate:
                self.stream.bit_rate = options.bitrate
            self.time_base = time_base or Fraction(1) / rate
            self.stream.codec_context.time_base = self.time_base
            self._worker = _Worker()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, (OSError, av.error.FFmpegError)):
                raise output_error(self.path, exc) from None
            raise

    def add_audio(self, template) -> Callable:
        """Add an audio stream like ``template`` (an input PyAV stream); returns the callable that takes its packets.

        Call before the first :meth:`write`. Packets are copied when this container takes the
        codec, else decoded and re-encoded (AAC; Opus in WebM). Their timestamps are kept, so the
        audio stays in sync with frames written with the source's timestamps.
        """
        import av

        name = template.codec_context.name
        if _can_copy(VIDEO_OUTPUTS[self.path.suffix.lower()], template):
            out = _add_stream_like(self._container, template)
            self._audio.append((out, None))

            def copy(packet) -> None:
                if packet.dts is not None:  # not the demuxer's flush packet
                    packet.stream = out
                    self._worker.submit(lambda: self._mux([packet]))

            return copy
        encoder = "libopus" if self.path.suffix.lower() == ".webm" else "aac"
        rate = 48000 if encoder == "libopus" else (template.codec_context.sample_rate or 48000)
        out = self._container.add_stream(encoder, rate=rate)
        out.layout = "stereo" if len(template.codec_context.layout.channels) >= 2 else "mono"
        resampler = av.AudioResampler(format=out.codec_context.format.name, layout=out.layout.name, rate=rate)
        log.info("re-encoding the %s audio of the input as %s for %s", name, encoder, self.path.name)

        def transcode(packet) -> None:
            frames = [None] if packet is None else packet.decode()
            for frame in frames:
                for resampled in resampler.resample(frame):
                    self._mux(out.encode(resampled))
            if packet is None:
                self._mux(out.encode(None))

        self._audio.append((out, lambda: transcode(None)))
        return lambda packet: self._worker.submit(lambda: transcode(packet))

    def write(self, image: np.ndarray, pts: Optional[int] = None) -> None:
        """Encode one frame; ``pts`` in ``time_base`` units (default: the frame number)."""
        import av

        if image.shape[:2] != (self.size[1], self.size[0]):
            raise InputError(f"received a frame of shape {image.shape}; expected {self.size[1]}x{self.size[0]}")
        layout = "gray" if image.ndim == 2 else {3: "bgr24", 4: "bgra"}[image.shape[2]]
        if self._even is not None:
            image = _to_size(image, self._even)
        frame = av.VideoFrame.from_ndarray(image, format=layout)
        frame.pts = self.frames if pts is None else pts
        frame.time_base = self.time_base
        self._worker.submit(lambda: self._mux(self.stream.encode(self._convert(frame))))
        self.frames += 1

    def _convert(self, frame):
        """A BGR ``frame`` converted for a yuv420p encoder through swscale's fast path (FAST_BILINEAR:
        the same pixels, measured byte for byte, at 720p in ~2.4 ms instead of ~5 ms); other frames go
        to the encoder as they are, which converts them itself."""
        if frame.format.name != "bgr24" or self.stream.pix_fmt != "yuv420p":
            return frame
        converted = frame.reformat(format=self.stream.pix_fmt, interpolation="FAST_BILINEAR")
        converted.pts = frame.pts
        if frame.time_base is not None:
            converted.time_base = frame.time_base
        return converted

    def _mux(self, packets: Sequence) -> None:
        import av

        try:
            for packet in packets:
                self._container.mux(packet)
        except (OSError, av.error.FFmpegError) as exc:
            raise output_error(self.path, exc) from None

    def commit(self) -> Path:
        """Flush the encoders, write the trailer and move the file to ``path``."""
        import av

        try:
            self._worker.submit(lambda: self._mux(self.stream.encode(None)))
            for _, flush in self._audio:
                if flush is not None:
                    self._worker.submit(flush)
            self._worker.finish()
            self._container.close()
            self._file.close()
            self._atomic.__exit__(None, None, None)
        except (OSError, av.error.FFmpegError) as exc:
            self.abort()
            raise output_error(self.path, exc) from None
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the partial file (errors while closing it are ignored: it is deleted anyway)."""
        if self._worker is not None:
            self._worker.stop()
        for closable in (self._container, self._file):
            if closable is not None:
                with contextlib.suppress(Exception):
                    closable.close()
        self._container = self._file = None
        with contextlib.suppress(OSError, _Aborted):
            self._atomic.__exit__(_Aborted, _Aborted(), None)  # removes the temporary file

    def __enter__(self) -> "VideoSink":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class ImageSequenceSink:
    """One image per frame, numbered 1, 2, ...: a ``%d`` pattern (``frames/%04d.png``) or a folder
    (``frame_%06d.png`` in it). Only the file name is a pattern: a ``%`` in the folder is a plain character.

    The frames are written into a temporary folder inside the destination folder
    (``.frames.PID.RANDOM.partial``) and moved into place when the sequence is complete (:meth:`commit`,
    or a clean exit of the ``with`` block), replacing the frames of an earlier sequence of the same
    pattern, those beyond the new count included. A failed or interrupted run (an error, Ctrl-C) removes
    its temporary folder, and one killed with SIGKILL leaves only that folder (removed by the CLI's next
    run, see :func:`edgematte.files.remove_stale_partials`): an earlier sequence stays whole either way,
    short of a kill during the final renames (one ``os.replace`` per frame, milliseconds in all).
    Frames are uint8 HxW, HxWx3 BGR or HxWx4 BGRA (RGBA PNG). Image sequences carry no audio.
    """

    def __init__(self, target: PathLike) -> None:
        target = Path(target)
        self.path = target
        self.folder, self.name = (target.parent, target.name) if is_pattern(target) else (target, "frame_%06d.png")
        self.suffix = Path(self.name).suffix.lower()
        if self.suffix not in IMAGE_SUFFIXES:
            raise InputError(f"received the pattern {str(target)!r}; expected an image suffix such as .png")
        self.frames = 0
        self.written: List[Path] = []  # where the frames go (in place after commit)
        self._made_folder = not self.folder.is_dir()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._staging: Optional[Path] = Path(
                tempfile.mkdtemp(prefix=f".frames.{os.getpid()}.", suffix=".partial", dir=self.folder)
            )
        except OSError as exc:
            raise output_error(target, exc) from None

    def write(self, image: np.ndarray, pts: Optional[int] = None) -> None:
        if self._staging is None:
            raise InputError(f"received a frame for {str(self.path)!r} after the sequence ended; expected none")
        name = frame_name(self.name, self.frames + 1)
        data = encode_image(image, self.suffix)
        try:
            with open(self._staging / name, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise output_error(self.folder / name, exc) from None
        self.written.append(self.folder / name)
        self.frames += 1

    def commit(self) -> Path:
        """Move the frames into place and remove the earlier sequence's other frames; returns the target."""
        if self._staging is None:
            return self.path
        regex = pattern_regex(self.name)
        mine = {path.name for path in self.written}
        try:
            for path in self.written:
                os.replace(self._staging / path.name, path)
            for entry in os.scandir(self.folder):
                if entry.name not in mine and regex.match(entry.name) and entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)  # a frame of an earlier, longer sequence
            os.rmdir(self._staging)
        except OSError as exc:
            raise output_error(self.path, exc) from None
        self._staging = None
        return self.path

    def abort(self) -> None:
        """Remove the temporary folder (and the destination folder when this sink made it and it is empty)."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
            if self._made_folder:
                with contextlib.suppress(OSError):
                    self.folder.rmdir()

    def __enter__(self) -> "ImageSequenceSink":
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


Sink = Union[VideoSink, ImageSequenceSink]


def is_sequence_output(path: PathLike) -> bool:
    """A ``%d`` pattern, an existing folder or a path ending in a separator."""
    text = str(path)
    return is_pattern(text) or Path(text).is_dir() or text.endswith(("/", os.sep))


def check_sink(path: PathLike, *, alpha: bool = False, options: Optional[VideoOptions] = None) -> None:
    """InputError now, before anything is opened, where :func:`open_sink` would refuse ``path`` for frames
    with (``alpha``) or without alpha: a suffix it does not write, alpha in a format without it, an
    encoder FFmpeg lacks or options it refuses."""
    if is_sequence_output(path):
        check_image_suffix(Path(str(path)).suffix if is_pattern(str(path)) else ".png", alpha=alpha)
        return
    _codec(Path(path).suffix.lower(), alpha, options or VideoOptions(), Path(path))


def open_sink(path: PathLike, fps: Union[float, Fraction], size: Tuple[int, int], **video: Any) -> Sink:
    """The writer for ``path``: an image sequence (pattern or folder) or a video file (see the module table).

    ``video``: :class:`VideoSink`'s keyword options (``alpha``, ``options``, ``time_base``).
    """
    if is_sequence_output(path):
        return ImageSequenceSink(path)
    return VideoSink(path, fps, size, **video)
