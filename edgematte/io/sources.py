"""Frame sources: image files, folders and %d patterns, video files (PyAV/FFmpeg), cameras (OpenCV).

``open_source(uri)`` is the one front door:

- an int, a digit string or ``/dev/video*`` is a camera (OpenCV capture);
- an existing folder, a ``%d`` pattern (``frames/%04d.png``) or an image file gives :class:`ImageFiles`
  (photos for ``matte``, an image sequence for ``video``);
- anything else is a video file or a stream URL (:class:`VideoFile`; ``rtsp://``, ``http://``, ...): local
  files open through FFmpeg's file protocol and its video and image demuxers only, URLs only for the network
  schemes of :data:`NETWORK_SCHEMES` (see :func:`ffmpeg_input`).

Frames are uint8 HxWx3 BGR from videos and cameras; :class:`ImageFiles` gives each image as
stored (grey, BGR, BGRA, 8 or 16 bit) so the matter's boundary can use its alpha and depth.
End of stream ends the iteration.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

import numpy as np

from ..errors import InputError
from ..files import user_path
from .pixels import check_pixels, image_size

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "list_images",
    "read_image",
    "decode_image",
    "is_pattern",
    "frame_name",
    "pattern_regex",
    "ImageFiles",
    "VideoFile",
    "Camera",
    "open_source",
    "ffmpeg_input",
    "NETWORK_SCHEMES",
    "VIDEO_DEMUXERS",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".gif")

PathLike = Union[str, "os.PathLike[str]"]
_PATTERN = re.compile(r"%0?(\d*)d")


def is_pattern(text: PathLike) -> bool:
    """True for a printf frame pattern such as ``frames/%04d.png`` (only the file name is a pattern)."""
    return _PATTERN.search(Path(text).name) is not None


def frame_name(name: str, number: int) -> str:
    """Frame ``number``'s file name of the pattern ``name`` (a file name, no folder): its first ``%d`` or ``%0Nd``
    becomes the number, zero-padded to N digits as FFmpeg writes it; any other ``%`` is a plain character."""
    found = _PATTERN.search(name)
    width = int(found.group(1) or 0)
    return f"{name[: found.start()]}{number:0{width}d}{name[found.end() :]}"


def pattern_regex(name: str) -> "re.Pattern[str]":
    """A regex matching the file names of the pattern ``name`` (see :func:`frame_name`); group 1 is the number."""
    found = _PATTERN.search(name)
    head, tail, width = name[: found.start()], name[found.end() :], found.group(1)
    digits = r"\d{%s}" % width if width else r"\d+"
    return re.compile(re.escape(head) + f"({digits})" + re.escape(tail) + "$")


def list_images(inputs: Sequence[PathLike], *, recursive: bool = False) -> List[Path]:
    """Image files named in ``inputs``: folders expanded (sorted; with ``recursive``, sub-folders too)."""
    found: List[Path] = []
    for item in inputs:
        path = user_path(item)
        if path.is_dir():
            walk = path.rglob("*") if recursive else path.iterdir()
            found.extend(sorted(p for p in walk if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
        elif is_pattern(path):
            found.extend(_expand_pattern(path))
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"received input {str(path)!r}, which does not exist; expected an image file or a folder")
    return found


def _expand_pattern(pattern: Path) -> List[Path]:
    """Files matching ``frame_%04d.png`` in its folder, in frame-number order."""
    regex = pattern_regex(pattern.name)
    folder = pattern.parent
    if not folder.is_dir():
        raise InputError(f"received pattern {str(pattern)!r} in a folder that does not exist; expected frames there")
    matches = [(int(m.group(1)), folder / name) for name in os.listdir(folder) for m in [regex.match(name)] if m]
    return [path for _, path in sorted(matches)]


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Encoded image bytes -> the image as stored: uint8/uint16 HxW, HxWx3 BGR or HxWx4 BGRA.

    An image above the decoded-pixel limit (:mod:`edgematte.io.pixels`) is refused, from its header
    before decoding where edgematte reads the format's header.
    """
    import cv2

    size = image_size(data)
    if size is not None:
        check_pixels(*size, name)
    buffer = np.frombuffer(data, np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if image is None:
        raise InputError(f"could not decode {name}; expected an image OpenCV reads ({', '.join(IMAGE_SUFFIXES)})")
    if size is None:
        check_pixels(image.shape[1], image.shape[0], name)
    return image


def read_image(path: PathLike, *, unchanged: bool = False) -> np.ndarray:
    """The image at ``path``: uint8 HxWx3 BGR, or as stored with ``unchanged`` (see :func:`decode_image`)."""
    from .frames import to_bgr

    try:
        data = Path(path).read_bytes()  # works for non-ASCII paths, unlike cv2.imread
    except OSError as exc:
        raise InputError(f"could not read {str(path)!r} ({exc.strerror or exc}); expected a readable image") from None
    except ValueError as exc:  # a NUL byte in the name
        raise InputError(f"received image path {str(path)!r} ({exc}); expected a file name") from None
    image = decode_image(data, repr(str(path)))
    return image if unchanged else to_bgr(image, name=repr(str(path)))


class ImageFiles:
    """Images from a file, a folder (sorted; ``recursive`` for sub-folders) or a ``%d`` pattern.

    ``paths`` lists them; iterating yields each image as stored (see :func:`read_image`). As a
    sequence it has ``fps`` 0 (the caller picks one), ``frame_count`` = len(paths) and the
    ``size`` of its first image.
    """

    is_camera = False

    def __init__(self, uri: PathLike, *, recursive: bool = False) -> None:
        self.root = user_path(uri)
        self.name = str(uri)
        self.paths = list_images([self.root], recursive=recursive)
        self.fps = 0.0
        self.frame_count: Optional[int] = len(self.paths)
        self.audio = None

    @property
    def size(self) -> Optional[Tuple[int, int]]:
        """(width, height) of the first image; None when there is none."""
        if not self.paths:
            return None
        image = read_image(self.paths[0], unchanged=True)
        return (image.shape[1], image.shape[0])

    def __iter__(self) -> Iterator[np.ndarray]:
        for path in self.paths:
            yield read_image(path, unchanged=True)

    def close(self) -> None:
        pass

    def __enter__(self) -> "ImageFiles":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: URL schemes a source may name, each with the FFmpeg protocols it may use underneath (a URL never reads local files)
NETWORK_SCHEMES: Dict[str, str] = {
    "http": "http,https,tcp,tls,crypto",
    "https": "http,https,tcp,tls,crypto",
    "rtsp": "rtsp,rtsps,rtp,srtp,udp,tcp,tls",
    "rtsps": "rtsp,rtsps,rtp,srtp,udp,tcp,tls",
    "rtmp": "rtmp,rtmps,tcp,tls",
    "rtmps": "rtmp,rtmps,tcp,tls",
    "udp": "udp",
    "srt": "srt",
}
#: FFmpeg demuxers a source may use: video containers, raw video streams and still images (never tty for
#: text, concat/hls/dash playlists, subtitles, data or devices); matched against each of a demuxer's names
VIDEO_DEMUXERS = (
    "mov", "mp4", "matroska", "webm", "avi", "mpeg", "mpegts", "mpegtsraw", "mpegvideo", "m4v", "h264", "hevc",
    "vvc", "av1", "obu", "ivf", "flv", "live_flv", "asf", "ogg", "nut", "mxf", "dv", "rm", "wtv", "vc1",
    "yuv4mpegpipe", "mjpeg", "gif", "apng", "image2", "png_pipe", "jpeg_pipe", "bmp_pipe", "tiff_pipe",
    "webp_pipe", "gif_pipe", "jpegls_pipe", "j2k_pipe", "pam_pipe", "pbm_pipe", "pgm_pipe", "ppm_pipe",
    "dpx_pipe", "exr_pipe", "qoi_pipe", "sgi_pipe", "sunrast_pipe", "jpegxl_pipe",
)
#: ... and those a stream URL may need besides (HLS and DASH over HTTP, RTSP)
STREAM_DEMUXERS = ("hls", "dash", "rtsp")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PROTOCOL_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+.,_-]*):")


