"""Runs a GStreamer pipeline holding the edgematte element in a fresh process and prints what happened as JSON.

    python probe_pipeline.py run "videotestsrc num-buffers=10 ! edgematte model=... ! fakesink"
    python probe_pipeline.py cycles DESCRIPTION 100        # NULL -> PLAYING -> EOS -> NULL, RSS per cycle
    python probe_pipeline.py flush DESCRIPTION 5           # a flushing seek back to 0 after 5 buffers
    python probe_pipeline.py switch DESCRIPTION 5 background=red   # a property of "matte" set after 5 buffers

The element is registered in this process (edgematte.gst.register), so a crash or a leak stays here.
Output: {"result": "eos"|"error"|"timeout", "errors": [...], "warnings": [...], "stats": {...},
"latency_ms": [min, max] (queried while playing), "rss_kb": [...], "buffers": N, "pixels": [the first pixel's
bytes of each buffer at the fakesink]}.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    from edgematte.gst import import_gst, register

    gst = import_gst()
    Gst = gst.Gst
    register()
    mode, description = sys.argv[1], sys.argv[2]
    out = {"errors": [], "warnings": [], "stats": {}, "rss_kb": [], "buffers": 0, "latency_ms": None, "pixels": []}
    pipeline = Gst.parse_launch(description)
    element = pipeline.get_by_name("matte")
    if mode == "cycles":
        for _ in range(int(sys.argv[3])):
            out["result"] = play(Gst, pipeline, out)
            out["rss_kb"].append(rss_kb())
            if out["result"] != "eos":
                break
    elif mode == "flush":
        out["result"] = play(Gst, pipeline, out, seek_after=int(sys.argv[3]))
    elif mode == "switch":
        name, value = sys.argv[4].split("=", 1)
        out["result"] = play(Gst, pipeline, out, switch=(int(sys.argv[3]), element, name, value))
    else:
        out["result"] = play(Gst, pipeline, out)
    if element is not None:
        out["stats_property"] = structure(element.get_property("stats"))
    print(json.dumps(out))


def play(Gst, pipeline, out, seek_after=None, switch=None) -> str:
    """PLAYING until EOS or ERROR (60 s at most), then NULL; messages and stats into ``out``."""
    counted = []

    def arrived(pad, info):
        counted.append(1)
        buffer = info.get_buffer()
        ok, mapped = buffer.map(Gst.MapFlags.READ)
        if ok:
            size = 4 if pad.get_current_caps().get_structure(0).get_string("format").endswith(("A", "x")) else 3
            out["pixels"].append(list(bytes(mapped.data[:size])))
            buffer.unmap(mapped)
        if switch is not None and len(counted) == switch[0]:
            switch[1].set_property(switch[2], switch[3])
        return Gst.PadProbeReturn.OK

    sink = next((e for e in iterate(pipeline) if e.get_factory() and e.get_factory().get_name() == "fakesink"), None)
    probe = None
    if sink is not None:
        probe = sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, arrived)
    pipeline.set_state(Gst.State.PLAYING)
    bus = pipeline.get_bus()
    deadline = time.monotonic() + 60
    result, seeked = "timeout", False
    while time.monotonic() < deadline:
        message = bus.timed_pop(int(0.05 * Gst.SECOND))
        if out["latency_ms"] is None and counted:  # playing, caps negotiated
            query = Gst.Query.new_latency()
            if pipeline.query(query):
                _, low, high = query.parse_latency()
                out["latency_ms"] = [low / 1e6, None if high == Gst.CLOCK_TIME_NONE else high / 1e6]
        if seek_after is not None and not seeked and len(counted) >= seek_after:
            seeked = pipeline.seek_simple(Gst.Format.TIME, Gst.SeekFlags.FLUSH, 0)
            out["seeked"] = seeked
        if message is None:
            continue
        if message.type == Gst.MessageType.ERROR:
            error, debug = message.parse_error()
            out["errors"].append(f"{message.src.get_name()}: {error.message}")
            result = "error"
            break
        if message.type == Gst.MessageType.WARNING:
            warning, _ = message.parse_warning()
            out["warnings"].append(warning.message)
        if message.type == Gst.MessageType.ELEMENT and message.get_structure().get_name() == "edgematte-stats":
            out["stats"] = structure(message.get_structure())
        if message.type == Gst.MessageType.EOS:
            result = "eos"
            break
    pipeline.set_state(Gst.State.NULL)
    if probe is not None:
        sink.get_static_pad("sink").remove_probe(probe)
    out["buffers"] += len(counted)
    return result


def iterate(pipeline):
    iterator = pipeline.iterate_elements()
    while True:
        result, element = iterator.next()
        if element is None:
            return
        yield element


def structure(s) -> dict:
    return {s.nth_field_name(i): s.get_value(s.nth_field_name(i)) for i in range(s.n_fields())}


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
