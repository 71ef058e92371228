"""The live path's GStreamer ends: frames from a pipeline ending in ``appsink``, frames into one starting at ``appsrc``.

    GstSource("v4l2src device=/dev/video0 ! videoconvert ! appsink")
    GstSink("appsrc ! videoconvert ! video/x-raw,format=YUY2 ! v4l2sink device=/dev/video10", 30, (1280, 720))

The appsink is given BGR caps when it has none (put ``videoconvert`` before it); the appsrc gets the
frames' caps (BGR, or BGRA with alpha), TIME timestamps from the capture times, and blocks when
the pipeline falls behind (a full queue shows up in the latency, nothing is dropped unseen).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Iterator, Optional, Tuple

import numpy as np

from ..errors import InputError, OutputError
from . import import_gst, video_info

__all__ = ["GstSource", "GstSink"]

_START_TIMEOUT_S = 10.0


def _parse(description: str, what: str) -> Any:
    gst = import_gst()
    try:
        return gst.Gst.parse_launch(description)
    except gst.GLib.Error as exc:
        raise InputError(f"could not build the GStreamer {what} {description!r} ({exc.message}); expected a "
                         "pipeline gst-launch-1.0 runs") from None


def _the_one(pipeline: Any, kind: Any, description: str, role: str, expected: str) -> Any:
    """The one element of GType ``kind`` (AppSink, AppSrc) in ``pipeline``; InputError saying ``expected`` else."""
    Gst = import_gst().Gst
    found = [pipeline] if isinstance(pipeline, kind) else []
    if isinstance(pipeline, Gst.Bin):
        iterator = pipeline.iterate_recurse()
        while True:
            result, element = iterator.next()
            if result != Gst.IteratorResult.OK:
                break
            if isinstance(element, kind):
                found.append(element)
    if len(found) != 1:
        raise InputError(f"received the GStreamer {role} {description!r} with {len(found)} {kind.__name__.lower()} "
                         f"elements; expected {expected}")
    return found[0]


def _bus_error(pipeline: Any) -> Optional[str]:
    """The first error message waiting on the pipeline's bus, as one line."""
    gst = import_gst()
    message = pipeline.get_bus().pop_filtered(gst.Gst.MessageType.ERROR)
    if message is None:
        return None
    error, _ = message.parse_error()
    return f"{message.src.get_name()}: {error.message}"


