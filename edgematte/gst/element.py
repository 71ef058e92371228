"""The ``edgematte`` GStreamer element: each video buffer through :class:`edgematte.Matter`.

    gst-launch-1.0 v4l2src ! videoconvert ! edgematte background=green ! videoconvert ! autovideosink

The element is thin: it maps a buffer to a NumPy array, converts it to the BGR frame ``Matter``
takes, calls :meth:`Matter.process` and writes the composite back. Formats in: BGR, RGB, BGRx,
RGBx, BGRA, RGBA (others through ``videoconvert``; an alpha channel in the input multiplies into
the matte, as in Matter). Out: the same format with the composite, in place; with
``background=none``, BGRA/RGBA holding the alpha (in place from a 4-byte format). Properties are
the rows of :data:`PROPERTIES`: the Matter ones are handed to ``Matter(...)`` by name (``-`` for
``_``) when the element starts (READY -> PAUSED), ``background`` and ``qos`` also while playing.

Matter runs on the streaming thread, with one set of buffers and temporal state whatever the thread
(:meth:`~edgematte.pipeline.Pipeline.share_state`: Python drops a GStreamer thread's thread-local state
after each call).
Statistics are the ``stats`` property and an ``edgematte-stats`` element message at EOS. Errors
are element errors carrying edgematte's one-line message (the Python traceback of a bug goes to
the GStreamer debug log, category ``python``, not to stderr).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from .._version import __version__
from ..edges import MAX_RADIUS
from ..errors import EdgematteError
from . import import_gst, video_info

__all__ = ["EdgematteFilter", "PROPERTIES", "Property", "FACTORY_NAME", "FORMATS"]

_gst = import_gst()
Gst, GstBase, GstVideo, GLib, GObject = _gst.Gst, _gst.GstBase, _gst.GstVideo, _gst.GLib, _gst.GObject

FACTORY_NAME = "edgematte"
#: input format -> (bytes per pixel, output format with background=none)
FORMATS = {
    "BGR": (3, "BGRA"),
    "BGRx": (4, "BGRA"),
    "BGRA": (4, "BGRA"),
    "RGB": (3, "RGBA"),
    "RGBx": (4, "RGBA"),
    "RGBA": (4, "RGBA"),
}
_CAPS = Gst.Caps.from_string(f"video/x-raw, format={{{', '.join(FORMATS)}}}, width=[1, 2147483647], "
                             "height=[1, 2147483647], framerate=[0/1, 2147483647/1]")
_STATS_WINDOW = 300  # frames the stage medians are taken over


@dataclass(frozen=True)
class Property:
    """One element property. ``matter``: handed to ``Matter(...)`` as the keyword ``name`` with ``_`` for
    ``-``, after ``to_matter`` (e.g. 0 -> None); else the element uses it itself."""

    name: str
    type: type
    default: Any
    blurb: str
    minimum: Any = None
    maximum: Any = None
    matter: bool = True
    to_matter: Optional[Callable[[Any], Any]] = None
    playing: bool = False  # may change while playing (else it applies at the next start)


def _zero_is_none(value: Any) -> Any:
    return value or None


def _live_default(name: str, fallback: Any) -> Any:
    from ..matter import LIVE_DEFAULTS

    return LIVE_DEFAULTS.get(name, fallback)


#: the element's properties, one row each: a Matter keyword is one more row here
PROPERTIES = (
    Property("model", str, _live_default("model", "selfie"), "model-table name, .onnx file or TensorRT engine"),
    Property("backend", str, _live_default("backend", "auto"), "auto (TensorRT if it starts, else ONNX Runtime), "
             "ort-cpu or tensorrt"),
    Property("refine", str, _live_default("refine", "fast"), "edge refinement: off, fast (real time) or full"),
    Property("background", str, _live_default("background", "blur"), "a colour (name, #rrggbb or r,g,b), an image "
             "or video path, blur, or none (BGRA/RGBA out, the alpha in the 4th channel)", matter=False, playing=True),
    Property("temporal", float, _live_default("temporal", 0.0), "smoothing over time that holds still edges and "
             "follows moving ones at once: the past's weight where nothing moved, in [0, 1); 0 is off", 0.0, 0.999),
    Property("edge-shift", int, 0, "grow (> 0) or shrink (< 0) the matte by this many pixels", -MAX_RADIUS,
             MAX_RADIUS),
    Property("feather", int, 0, "soften the edge into a ramp 2 N + 1 pixels wide", 0, MAX_RADIUS),
    Property("threshold", float, 0.0, "a hard cut: opaque where alpha >= this, in (0, 1]; 0 keeps the soft matte",
             0.0, 1.0, to_matter=_zero_is_none),
    Property("downsample-ratio", float, 0.0, "RobustVideoMatting only: its internal scale in (0, 1]; 0 automatic",
             0.0, 1.0, to_matter=_zero_is_none),
    Property("threads", int, 0, "CPU threads; 0: the CPUs this process may use", 0, 4096, to_matter=_zero_is_none),
    Property("every", int, _live_default("every", 1), "run the model on every Nth frame; the frames between reuse "
             "its fit, evaluated on the new frame", 1, 65536),
)


def _param_spec(p: Property) -> tuple:
    flags = GObject.ParamFlags.READWRITE
    if p.type is str:
        return (str, p.name, p.blurb, p.default, flags)
    if p.type is bool:
        return (bool, p.name, p.blurb, p.default, flags)
    return (p.type, p.name, p.blurb, p.minimum, p.maximum, p.default, flags)


class EdgematteFilter(GstBase.BaseTransform):
    """The element (see the module docstring)."""

    __gtype_name__ = "GstEdgematte"

    __gstmetadata__ = (
        "edgematte",
        "Filter/Effect/Video",
        "Replaces the background of people in video (or outputs their alpha) with edgematte",
        "edgematte",
    )
    __gsttemplates__ = (
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _CAPS),
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, _CAPS),
    )
    __gproperties__ = dict(
        {p.name: _param_spec(p) for p in PROPERTIES},
        stats=(Gst.Structure, "stats", "frames, dropped, model runs and median milliseconds per stage",
               GObject.ParamFlags.READABLE),
    )

    def __init__(self) -> None:
        super().__init__()
        self._settings: Dict[str, Any] = {p.name: p.default for p in PROPERTIES}
        self._matter: Any = None
        self._held: Dict[str, Any] = {}  # the Matter kept between runs ("matter") and its options ("key")
        weakref.finalize(self, _release, self._held)
        self._backgrounds: Any = None
        self._log_handler: Optional[logging.Handler] = None
        self._in = self._out = None  # GstVideo.VideoInfo of the negotiated caps
        self._formats = ("", "")  # their formats (in, out)
        self._scratch: Optional[np.ndarray] = None
        self._stats_lock = threading.Lock()
        self._reset_stats()
        self._latency_ns = 0
        self._rejected: Optional[str] = None  # the last caps refused, reported once
        self.set_qos_enabled(True)
        self.srcpad.add_probe(Gst.PadProbeType.QUERY_UPSTREAM | Gst.PadProbeType.PULL, self._add_latency)

    # -- properties -----------------------------------------------------------------------------
    def do_get_property(self, spec: Any) -> Any:
        if spec.name == "stats":
            return self._stats_structure()
        return self._settings[spec.name]

    def do_set_property(self, spec: Any, value: Any) -> None:
        self._settings[spec.name] = value
        if spec.name == "background" and self._in is not None:
            self.reconfigure_src()  # none <-> a colour changes the output format

    # -- lifetime -------------------------------------------------------------------------------
    def do_start(self) -> bool:
        self._log_handler = _PostingHandler(self)
        logging.getLogger("edgematte").addHandler(self._log_handler)
        self._reset_stats()
        self._latency_ns = 0
        return self._guarded(self._open, Gst.LibraryError.INIT, False)

    def _open(self) -> bool:
        """The Matter for the current properties: kept from the last run when they are the same (a restart
        does not reload the model), else made anew. Then the background is parsed."""
        from ..background import Backgrounds

        options = {p.name.replace("-", "_"): (p.to_matter or (lambda v: v))(self._settings[p.name])
                   for p in PROPERTIES if p.matter}
        key = repr(sorted(options.items()))
        if self._held.get("key") != key:
            _release(self._held)
            self._held["matter"] = _make_matter(options)
            self._held["key"] = key
        else:
            self._held["matter"].reset()
        self._matter = self._held["matter"]
        self._backgrounds = Backgrounds("background")
        self._background()  # a bad background is a start-up error, not a first-frame one
        return True

    def do_stop(self) -> bool:
        if self._backgrounds is not None:
            self._backgrounds.close()
        if self._log_handler is not None:
            logging.getLogger("edgematte").removeHandler(self._log_handler)
        self._matter = self._backgrounds = self._log_handler = None
        self._in = self._out = self._scratch = None
        return True

    # -- negotiation ----------------------------------------------------------------------------
    def do_transform_caps(self, direction: Any, caps: Any, filter_: Any) -> Any:
        none = self._settings["background"].strip().lower() == "none"
        structures = []  # as text: PyGObject's Caps.append_structure frees the structure twice
        for name, (_, alpha_format) in FORMATS.items():
            if direction == Gst.PadDirection.SINK:  # input ``name``: the output it gives
                others = [alpha_format if none else name]
            elif none and name != alpha_format:  # an output background=none never gives
                continue
            else:  # output ``name``: the inputs that give it
                others = [f for f, v in FORMATS.items() if v[1] == name] if none else [name]
            part = caps.intersect(Gst.Caps.from_string(f"video/x-raw, format={name}"))
            for i in range(part.get_size()):
                for fmt in others:
                    structure = part.get_structure(i).copy()
                    structure.set_value("format", fmt)
                    structures.append(structure.to_string().rstrip(";"))
        result = Gst.Caps.from_string("; ".join(structures)) if structures else Gst.Caps.new_empty()
        return result.intersect(filter_) if filter_ is not None else result

    def do_accept_caps(self, direction: Any, caps: Any) -> bool:
        accepted = GstBase.BaseTransform.do_accept_caps(self, direction, caps)
        if not accepted and direction == Gst.PadDirection.SINK and caps.is_fixed():
            text = caps.to_string()
            if text != self._rejected and not caps.can_intersect(_CAPS):
                self._rejected = text
                structure = caps.get_structure(0)
                got = structure.get_string("format") or structure.get_name()
                self._post(Gst.MessageType.ERROR, Gst.CoreError.NEGOTIATION,
                           f"received {got} video ({text}); expected one of {', '.join(FORMATS)}: "
                           "put videoconvert before edgematte")
        return accepted

    def do_get_unit_size(self, caps: Any) -> Tuple[bool, int]:
        info = video_info(caps)
        return (info is not None, info.size if info is not None else 0)

    def do_set_caps(self, incaps: Any, outcaps: Any) -> bool:
        self._in, self._out = video_info(incaps), video_info(outcaps)
        self._formats = self._format(self._in), self._format(self._out)  # read per buffer: kept as text
        self._rejected = None
        same_layout = FORMATS[self._formats[0]][0] == FORMATS[self._formats[1]][0]
        self.set_in_place(same_layout)
        if self._latency_ns == 0:
            fps = self._in.fps_n / self._in.fps_d if self._in.fps_n and self._in.fps_d else 30.0
            self._latency_ns = int(Gst.SECOND / fps)  # one frame period, until frames are measured
        return True

    @staticmethod
    def _format(info: Any) -> str:
        return GstVideo.VideoFormat.to_string(info.finfo.format)

    # -- events and queries ---------------------------------------------------------------------
    def do_sink_event(self, event: Any) -> bool:
        if event.type in (Gst.EventType.FLUSH_STOP, Gst.EventType.STREAM_START) and self._matter is not None:
            self._matter.reset()  # a seek or a new stream: forget the past
        if event.type == Gst.EventType.EOS:
            self.post_message(Gst.Message.new_element(self, self._stats_structure()))
        return GstBase.BaseTransform.do_sink_event(self, event)

    def _add_latency(self, pad: Any, info: Any) -> Any:
        """A probe on the answered LATENCY query: upstream's latency plus this element's (PyGObject
        cannot override BaseTransform's ``query``, whose name Gst.Element's vfunc shares)."""
        query = info.get_query()
        if query.type == Gst.QueryType.LATENCY:
            live, minimum, maximum = query.parse_latency()
            latency = self._latency_ns
            query.set_latency(live, minimum + latency, maximum if maximum == Gst.CLOCK_TIME_NONE else maximum + latency)
        return Gst.PadProbeReturn.OK

    # -- buffers --------------------------------------------------------------------------------
    def do_transform_ip(self, buf: Any) -> Any:
        return self._run(buf, buf)

    def do_transform(self, inbuf: Any, outbuf: Any) -> Any:
        return self._run(inbuf, outbuf)

    def _run(self, inbuf: Any, outbuf: Any) -> Any:
        """One buffer through Matter; an error becomes an element error."""
        started = time.perf_counter()
        flow = self._guarded(self._matte, Gst.StreamError.FAILED, Gst.FlowReturn.ERROR, inbuf, outbuf)
        if flow == Gst.FlowReturn.OK:
            self._record(time.perf_counter() - started)
        return flow

    def _matte(self, inbuf: Any, outbuf: Any) -> Any:
        in_place = inbuf is outbuf
        with _mapped(inbuf, Gst.MapFlags.READ | (Gst.MapFlags.WRITE if in_place else 0)) as data:
            if in_place:
                return self._matte_arrays(data, data)
            with _mapped(outbuf, Gst.MapFlags.WRITE) as out:
                return self._matte_arrays(data, out)

    def _matte_arrays(self, data: memoryview, out: memoryview) -> Any:
        import cv2

        to_matter, from_matter = _cv2_codes()
        fmt_in, fmt_out = self._formats
        frame = _view(data, self._in, fmt_in)
        if fmt_in == "BGR" and frame.flags.c_contiguous:
            bgr = frame
        else:  # Matter's frame: contiguous BGR, or BGRA when the input carries alpha
            channels = 4 if fmt_in in ("BGRA", "RGBA") else 3
            if self._scratch is None or self._scratch.shape != frame.shape[:2] + (channels,):  # per frame size
                self._scratch = np.empty(frame.shape[:2] + (channels,), np.uint8)
            code = to_matter.get(fmt_in)
            if code is not None:
                bgr = cv2.cvtColor(frame, code, dst=self._scratch)
            else:  # BGR with padded rows, or BGRA
                bgr = frame if frame.flags.c_contiguous else _copy(frame, self._scratch)
        background = self._background()
        target = _view(out, self._out, fmt_out)
        code = from_matter[(4 if background is None else 3, fmt_out)]
        direct = code is None and target.flags.c_contiguous  # Matter writes the composite into the buffer
        result = self._matter.process(bgr, background, keep_foreground=False, out=target if direct else None)
        if not direct:
            composite = result.composite
            if code is None:
                np.copyto(target, composite)
            else:
                cv2.cvtColor(composite, code, dst=target)
        with self._stats_lock:
            for stage, ms in result.timings.items():
                self._stages.setdefault(stage, deque(maxlen=_STATS_WINDOW)).append(ms)
            self._model_runs += "model" in result.timings
        return Gst.FlowReturn.OK

    def _background(self) -> Any:
        value = self._settings["background"]
        return None if value.strip().lower() == "none" else self._backgrounds(value)

    # -- statistics and latency -----------------------------------------------------------------
    def do_post_message(self, message: Any) -> bool:
        """BaseTransform's QoS message for a buffer it dropped carries its count of drops since the start."""
        if message.type == Gst.MessageType.QOS and message.src is self:
            _, _, dropped = message.parse_qos_stats()
            with self._stats_lock:
                self._dropped = dropped
        return Gst.Element.do_post_message(self, message)

    def _reset_stats(self) -> None:
        with self._stats_lock:
            self._dropped = self._frames = self._model_runs = 0
            self._stages: Dict[str, deque] = {}
            self._element_ms: deque = deque(maxlen=_STATS_WINDOW)

    def _record(self, seconds: float) -> None:
        with self._stats_lock:
            self._frames += 1
            self._element_ms.append(seconds * 1e3)
            if self._frames % 30:
                return
            p95 = float(np.percentile(self._element_ms, 95)) * 1e6
        if p95 > self._latency_ns * 1.25:  # tell the pipeline it takes longer than it said
            self._latency_ns = int(p95)
            self.post_message(Gst.Message.new_latency(self))

    def _stats_structure(self) -> Any:
        with self._stats_lock:
            fields = [f"frames=(guint64){self._frames}", f"dropped=(guint64){self._dropped}",
                      f"model-runs=(guint64){self._model_runs}"]
            stages = dict(self._stages, element=self._element_ms)
            fields += [f"{stage}-ms=(double){float(np.median(v)):.3f}" for stage, v in stages.items() if v]
        return Gst.Structure.new_from_string("edgematte-stats, " + ", ".join(fields))

    # -- errors ---------------------------------------------------------------------------------
    def _guarded(self, call: Callable, code: Any, failed: Any, *args: Any) -> Any:
        """``call(*args)``; an exception becomes an element error with its one-line message."""
        try:
            return call(*args)
        except EdgematteError as exc:
            self._post(Gst.MessageType.ERROR, code, _property_syntax(str(exc)))
        except Exception as exc:  # a bug: the one line on the bus, the traceback in the debug log
            Gst.error("edgematte: " + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
            self._post(Gst.MessageType.ERROR, code, f"internal error: {type(exc).__name__}: {exc}",
                       "the traceback is in the GStreamer debug log: GST_DEBUG=python:1")
        return failed

    def _post(self, kind: Any, code: Any, text: str, debug: Optional[str] = None) -> None:
        error = GLib.Error.new_literal(code.__class__.quark(), text, int(code))
        make = {Gst.MessageType.ERROR: Gst.Message.new_error, Gst.MessageType.WARNING: Gst.Message.new_warning}[kind]
        self.post_message(make(self, error, debug or f"edgematte {__version__}"))


def _make_matter(options: Dict[str, Any]) -> Any:
    from ..matter import Matter

    matter = Matter(**options)
    matter.pipeline.share_state()  # called from whichever streaming thread runs, one call at a time
    return matter


def _release(held: Dict[str, Any]) -> None:
    """Close the kept Matter (at a change of its options, or when the element is gone)."""
    matter = held.pop("matter", None)
    held.pop("key", None)
    if matter is not None:
        matter.close()


# -- buffers as arrays -----------------------------------------------------------------------------
class _mapped:
    """``with _mapped(buffer, flags) as data``: the buffer's memory as a memoryview, unmapped on exit."""

    def __init__(self, buffer: Any, flags: Any) -> None:
        self.buffer, self.flags = buffer, flags

    def __enter__(self) -> memoryview:
        ok, self.info = self.buffer.map(self.flags)
        if not ok:
            raise EdgematteError("could not map a GStreamer buffer; expected readable (and writable) memory")
        return self.info.data

    def __exit__(self, *exc: object) -> None:
        self.buffer.unmap(self.info)


def _view(data: memoryview, info: Any, fmt: str) -> np.ndarray:
    """The frame of format ``fmt`` in ``data`` as uint8 HxWxC, rows ``info.stride[0]`` bytes apart (no copy)."""
    channels = FORMATS[fmt][0]
    return np.ndarray((info.height, info.width, channels), np.uint8, buffer=data, offset=info.offset[0],
                      strides=(info.stride[0], channels, 1))


def _copy(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    np.copyto(dst, src)
    return dst


@functools.lru_cache(maxsize=None)
def _cv2_codes() -> Tuple[dict, dict]:
    """OpenCV's conversions into and out of Matter's BGR (imported on first use, never while the plugin
    loader imports this module: cv2's __init__ rebinds sys.path, and gst-python's loader writes to the
    list it held, which is then freed)."""
    import cv2

    to_matter = {"RGB": cv2.COLOR_RGB2BGR, "BGRx": cv2.COLOR_BGRA2BGR, "RGBx": cv2.COLOR_RGBA2BGR,
                 "RGBA": cv2.COLOR_RGBA2BGRA}
    from_matter = {(3, "BGR"): None, (3, "RGB"): cv2.COLOR_BGR2RGB, (3, "BGRx"): cv2.COLOR_BGR2BGRA,
                   (3, "BGRA"): cv2.COLOR_BGR2BGRA, (3, "RGBx"): cv2.COLOR_BGR2RGBA, (3, "RGBA"): cv2.COLOR_BGR2RGBA,
                   (4, "BGRA"): None, (4, "RGBA"): cv2.COLOR_BGRA2RGBA}
    return to_matter, from_matter


def _property_syntax(text: str) -> str:
    """An API message's keyword names (``downsample_ratio``) as the element's property names."""
    for p in PROPERTIES:
        if "-" in p.name:
            text = text.replace(p.name.replace("-", "_"), p.name)
    return text


class _PostingHandler(logging.Handler):
    """edgematte's log records of this element: warnings as element warnings, the rest to the debug log."""

    def __init__(self, element: EdgematteFilter) -> None:
        super().__init__(logging.INFO)
        self.element = element

    def emit(self, record: logging.LogRecord) -> None:
        text = _property_syntax(record.getMessage())
        if record.levelno >= logging.WARNING:
            self.element._post(Gst.MessageType.WARNING, Gst.LibraryError.SETTINGS, text)
        else:
            Gst.info(f"edgematte: {text}")


GObject.type_register(EdgematteFilter)
