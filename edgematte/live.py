"""The live path: a camera (or a stand-in) through :class:`edgematte.Matter` to windows, files and virtual cameras,
with latency measured from each frame's capture.

    from edgematte import live

    summary = live.run("0", ["window", "out.mp4"], background="green")      # what `edgematte webcam` does
    print(summary["latency_ms"]["p99"], summary["dropped"])

    with live.Live("/dev/video0", background="blur", every=2) as stream:     # your own loop
        for out in stream:
            send(out.image)          # uint8 HxWx3 BGR (HxWx4 BGRA with background=None)
            if done():
                break

Sources (:func:`open_camera`): a camera index or ``/dev/videoN`` (``v4l2:///dev/videoN``); ``csi://N`` on
Jetson (``nvarguscamerasrc``; optional ``?width=1280&height=720&framerate=30``); ``rtsp://``, ``http://``
and other stream URLs (FFmpeg); a video file, played at its own frame rate unless ``pace=False``; a
GStreamer pipeline description ending in ``appsink``.

A capture thread reads the source and keeps only the newest frame: when matting is slower than the
camera, older frames are dropped rather than queued, so latency stays bounded (a video file read with
``pace=False`` is the exception: each frame waits for the matting, and none is dropped). Every captured frame
is either matted and written (``frames``) or ``dropped``. A frame's latency runs from its capture
(when the source handed it over) to when it was written (every sink took it; for a video file, the
encoder's queue).

Sinks (:func:`open_output`): ``"window"``; a video file, ``%d`` pattern or folder (the writers of
:mod:`edgematte.io.sinks`); ``"pyvirtualcam"``; ``/dev/videoN`` (a v4l2loopback virtual camera, fed YUY2
with an even width through GStreamer, which Chrome takes); a GStreamer pipeline description starting
at ``appsrc``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from array import array
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union
from urllib.parse import parse_qs, urlsplit

import numpy as np

from .errors import BackendUnavailableError, InputError
from .matter import LIVE_DEFAULTS

__all__ = ["LIVE_DEFAULTS", "Frame", "Output", "Capture", "LiveStats", "Live", "open_camera", "open_output", "run",
           "WINDOW"]

log = logging.getLogger(__name__)

WINDOW = "edgematte"


@dataclass(frozen=True)
class Frame:
    """A captured frame: ``image`` uint8 HxWx3 BGR, its ``index`` among the captured frames and the
    ``captured`` time (``time.perf_counter()`` seconds) when the source handed it over."""

    image: np.ndarray
    index: int
    captured: float


@dataclass(frozen=True)
class Output:
    """A matted frame: the ``frame`` it came from, the ``image`` to show (Matter's reused buffer, valid until
    the next frame) and the pipeline's ``timings`` (ms per stage)."""

    frame: Frame
    image: np.ndarray
    timings: Dict[str, float]


# -- sources ----------------------------------------------------------------------------------------
def open_camera(uri: Union[int, str, "os.PathLike[str]"], *, pace: bool = True) -> Any:
    """The source for ``uri`` (see the module docstring): iterable of uint8 HxWx3 BGR frames, with ``size``
    (width, height), ``fps`` (0 when unknown) and ``close()``. ``pace``: play a video file at its frame rate."""
    from .io import Camera, VideoFile
    from .io.sources import NETWORK_SCHEMES

    text = str(uri)
    if isinstance(uri, int) or text.isdigit():
        return Camera(int(text))
    if text.startswith("v4l2://"):
        text = text[len("v4l2://"):]
    if text.startswith("/dev/video"):
        return Camera(text)
    if "!" in text:
        from .gst.appio import GstSource

        return GstSource(text)
    scheme = urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme == "csi":
        from .gst.appio import GstSource

        return GstSource(csi_pipeline(text))
    if scheme in NETWORK_SCHEMES:
        stream = VideoFile(text, pace=False)  # a stream comes at its own rate, as a camera's frames do
        stream.is_camera = True
        return stream
    if scheme not in ("", "file"):
        raise InputError(
            f"received source {text!r}; expected a camera index, /dev/videoN, csi://N, an rtsp:// or http:// URL, "
            "a video file or a GStreamer pipeline ending in appsink"
        )
    return VideoFile(text, pace=pace)


