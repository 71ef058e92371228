"""The edgematte GStreamer element under gst-launch-1.0 (found through the real Python plugin loader), and in a
probe process for QoS, latency, flushing, statistics and repeated state changes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gst_support import FLOATING, real_criticals, stats_message

TINY = str(Path(__file__).resolve().parent.parent / "assets" / "tiny_seg.onnx")
GREEN = (0, 177, 64)  # RGB
CHANNELS = {"BGR": "bgr", "RGB": "rgb", "BGRx": "bgrx", "RGBx": "rgbx", "BGRA": "bgra", "RGBA": "rgba"}


def tiny(*properties: str) -> list:
    return ["edgematte", f"model={TINY}", "backend=ort-cpu", *properties]


def raw_frames(path: Path, width: int, height: int, channels: int) -> np.ndarray:
    """Raw video frames as GStreamer lays them out: rows padded to 4 bytes."""
    stride = (width * channels + 3) & ~3
    data = np.fromfile(path, np.uint8)
    assert data.size % (stride * height) == 0
    return data.reshape(-1, height, stride)[:, :, : width * channels].reshape(-1, height, width, channels)


def pipeline(text: str) -> list:
    return text.split()


SMALL_BGR = pipeline("videotestsrc num-buffers=3 ! video/x-raw,format=BGR,width=64,height=48 !")


# -- registration -----------------------------------------------------------------------------------
def test_gst_inspect_lists_the_element_and_its_properties(gst_env):
    from edgematte.gst.element import PROPERTIES

    done = subprocess.run(["gst-inspect-1.0", "edgematte"], env=gst_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in [p.name for p in PROPERTIES] + ["stats", "qos"]:
        assert re.search(rf"^\s+{name}\s+:", done.stdout, re.MULTILINE), name
    assert "Filter/Effect/Video" in done.stdout and "Traceback" not in done.stderr


def test_the_env_lines_make_gst_inspect_find_the_element(gst_env, tmp_path):
    script = f'eval "$("{sys.executable}" -m edgematte.cli gst --env)" && gst-inspect-1.0 edgematte'
    env = {k: v for k, v in gst_env.items() if k not in ("GST_PLUGIN_PATH", "PYTHONPATH")}
    env["GST_REGISTRY"] = str(tmp_path / "registry.bin")
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Filter/Effect/Video" in done.stdout, done.stderr


def test_without_edgematte_on_the_path_the_loader_says_one_line(gst_env, tmp_path):
    import os

    venv = str(Path(sys.executable).parent)  # on PATH, an environment's python3 is what the loader's Python adopts
    path = os.pathsep.join(p for p in gst_env["PATH"].split(os.pathsep) if p != venv)
    for attempt in range(2):  # a fresh registry: every plugin is scanned again
        env = dict(gst_env, PYTHONPATH="", PATH=path, GST_REGISTRY=str(tmp_path / f"registry{attempt}.bin"))
        done = subprocess.run(["gst-inspect-1.0", "edgematte"], env=env, capture_output=True, text=True, timeout=300)
        # seen once in CI (not reproduced in 25 runs alone nor after the tests before it): the system's PyGObject
        # failing to start in gst-python's scanner, before any edgematte file is read; once more, then it fails
        if "pygobject initialization failed" not in done.stderr:
            break
    assert done.returncode != 0
    assert "edgematte: the GStreamer element is not registered: ModuleNotFoundError" in done.stderr
    assert "Traceback" not in done.stderr


# -- formats and frames -----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", list(CHANNELS))
def test_each_format_is_composited_in_its_own_channel_order(gst_launch, tmp_path, fmt):
    out = tmp_path / "out.raw"
    rc, stdout, _ = gst_launch(*pipeline(f"videotestsrc num-buffers=12 pattern=blue ! "
                                         f"video/x-raw,format={fmt},width=66,height=48 !"),
                               *tiny("background=green"), "!", "filesink", f"location={out}")
    assert rc == 0, stdout
    frames = raw_frames(out, 66, 48, len(fmt))  # 66 * 3 is not a multiple of 4: padded rows for BGR/RGB
    assert len(frames) == 12
    rgb = GREEN if fmt.startswith("RGB") else GREEN[::-1]
    np.testing.assert_allclose(frames[:, 8:-8, 8:-8, :3].reshape(-1, 3).mean(0), rgb, atol=1)
    if fmt.endswith("A"):
        assert (frames[..., 3] == 255).all()


@pytest.mark.parametrize("fmt, out_fmt", [("BGR", "BGRA"), ("RGB", "RGBA"), ("BGRx", "BGRA"), ("RGBA", "RGBA")])
def test_background_none_outputs_the_alpha(gst_launch, tmp_path, fmt, out_fmt):
    out = tmp_path / "out.raw"
    rc, stdout, _ = gst_launch(*pipeline(f"videotestsrc num-buffers=6 pattern=red ! video/x-raw,format={fmt},"
                                         "width=64,height=48 !"), *tiny("background=none"), "!",
                               f"video/x-raw,format={out_fmt}", "!", "filesink", f"location={out}")
    assert rc == 0, stdout
    frames = raw_frames(out, 64, 48, 4)
    assert len(frames) == 6 and (frames[:, 8:-8, 8:-8, 3] == 255).all()  # red is the tiny model's foreground


def test_timestamps_pass_through(gst_launch):
    rc, stdout, _ = gst_launch("-v", *pipeline("videotestsrc num-buffers=8 ! video/x-raw,format=BGR,width=64,height=48,"
                                               "framerate=25/1 ! identity name=before silent=false !"),
                               *tiny(), "!", "identity", "name=after", "silent=false", "!", "fakesink")
    assert rc == 0

    def stamps(name):
        return re.findall(rf":{name}: last-message = chain .*?pts: ([\d:.]+), duration: ([\d:.]+), offset: (\d+)",
                          stdout)

    assert len(stamps("before")) == 8 and stamps("before") == stamps("after")


# -- real clips -------------------------------------------------------------------------------------
@pytest.fixture
def clip(shared_data) -> Path:
    path = shared_data / "videos" / "asl_book.mkv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def test_the_goal_pipeline_encodes_every_frame_of_a_real_clip(gst_launch, selfie_env, clip, tmp_path):
    from clips import probe

    out = tmp_path / "out.mp4"
    rc, stdout, _ = gst_launch(*pipeline(f"filesrc location={clip} ! decodebin ! videoconvert ! edgematte "
                                         "background=green ! videoconvert ! x264enc ! mp4mux ! "
                                         f"filesink location={out}"))
    assert rc == 0, stdout
    assert probe(out)["frames"] == probe(clip)["frames"] > 0


@pytest.mark.parametrize("properties, options", [
    ("", {}),  # the live defaults: motion-weighted temporal smoothing on
    ("temporal=0 edge-shift=-2 feather=1 threshold=0.5", dict(temporal=0, edge_shift=-2, feather=1, threshold=0.5)),
], ids=["defaults", "edge-controls"])
def test_the_elements_alpha_equals_matters_on_the_same_frames(gst_launch, selfie_env, clip, tmp_path, properties,
                                                              options):
    import edgematte

    frames_in, frames_out = tmp_path / "in.raw", tmp_path / "out.raw"
    rc, stdout, _ = gst_launch(*pipeline(f"filesrc location={clip} ! decodebin ! videoconvert ! "
                                         f"video/x-raw,format=BGR ! tee name=t ! queue ! edgematte background=none "
                                         f"{properties} ! filesink location={frames_out} t. ! queue ! "
                                         f"filesink location={frames_in}"))
    assert rc == 0, stdout
    inputs, outputs = raw_frames(frames_in, 640, 480, 3), raw_frames(frames_out, 640, 480, 4)
    assert len(inputs) == len(outputs) > 0
    with edgematte.Matter(refine="fast", backend="ort-cpu", **options) as matter:
        for frame, got in zip(inputs, outputs):  # same length, checked above
            np.testing.assert_array_equal(got[..., 3], matter.process(frame).alpha)


# -- errors -----------------------------------------------------------------------------------------
def test_a_format_it_cannot_take_is_a_clear_element_error(gst_launch, clip):
    rc, stdout, stderr = gst_launch(*pipeline(f"filesrc location={clip} ! decodebin !"), *tiny(), "!", "fakesink")
    assert rc != 0
    assert re.search(r"ERROR: from element .*edgematte0: received I420 video .* expected one of BGR, BGRx, BGRA, "
                     r"RGB, RGBx, RGBA: put videoconvert before edgematte", stdout + stderr)


@pytest.mark.parametrize("properties, message", [
    (["model=/nowhere/model.onnx"], "received model path '/nowhere/model.onnx', which is not a file"),
    (["refine=sharp"], "received refine='sharp'; expected"),
    (["background=chartreuse-ish"], "received background 'chartreuse-ish', which is no colour and no existing file"),
    (["backend=cuda"], "received backend 'cuda'; expected one of"),
    (["downsample-ratio=0.5"], "received downsample-ratio=0.5 for a model with inputs"),
])
def test_property_and_model_errors_are_one_line_element_errors(gst_launch, properties, message):
    args = ["edgematte", "backend=ort-cpu", f"model={TINY}"] + properties
    rc, stdout, stderr = gst_launch(*SMALL_BGR, *args, "!", "fakesink")
    assert rc != 0
    line = next(line for line in (stdout + stderr).splitlines() if line.startswith("ERROR: from element"))
    assert "edgematte0: " + message in line, line


def test_an_out_of_range_number_names_the_property(gst_launch):
    _, stdout, stderr = gst_launch(*SMALL_BGR, *tiny("every=0"), "!", "fakesink")
    assert "every" in stderr and "out of range" in stderr


def test_the_harmless_critical_is_the_only_one_filtered():
    line = f"(gst-launch-1.0:1): GStreamer-CRITICAL **: 08:00:00.000: {FLOATING}"
    other = "(gst-launch-1.0:1): GStreamer-CRITICAL **: 08:00:00.000: gst_caps_is_empty: assertion failed"
    assert real_criticals(line) == [] and real_criticals(f"{line}\n{other}") == [other]


# -- behaviour in a running pipeline ----------------------------------------------------------------
def test_stats_count_frames_and_model_runs_with_every(gst_launch):
    rc, stdout, _ = gst_launch(*pipeline("videotestsrc num-buffers=12 ! video/x-raw,format=BGR,width=64,height=48 !"),
                               *tiny("every=3"), "!", "fakesink")
    assert rc == 0
    stats = stats_message(stdout)
    assert stats["frames"] == 12 and stats["dropped"] == 0 and stats["model-runs"] == 4
    assert {"model-ms", "refine-ms", "total-ms", "element-ms"} <= set(stats)


def test_qos_drops_late_buffers_and_counts_them(probe):
    out = probe("run", f"videotestsrc is-live=true num-buffers=60 ! video/x-raw,format=BGR,width=64,height=48,"
                f"framerate=30/1 ! edgematte name=matte model={TINY} backend=ort-cpu ! identity sleep-time=60000 ! "
                "fakesink sync=true qos=true")
    assert out["result"] == "eos", out
    stats = out["stats"]
    assert stats["dropped"] > 0 and stats["frames"] + stats["dropped"] == 60
    assert out["buffers"] == stats["frames"] and out["stats_property"]["frames"] == stats["frames"]


def test_the_latency_query_adds_the_elements_latency(probe):
    source = "videotestsrc is-live=true num-buffers=30 ! video/x-raw,format=BGR,width=64,height=48,framerate=25/1"
    with_element = probe("run", f"{source} ! edgematte name=matte model={TINY} backend=ort-cpu ! fakesink sync=true")
    without = probe("run", f"{source} ! identity ! fakesink sync=true")
    assert with_element["result"] == without["result"] == "eos"
    added = with_element["latency_ms"][0] - without["latency_ms"][0]
    assert added >= 40.0 - 1e-3  # one frame at 25 fps, until frames are measured


def test_a_flushing_seek_and_eos_are_handled(probe):
    out = probe("flush", f"videotestsrc num-buffers=30 ! video/x-raw,format=BGR,width=64,height=48,framerate=30/1 ! "
                f"edgematte name=matte model={TINY} backend=ort-cpu temporal=0.5 ! fakesink sync=true", "10")
    assert out["result"] == "eos" and out["seeked"] and out["stats"]["frames"] >= 30
    # the one frame the element had matted and was pushing when the seek flushed the sink may not arrive there
    assert out["buffers"] <= out["stats"]["frames"] <= out["buffers"] + 1


def test_the_background_changes_while_playing(probe):
    out = probe("switch", "videotestsrc num-buffers=12 pattern=blue ! video/x-raw,format=BGR,width=64,height=48 ! "
                f"edgematte name=matte model={TINY} backend=ort-cpu background=green ! fakesink", "4", "background=red")
    assert out["result"] == "eos" and len(out["pixels"]) == 12
    assert out["pixels"][0] == [64, 177, 0] and out["pixels"][-1] == [0, 0, 255]  # BGR green, then red


def test_background_none_while_playing_renegotiates_to_bgra(probe):
    out = probe("switch", "videotestsrc num-buffers=12 pattern=blue ! video/x-raw,format=BGRx,width=64,height=48 ! "
                f"edgematte name=matte model={TINY} backend=ort-cpu background=green ! fakesink", "4", "background=none")
    assert out["result"] == "eos" and len(out["pixels"]) == 12
    assert out["pixels"][0] == [64, 177, 0, 255] and out["pixels"][-1][3] == 0  # transparent: blue is background


def test_null_playing_cycles_keep_rss_flat(probe):
    out = probe("cycles", f"videotestsrc num-buffers=5 ! video/x-raw,format=BGR,width=160,height=120 ! "
                f"edgematte name=matte model={TINY} backend=ort-cpu ! fakesink", "100")
    assert out["result"] == "eos" and out["buffers"] == 500
    rss = out["rss_kb"]
    assert len(rss) == 100 and rss[-1] - rss[19] < 2048, rss[19::10]  # KiB over the last 80 cycles