def ffmpeg_input(path: PathLike) -> Tuple[str, Dict[str, str]]:
    """What FFmpeg is given for a source: (url, options of ``av.open``), or InputError.

    A local path (or a ``file://`` URL) opens through FFmpeg's file protocol only (``file:`` + its absolute
    path, so a name such as ``concat:...`` or ``subfile:...`` is just a file name) and only with
    :data:`VIDEO_DEMUXERS`. A URL opens only when its scheme is one of :data:`NETWORK_SCHEMES`, with that
    scheme's protocols (never ``file``) and the video demuxers plus :data:`STREAM_DEMUXERS`.
    """
    text = str(path)
    if text.lower().startswith("file://"):  # a local path written as a URL: the local rules apply
        from urllib.parse import unquote, urlsplit

        text = path = unquote(urlsplit(text).path)
    if "://" in text:
        found = _URL.match(text)
        scheme = found.group(1).lower() if found else None
        if scheme not in NETWORK_SCHEMES:
            what = f"a {scheme}:// URL" if scheme else "no URL edgematte opens"
            raise InputError(
                f"received {text!r}, {what}; expected a local file (its path) or a URL of {', '.join(NETWORK_SCHEMES)}"
            )
        demuxers = ",".join(VIDEO_DEMUXERS + STREAM_DEMUXERS)
        return text, {"protocol_whitelist": NETWORK_SCHEMES[scheme], "format_whitelist": demuxers}
    local = user_path(path)
    try:
        exists, regular = local.exists(), local.is_file()
    except (OSError, ValueError):  # a name the OS refuses (too long, NUL)
        exists = regular = False
    if not exists:
        prefix = _PROTOCOL_PREFIX.match(text)
        if prefix:
            raise InputError(
                f"received {text!r}, which names FFmpeg's {prefix.group(1)!r} protocol and no file; expected a local "
                f"file (its path) or a URL of {', '.join(NETWORK_SCHEMES)}"
            )
        raise InputError(f"received video {text!r}, which does not exist; expected a video file or device")
    if not regular:
        raise InputError(f"received video {text!r}, which is a folder or a device; expected a video file")
    options = {"protocol_whitelist": "file", "format_whitelist": ",".join(VIDEO_DEMUXERS)}
    return "file:" + os.path.abspath(local), options