class GstSource:
    """Frames (uint8 HxWx3 BGR) from a GStreamer pipeline description that ends in ``appsink``.

    Opening starts the pipeline and waits (up to 10 s) for the first frame, which gives ``size``
    and ``fps`` (0 when the caps say none). End of stream ends the iteration; a pipeline error
    raises InputError with GStreamer's message.
    """

    is_camera = True
    audio = None
    frame_count = None

    def __init__(self, description: str) -> None:
        gst = import_gst()
        Gst, GstApp = gst.Gst, gst.GstApp
        self.name = description
        self.fps = 0.0
        self._pipeline = _parse(description, "source")
        try:
            self._sink = _the_one(self._pipeline, GstApp.AppSink, description, "source",
                                  "one, at its end: '... ! videoconvert ! appsink'")
            if self._sink.get_property("caps") is None:
                self._sink.set_property("caps", Gst.Caps.from_string("video/x-raw,format=BGR"))
            self._sink.set_property("emit-signals", False)
            if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                raise self._failed("could not start")
            self._first = self._pull(_START_TIMEOUT_S)
            if self._first is None:
                raise self._failed("gave no frame")
            self.size = (self._first.shape[1], self._first.shape[0])
        except BaseException:
            self.close()
            raise

    def _failed(self, what: str) -> InputError:
        error = _bus_error(self._pipeline)
        return InputError(f"the GStreamer source {self.name!r} {what}" + (f" ({error})" if error else "") +
                          "; expected a pipeline that ends in '! videoconvert ! appsink' and delivers video")

    def _pull(self, timeout_s: float) -> Optional[np.ndarray]:
        """The next frame, copied out of its buffer; None at the end of the stream or after ``timeout_s``."""
        gst = import_gst()
        sample = self._sink.try_pull_sample(int(timeout_s * gst.Gst.SECOND))
        if sample is None:
            return None
        info = video_info(sample.get_caps())
        self.fps = info.fps_n / info.fps_d if info.fps_n and info.fps_d else 0.0
        if gst.GstVideo.VideoFormat.to_string(info.finfo.format) != "BGR":
            raise InputError(f"received {sample.get_caps().to_string()} from the appsink of {self.name!r}; "
                             "expected video/x-raw,format=BGR (leave the appsink's caps unset)")
        buffer = sample.get_buffer()
        ok, mapped = buffer.map(gst.Gst.MapFlags.READ)
        if not ok:
            raise InputError(f"could not read a buffer of {self.name!r}; expected system memory")
        try:
            view = np.ndarray((info.height, info.width, 3), np.uint8, buffer=mapped.data, offset=info.offset[0],
                              strides=(info.stride[0], 3, 1))
            frame = view.copy()
            del view
        finally:
            buffer.unmap(mapped)
        return frame

    def __iter__(self) -> Iterator[np.ndarray]:
        first, self._first = self._first, None
        if first is not None:
            yield first
        while True:
            frame = self._pull(1.0)
            if frame is not None:
                yield frame
                continue
            error = _bus_error(self._pipeline)
            if error is not None:
                raise InputError(f"the GStreamer source {self.name!r} failed ({error})")
            if self._sink.is_eos():
                return

    def close(self) -> None:
        self._pipeline.set_state(import_gst().Gst.State.NULL)

    def __enter__(self) -> "GstSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GstSink:
    """Frames (uint8 HxWx3 BGR, or HxWx4 BGRA with ``alpha``) into a pipeline description starting at ``appsrc``.

    Timestamps run from the first frame's capture time. :meth:`close` sends end-of-stream and waits
    (up to 10 s) for the pipeline to finish, so muxers write their trailers; errors raise OutputError.
    """

    def __init__(self, description: str, fps: float, size: Tuple[int, int], *, alpha: bool = False) -> None:
        gst = import_gst()
        Gst, GstApp = gst.Gst, gst.GstApp
        self.name = description
        self.closed = False
        self._pipeline = _parse(description, "sink")
        self._channels = 4 if alpha else 3
        self._size = size
        rate = Fraction(fps or 30.0).limit_denominator(1001)
        self._duration = int(Gst.SECOND / float(rate))
        self._start: Optional[float] = None
        try:
            self._src = _the_one(self._pipeline, GstApp.AppSrc, description, "sink",
                                 "one, at its start: 'appsrc ! videoconvert ! ...'")
            caps = (f"video/x-raw,format={'BGRA' if alpha else 'BGR'},width={size[0]},height={size[1]},"
                    f"framerate={rate.numerator}/{rate.denominator}")
            self._src.set_property("caps", Gst.Caps.from_string(caps))
            self._src.set_property("format", Gst.Format.TIME)
            self._src.set_property("is-live", True)
            self._src.set_property("block", True)
            self._src.set_property("max-bytes", 2 * size[0] * size[1] * self._channels)
            if self._pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
                raise self._failed("could not start")
        except BaseException:
            self._pipeline.set_state(Gst.State.NULL)
            raise

    def _failed(self, what: str) -> OutputError:
        error = _bus_error(self._pipeline)
        return OutputError(f"the GStreamer sink {self.name!r} {what}" + (f" ({error})" if error else ""))

    def write(self, image: np.ndarray, frame: Any) -> None:
        gst = import_gst()
        Gst = gst.Gst
        if image.shape != (self._size[1], self._size[0], self._channels):
            raise InputError(f"received a frame of shape {image.shape}; expected "
                             f"{(self._size[1], self._size[0], self._channels)}")
        self._start = frame.captured if self._start is None else self._start
        buffer = Gst.Buffer.new_allocate(None, image.nbytes, None)
        ok, mapped = buffer.map(Gst.MapFlags.WRITE)
        try:
            target = np.ndarray(image.shape, np.uint8, buffer=mapped.data)
            np.copyto(target, image)
            del target
        finally:
            buffer.unmap(mapped)
        buffer.pts = int(max(0.0, frame.captured - self._start) * Gst.SECOND)
        buffer.duration = self._duration
        if self._src.emit("push-buffer", buffer) != Gst.FlowReturn.OK:
            raise self._failed("stopped taking frames")

    def close(self) -> None:
        """End the stream and wait for the pipeline to finish it."""
        Gst = import_gst().Gst
        try:
            self._src.emit("end-of-stream")
            message = self._pipeline.get_bus().timed_pop_filtered(
                int(_START_TIMEOUT_S * Gst.SECOND), Gst.MessageType.EOS | Gst.MessageType.ERROR)
            if message is not None and message.type == Gst.MessageType.ERROR:
                error, _ = message.parse_error()
                source = message.src.get_name()
                raise OutputError(f"the GStreamer sink {self.name!r} failed ({source}: {error.message})")
        finally:
            self._pipeline.set_state(Gst.State.NULL)

    def abort(self) -> None:
        self._pipeline.set_state(import_gst().Gst.State.NULL)