def csi_pipeline(uri: str) -> str:
    """``csi://N[?width=W&height=H&framerate=F]`` -> the Jetson camera pipeline (nvarguscamerasrc, NVMM to
    system memory with nvvidconv, BGR for the appsink). Written against NVIDIA's documentation; not run here."""
    parts = urlsplit(uri)
    sensor = parts.netloc or parts.path.strip("/")
    if not sensor.isdigit():
        raise InputError(f"received {uri!r}; expected csi://N with the sensor number N, e.g. csi://0")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    caps = ",".join(f"{k}={v}" + ("/1" if k == "framerate" else "") for k, v in query.items()
                    if k in ("width", "height", "framerate") and v.isdigit())
    return (f"nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM){',' + caps if caps else ''} ! "
            "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink")


class Capture:
    """A thread reading ``source`` that keeps only its newest frame (:class:`Frame`).

    :meth:`next` waits for a frame newer than the last one taken; None at the end of the stream
    (a source's error is raised there). A frame replaced before it was taken, or left when the
    capture is closed, counts as ``dropped``; ``captured`` counts every frame the source handed over.
    With ``keep_all`` (a file read as fast as it is matted) the thread waits for each frame to be
    taken instead, and nothing is dropped. Closing stops the thread; the source is its owner's to close.
    """

    def __init__(self, source: Any, *, keep_all: bool = False) -> None:
        self.source = source
        self.keep_all = keep_all
        self.captured = self.dropped = 0
        self._cond = threading.Condition()
        self._slot: Optional[Frame] = None
        self._ended = self._stopping = False
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._read, name="edgematte-capture", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for image in self.source:
                now = time.perf_counter()
                with self._cond:
                    while self.keep_all and self._slot is not None and not self._stopping:
                        self._cond.wait()
                    if self._stopping:
                        return
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = Frame(image, self.captured, now)
                    self.captured += 1
                    self._cond.notify()
        except BaseException as exc:  # handed to the consumer by next()
            self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify()

    def next(self) -> Optional[Frame]:
        with self._cond:
            while self._slot is None and not self._ended:
                self._cond.wait()
            frame, self._slot = self._slot, None
            self._cond.notify()
        if frame is None and self._error is not None:
            raise self._error
        return frame

    def close(self, timeout: float = 5.0) -> None:
        """Stop reading (the frame being read is not counted) and count a frame left untaken as dropped.
        The source stays open (its owner closes it)."""
        with self._cond:
            self._stopping = True
            if self._slot is not None:
                self.dropped += 1
                self._slot = None
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the capture thread is still waiting for %s", getattr(self.source, "name", "the source"))

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- statistics -------------------------------------------------------------------------------------
class LiveStats:
    """Per-frame latency (capture -> written) and stage times; :meth:`summary` is what ``--stats`` writes.

    Stages: ``wait`` (captured -> matting starts), the pipeline's own (``preprocess``, ``model``,
    ``refine``, ... and ``total``) and ``write`` (matted -> written).
    """

    def __init__(self) -> None:
        self.latency_ms = array("d")
        self.stages: Dict[str, array] = {}
        self.captured = self.dropped = 0
        self._first: Optional[float] = None
        self._last: Optional[float] = None

    def record(self, frame: Frame, started: float, matted: float, written: float, timings: Dict[str, float]) -> None:
        self.latency_ms.append((written - frame.captured) * 1e3)
        stages = dict(timings, wait=(started - frame.captured) * 1e3, write=(written - matted) * 1e3)
        for stage, ms in stages.items():
            self.stages.setdefault(stage, array("d")).append(ms)
        self._first = frame.captured if self._first is None else self._first
        self._last = written

    @property
    def frames(self) -> int:
        return len(self.latency_ms)

    def summary(self) -> Dict[str, Any]:
        """frames (matted and written), dropped, captured, fps, latency_ms (p50, p90, p99, max) and the
        median ms of each stage."""
        latency = np.asarray(self.latency_ms)
        span = (self._last - self._first) if self.frames > 1 else 0.0
        percentiles = {f"p{q}": round(float(np.percentile(latency, q)), 3) for q in (50, 90, 99)} if latency.size \
            else {}
        return {
            "frames": self.frames,
            "dropped": self.dropped,
            "captured": self.captured,
            "fps": round(self.frames / span, 2) if span > 0 else 0.0,
            "latency_ms": dict(percentiles, max=round(float(latency.max()), 3)) if latency.size else {},
            "stages_ms": {stage: round(float(np.median(v)), 3) for stage, v in self.stages.items()},
        }

    def write(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """:meth:`summary` as JSON at ``path`` (atomically)."""
        from .files import write_atomic
        from .io import output_error

        try:
            write_atomic(path, (json.dumps(self.summary(), indent=2) + "\n").encode())
        except OSError as exc:
            raise output_error(path, exc) from None


# -- the loop ---------------------------------------------------------------------------------------
class Live:
    """A source's newest frames through a Matter: iterate to get each :class:`Output`.

    ``source``: a URI for :func:`open_camera` or an opened source. ``matter``: a Matter to use (not
    closed here), else one is made from ``options`` over :data:`LIVE_DEFAULTS` (e.g. ``model``,
    ``refine``, ``temporal``, ``every``). ``background``: what :meth:`Matter.process` takes (None for
    BGRA); it may be changed between frames. An output counts as written when the next one is asked
    for, or when the iteration ends; ``stats`` then holds it.
    """

    def __init__(self, source: Any, matter: Any = None, *, background: Any = LIVE_DEFAULTS["background"],
                 pace: bool = True, **options: Any) -> None:
        from .background import Backgrounds

        self.source = open_camera(source, pace=pace) if isinstance(source, (int, str, os.PathLike)) else source
        try:
            if matter is None:
                from .matter import Matter

                settings = {k: v for k, v in LIVE_DEFAULTS.items() if k != "background"}
                matter = Matter(**dict(settings, **options))
                self._owns_matter = True
            else:
                self._owns_matter = False
            self.matter = matter
            self.background = background
            self._backgrounds = Backgrounds("background")
            self._backgrounds.parse(background)  # a bad background fails here, before any frame
        except BaseException:
            self.source.close()
            raise
        self.stats = LiveStats()
        self.capture: Optional[Capture] = None  # the running capture, while iterating

    @property
    def size(self) -> Optional[Tuple[int, int]]:
        return self.source.size

    @property
    def fps(self) -> float:
        return float(self.source.fps or 0.0)

    def __iter__(self) -> Iterator[Output]:
        self._warm_up()
        # a file read as fast as it is matted loses nothing; cameras, streams and paced files drop the late frames
        keep_all = not getattr(self.source, "is_camera", False) and not getattr(self.source, "pace", False)
        capture = self.capture = Capture(self.source, keep_all=keep_all)
        pending: Optional[Tuple[Frame, float, float, Dict[str, float]]] = None
        try:
            while True:
                if pending is not None:  # the caller is back: the last output was written
                    self.stats.record(*pending[:3], time.perf_counter(), pending[3])
                    pending = None
                frame = capture.next()
                if frame is None:
                    return
                started = time.perf_counter()
                background = self._backgrounds(self.background)
                result = self.matter.process(frame.image, background, keep_foreground=False)
                pending = (frame, started, time.perf_counter(), result.timings)
                yield Output(frame, result.composite, result.timings)
        finally:
            if pending is not None:
                self.stats.record(*pending[:3], time.perf_counter(), pending[3])
            capture.close()
            self.stats.captured += capture.captured
            self.stats.dropped += capture.dropped

    def _warm_up(self) -> None:
        """Two frames of the source's size through the Matter before the camera runs, so that the first real
        frames do not wait for the model's first runs and the buffers' allocation (then :meth:`Matter.reset`)."""
        if not self.size or 0 in self.size:
            return
        blank = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        for _ in range(2):
            self.matter.process(blank, None if self.background is None else (0, 0, 0), keep_foreground=False)
        self.matter.reset()

    def close(self) -> None:
        self.source.close()
        self._backgrounds.close()
        if self._owns_matter:
            self.matter.close()

    def __enter__(self) -> "Live":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- sinks ------------------------------------------------------------------------------------------
class WindowSink:
    """An OpenCV window showing each frame with its frame rate; ``closed`` once q, Esc or the close box was used."""

    def __init__(self) -> None:
        import cv2

        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise InputError("received no display (DISPLAY is unset); expected a desktop session, or no 'window' sink")
        self._cv2 = cv2
        self.closed = False
        self._fps, self._last = 0.0, None

    def write(self, image: np.ndarray, frame: Frame) -> None:
        cv2 = self._cv2
        now = time.perf_counter()
        if self._last is not None:
            rate = 1.0 / max(now - self._last, 1e-6)
            self._fps = rate if not self._fps else 0.9 * self._fps + 0.1 * rate
        self._last = now
        cv2.putText(image, f"{self._fps:5.1f} FPS", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        cv2.imshow(WINDOW, image)
        key = cv2.waitKey(1) & 0xFF
        self.closed = key in (ord("q"), 27) or cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1

    def close(self) -> None:
        self._cv2.destroyAllWindows()


class FileSink:
    """A video file, ``%d`` pattern or folder, written by :func:`edgematte.io.open_sink`."""

    def __init__(self, path: str, fps: float, size: Tuple[int, int], alpha: bool) -> None:
        from .io import open_sink

        self.path = path
        self._sink = open_sink(path, fps or 30.0, size, **({"alpha": True} if alpha else {}))
        self.closed = False

    def write(self, image: np.ndarray, frame: Frame) -> None:
        self._sink.write(image)

    @property
    def frames(self) -> int:
        return self._sink.frames

    def close(self) -> None:
        self._sink.commit()

    def abort(self) -> None:
        self._sink.abort()


class VirtualCamera:
    """A pyvirtualcam camera (OBS Virtual Camera, v4l2loopback, ...) taking the frames as RGB."""

    def __init__(self, fps: float, size: Tuple[int, int]) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the virtual camera needs pyvirtualcam ({exc}); expected it installed: pip install 'edgematte[webcam]'"
            ) from exc
        try:
            self._camera = pyvirtualcam.Camera(width=size[0], height=size[1], fps=fps or 30.0)
        except RuntimeError as exc:
            raise InputError(
                f"pyvirtualcam found no virtual camera device ({exc}); expected v4l2loopback loaded on Linux "
                "(sudo modprobe v4l2loopback) or OBS Virtual Camera installed on Windows/macOS"
            ) from exc
        self.closed = False

    def write(self, image: np.ndarray, frame: Frame) -> None:
        import cv2

        self._camera.send(cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        self._camera.close()


def v4l2loopback_pipeline(device: str, width: int) -> str:
    """The GStreamer description feeding a v4l2loopback device as Chrome takes it: YUY2, even width
    (an odd one loses its last column)."""
    crop = "videocrop right=1 ! " if width % 2 else ""
    return f"appsrc ! videoconvert ! {crop}video/x-raw,format=YUY2 ! v4l2sink device={device} sync=false"


def open_output(spec: str, fps: float, size: Tuple[int, int], *, alpha: bool = False) -> Any:
    """The sink for ``spec`` (see the module docstring), taking frames of ``size`` (width, height) at ``fps``;
    ``alpha``: the frames are BGRA."""
    text = str(spec)
    if text == "window":
        return WindowSink()
    if text == "pyvirtualcam":
        return VirtualCamera(fps, size)
    if text.startswith("/dev/video") or text.split("!")[0].strip().startswith("appsrc"):
        from .gst.appio import GstSink

        description = v4l2loopback_pipeline(text, size[0]) if text.startswith("/dev/video") else text
        return GstSink(description, fps, size, alpha=alpha)
    return FileSink(text, fps, size, alpha)


def run(source: Any, sinks: Sequence[str] = ("window",), *, matter: Any = None,
        background: Any = LIVE_DEFAULTS["background"], pace: bool = True, max_frames: Optional[int] = None,
        stats: Optional[Union[str, "os.PathLike[str]"]] = None, **options: Any) -> Dict[str, Any]:
    """Matte ``source`` live into every sink of ``sinks`` (:func:`open_output` specs) until the source ends,
    a window is closed or ``max_frames`` were written; returns :meth:`LiveStats.summary` (also written to
    ``stats`` as JSON). ``matter``, ``background``, ``pace`` and ``options``: as :class:`Live`."""
    from .io import refuse_overwriting

    files = [s for s in sinks if s not in ("window", "pyvirtualcam") and "!" not in s and not s.startswith("/dev/")]
    local = [] if "://" in str(source) or "!" in str(source) or str(source).isdigit() else [source]
    refuse_overwriting(local, files + ([stats] if stats else []))
    with Live(source, matter, background=background, pace=pace, **options) as live:
        if not live.size or 0 in live.size:
            raise InputError(f"received source {str(source)!r}, which holds no frame; expected a camera or a video")
        outputs: List[Any] = []
        try:
            # the window last: it draws its frame rate onto the frame
            for spec in sorted(sinks, key=lambda s: s == "window"):
                outputs.append(open_output(spec, live.fps, live.size, alpha=background is None))
            written = 0
            for out in live:
                for sink in outputs:
                    sink.write(out.image, out.frame)
                written += 1
                if any(sink.closed for sink in outputs) or (max_frames is not None and written >= max_frames):
                    break
        except BaseException:
            for sink in outputs:
                getattr(sink, "abort", sink.close)()
            raise
        for sink in outputs:
            sink.close()
        summary = live.stats.summary()
        if stats is not None:
            live.stats.write(stats)
    return summary