class VideoFile:
    """Frames of a video file or stream URL (see :func:`ffmpeg_input`), decoded with PyAV: uint8 HxWx3 BGR,
    or HxWx4 BGRA when the video carries alpha (``has_alpha``: ProRes 4444, VP9 with alpha, PNG/QuickTime
    RLE with alpha, ...; VP9's alpha plane is decoded with libvpx-vp9, since FFmpeg's own VP9 decoder drops it).

    ``fps`` (0 when unknown), ``size`` (width, height), ``frame_count`` (None when the container
    does not say; estimated from the duration for Matroska), ``audio`` (the first audio stream or None)
    and ``time_base`` come from the container; ``pts`` is the timestamp of the frame last yielded, in
    ``time_base`` units, made strictly increasing (timestamps that go back are re-stamped, with a warning).
    At the end, a stream short of the frames its container announced logs a warning with both numbers.
    Set ``on_audio`` to a callable to receive the audio packets in file order (for remuxing).
    ``pace``: yield frames no faster than their timestamps (a file standing in for a camera).
    """

    is_camera = False

    def __init__(self, path: PathLike, *, pace: bool = False) -> None:
        import av

        self.name = str(path)
        url, options = ffmpeg_input(path)
        try:
            self.container = av.open(url, options=options)
        except (av.error.FFmpegError, OSError) as exc:
            # EINVAL (PyAV 12's av.error.ValueError, ArgumentError since): above all, a demuxer off the allow-list
            # (tty for .txt, concat, hls)
            if isinstance(exc, av.error.FFmpegError) and exc.errno == errno.EINVAL:
                raise InputError(
                    f"received {self.name!r}, which FFmpeg does not read as a video or an image; expected a video "
                    f"file ({', '.join(VIDEO_SUFFIXES)}, ...), an image, or a stream URL"
                ) from None
            raise InputError(f"could not open {self.name!r} as a video ({_cause(exc)}); expected a file FFmpeg reads")
        if not self.container.streams.video:
            self.container.close()
            raise InputError(f"received {self.name!r}, which has no video stream; expected a video file")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        self.audio = self.container.streams.audio[0] if self.container.streams.audio else None
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else 0.0
        self.size = (self.stream.codec_context.width, self.stream.codec_context.height)
        try:
            check_pixels(*self.size, f"video {self.name!r}")
        except InputError:
            self.container.close()
            raise
        self.frame_count: Optional[int] = self.stream.frames or None
        self._count_exact = self.frame_count is not None  # counted by the container, else estimated from durations
        if self.frame_count is None and self.fps:
            if self.stream.duration:
                self.frame_count = round(float(self.stream.duration * self.stream.time_base) * self.fps)
            elif self.container.duration:  # Matroska/WebM: only the container's duration, in microseconds
                self.frame_count = round(self.container.duration / 1e6 * self.fps)
        self.time_base = self.stream.time_base
        pix_fmt = self.stream.codec_context.pix_fmt or ""
        vp9_alpha = self.stream.codec_context.name == "vp9" and self.stream.metadata.get("alpha_mode") == "1"
        self.has_alpha = vp9_alpha or pix_fmt.startswith(("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya"))
        self._decoder = av.CodecContext.create("libvpx-vp9", "r") if vp9_alpha else None
        self.pts: Optional[int] = None
        self.on_audio: Optional[Callable] = None
        self.pace = pace
        self._frames: Optional[Iterator] = None  # the running prefetch, stopped by close()
        self._restamped = False

    def __iter__(self) -> Iterator[np.ndarray]:
        self._frames = _prefetch(self._decoded())
        start = first = None
        decoded = 0
        for kind, item, pts, seconds in self._frames:
            if kind == "audio":
                self.on_audio(item)
                continue
            if self.pace and seconds is not None:
                if start is None:
                    start, first = time.monotonic(), seconds
                time.sleep(max(0.0, start + seconds - first - time.monotonic()))
            self.pts = pts
            decoded += 1
            yield item
        self._check_complete(decoded)

    def _check_complete(self, decoded: int) -> None:
        """Warn when the stream ended short of the frames its container announced (a truncated or cut file).

        A count the container stores is taken exactly; one estimated from a duration (Matroska, MPEG-TS) is
        allowed 2 frames or 2% of slack.
        """
        announced = self.frame_count
        if announced is None:
            return
        slack = 0 if self._count_exact else max(2, round(0.02 * announced))
        if decoded < announced - slack and _first_time("short", self.name):
            about = "" if self._count_exact else "about "
            log.warning("%r ended after %d of the %s%d frames its container announced (a truncated or damaged file?)",
                        self.name, decoded, about, announced)

    def _decoded(self) -> Iterator[tuple]:
        """("video", BGR frame, pts, seconds) and ("audio", packet, None, None) in file order."""
        import av

        streams = [self.stream] + ([self.audio] if self.audio is not None and self.on_audio else [])
        video, audio = _Monotonic(), _Monotonic()  # timestamps that go back are re-stamped to run on
        step = max(1, round(1 / (self.fps * self.time_base))) if self.fps and self.time_base else 1
        frames = 0
        try:
            for packet in self.container.demux(*streams):
                if packet.stream is not self.stream:
                    if packet.dts is not None:
                        shift = audio(packet.dts, packet.duration or 1) - packet.dts
                        packet.dts, packet.pts = packet.dts + shift, None if packet.pts is None else packet.pts + shift
                        self._warn_restamped(audio, float(packet.dts * packet.time_base))
                    yield "audio", packet, None, None
                    continue
                layout = "bgra" if self.has_alpha else "bgr24"
                for frame in packet.decode() if self._decoder is None else self._decoder.decode(packet):
                    pts = None if frame.pts is None else video(frame.pts, step)
                    seconds = None if pts is None else float(pts * self.time_base)
                    self._warn_restamped(video, seconds)
                    frames += 1
                    yield "video", frame.to_ndarray(format=layout), pts, seconds
        except av.error.FFmpegError as exc:
            # PyAV 12 to 14 (FFmpeg 6 and 7.1) report a cut mp4's end as invalid data where PyAV 18 ends the
            # stream: after frames, short of those announced, it is that end (__iter__ then warns with both counts)
            announced = self.frame_count
            if isinstance(exc, av.error.InvalidDataError) and 0 < frames and announced and frames < announced:
                log.debug("%r: %s after %d frames, taken as its end", self.name, _cause(exc), frames)
                return
            raise InputError(f"could not decode {self.name!r} ({_cause(exc)}); expected an undamaged video") from None

    def _warn_restamped(self, stamps: "_Monotonic", seconds: Optional[float]) -> None:
        """One warning per file (per process: a looping background video warns once), at the first timestamp
        that went back."""
        if stamps.jumps and not self._restamped:
            self._restamped = True
            if not _first_time("restamped", self.name):
                return
            at = "" if seconds is None else f" at {seconds:.3f} s"
            log.warning("%r: timestamps go back%s (concatenated files, or a timestamp wrap?); re-stamped to run on",
                        self.name, at)

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()  # stops the decoding thread before the container goes
        self.container.close()

    def __enter__(self) -> "VideoFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Camera:
    """Frames (uint8 HxWx3 BGR) of a camera (an index or a device path), captured with OpenCV."""

    is_camera = True
    audio = None
    frame_count = None

    def __init__(self, device: Union[int, str]) -> None:
        import cv2

        self.name = f"camera {device}"
        # Linux cameras are V4L2 devices: no fallback to FFmpeg's, which throws for a missing index, and where another
        # C++ runtime is loaded (GStreamer's in the same process) that exception aborts the process
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        self._capture = cv2.VideoCapture(device, api)
        if not self._capture.isOpened():
            self._capture.release()
            raise InputError(_unopened(self.name))
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.size = (
            int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        frames = 0
        while True:
            ok, frame = self._capture.read()
            if not ok:
                if frames == 0:
                    raise InputError(_unopened(self.name))
                log.warning("%s stopped delivering frames (unplugged?)", self.name)
                return
            frames += 1
            yield frame

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> "Camera":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_WARNED: Set[Tuple[str, str]] = set()


def _first_time(kind: str, name: str) -> bool:
    """True the first time this process warns of ``kind`` for the file ``name`` (a background video loops)."""
    if (kind, name) in _WARNED:
        return False
    _WARNED.add((kind, name))
    return True


class _Monotonic:
    """Timestamps of one stream made strictly increasing: after a jump back (files concatenated, a 33-bit
    MPEG-TS wrap), this and later timestamps are shifted to run on one ``step`` after the last."""

    def __init__(self) -> None:
        self.last: Optional[int] = None
        self.offset = 0
        self.jumps = 0

    def __call__(self, stamp: int, step: int) -> int:
        stamp += self.offset
        if self.last is not None and stamp <= self.last:
            self.offset += self.last + step - stamp
            stamp = self.last + step
            self.jumps += 1
        self.last = stamp
        return stamp


Source = Union[ImageFiles, VideoFile, Camera]


def open_source(uri: Union[int, PathLike], *, recursive: bool = False, pace: bool = False) -> Source:
    """A camera (int, digit string, /dev/video*), image files (folder, %d pattern, image) or a video file."""
    if isinstance(uri, int) or (isinstance(uri, str) and uri.isdigit()):
        return Camera(int(uri))
    if str(uri).startswith("/dev/video"):
        return Camera(str(uri))
    if "://" in str(uri):
        return VideoFile(str(uri), pace=pace)
    path = user_path(uri)
    if path.is_dir() or is_pattern(path) or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFiles(path, recursive=recursive)
    return VideoFile(path, pace=pace)


def _prefetch(items: Iterator, depth: int = 4) -> Iterator:
    """``items`` produced on a helper thread ``depth`` ahead of the consumer (FFmpeg decodes
    and converts without the GIL, so decoding overlaps the consumer's work). Errors are raised
    in the consumer; closing the generator stops the helper."""
    import queue
    import threading

    buffer: "queue.Queue" = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def offer(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer((item, None)):
                    return
            offer((end, None))
        except BaseException as exc:  # handed to the consumer
            offer((end, exc))

    thread = threading.Thread(target=produce, name="edgematte-decoder", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if error is not None:
                raise error
            if item is end:
                return
            yield item
    finally:
        stop.set()
        if thread is not threading.current_thread():  # a garbage collection can run this on the helper itself
            thread.join()


def _cause(exc: BaseException) -> str:
    """An FFmpeg/OS error as its plain reason, without errno numbers or file names."""
    return getattr(exc, "strerror", None) or str(exc)


def _unopened(name: str) -> str:
    return (
        f"{name} could not be opened or gave no frame; expected a connected camera "
        "(is it plugged in, used by another program, or readable by this user?), or a video file path"
    )
