"""The host pipeline's outputs, pinned as hashes: every refine mode, temporal on and off, frames with and
without their own alpha, every kind of background, the selfie model and RobustVideoMatting, on the shared
clips and portraits.

The hashes are exact only where they were made: the versions of NumPy, OpenCV and ONNX Runtime, the CPU's
vector extensions and the thread count change floating-point results. ``pins/host_outputs.json`` records that
environment beside the hashes, and the test skips, naming the difference, anywhere else (CI's leg with the
oldest allowed dependencies, another CPU). Regenerate them only on purpose, in that environment:

    EDGEMATTE_UPDATE_PINS=1 pytest tests/test_host_pins.py

What changed on purpose since the first pins is written in ``CHANGES`` below (and the README's "Temporal
smoothing" section): a pin moves only with an entry there.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

import numpy as np
import pytest
from clips import read_frames

import edgematte

PINS = Path(__file__).resolve().parent / "pins" / "host_outputs.json"
THREADS = 2
FIELDS = ("alpha", "trimap", "foreground", "composite")
BACKGROUNDS = ("none", "colour", "image", "blur", "bgra")
#: pins that moved on purpose (key prefix -> how); every other pin is the output of the code before the
#: one-pipeline change, and EDGEMATTE_UPDATE_PINS refuses to move a pin no entry here covers
_MOTION_WEIGHTED = (
    "temporal smoothing is motion-weighted (edgematte.temporal): the past's weight is the strength where the "
    "picture held still and 0 where it moved, ramping up as a running mean after a restart; "
)
CHANGES = {
    "rvm/refine=None/temporal=0.5/": (
        "RVM's temporal smoothing is the pipeline's one EMA at the model's resolution: on the split graph's "
        "guided-filter coefficients A and b (1/4 of 1280x720 per side at the automatic ratio) before the "
        "full-resolution pass, instead of on the full-size uint8 alpha after it (the foreground is smoothed with "
        "the alpha now); RVM without temporal smoothing is unchanged. Then " + _MOTION_WEIGHTED + "on A and b still; "
        "and then its full-resolution alpha too, with the same weights upsampled against a float state "
        "(Temporal.smooth_alpha: A * I + b passes the frame's own noise on where A is large)"
    ),
    "selfie/refine=fast/temporal=0.5/": _MOTION_WEIGHTED + "on the fast guided filter's coefficients at the fitting "
    "level (known cells kept exact) instead of the model alpha",
    "selfie/refine=full/temporal=0.5/": _MOTION_WEIGHTED + "on the coefficients of the fast prior the band is solved "
    "from, instead of the model alpha",
    "selfie/refine=off/temporal=0.5/": _MOTION_WEIGHTED + "on the model alpha, as before",
    "selfie/refine=fast/": (
        "the fast pass's foreground step runs in int16 fixed point (csrc/guided.c foreground_step, twin "
        "_guided_reference.fixed_foreground), within 1 level of the float step it replaces: the foreground and "
        "composite move by at most 1 level at some edge pixels; the alpha is unchanged"
    ),
}


def environment() -> dict:
    import cv2
    import onnx
    import onnxruntime

    cpuinfo = Path("/proc/cpuinfo")  # Linux; elsewhere the extensions are unknown, and the pins are skipped
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    return {
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "machine": platform.machine(),
        "cpu_extensions": sorted(flags & {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
                                          "avx512_bf16", "amx_tile", "neon", "asimd"}),
        "threads": THREADS,
    }


def _read_clip(path: Path, count: int, size=None):
    frames = read_frames(path, count, size)
    if len(frames) < count:
        pytest.skip(f"{path} does not decode here")
    return frames


@pytest.fixture(scope="module")
def inputs(shared_data):
    """Sequences of uint8 BGR frames, each processed in order after a reset: a clip with a cut (640x480),
    the same clip at 1280x720 (two halvings) and three portraits as unrelated photos."""
    import cv2

    videos, portraits = shared_data / "videos", shared_data / "portraits"
    clip = _read_clip(videos / "asl_book.mkv", 4) + _read_clip(videos / "asl_milk.mkv", 2)
    wide = _read_clip(videos / "asl_book.mkv", 2, size=(1280, 720))
    photos = []
    for path in (portraits / "astronaut.png", portraits / "p3m" / "p_07141906.jpg", portraits / "p3m" / "p_22fc0130.jpg"):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            pytest.skip(f"{path} does not decode here")
        scale = 640 / max(image.shape[:2])
        photos.append(cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                                 interpolation=cv2.INTER_AREA) if scale < 1 else image)
    image = _read_clip(videos / "asl_eat.mkv", 1)[0][100:400, 50:600].copy()
    return {"clip": clip, "wide": wide, "photos": photos, "image": image}


def _with_alpha(frame: np.ndarray) -> np.ndarray:
    """The frame as BGRA with an alpha of its own: a horizontal ramp, a transparent top-left corner."""
    h, w = frame.shape[:2]
    alpha = np.tile(np.linspace(64, 255, w).astype(np.uint8), (h, 1))
    alpha[: h // 4, : w // 4] = 0
    return np.dstack([frame, alpha])


def _background(name: str, image: np.ndarray):
    from edgematte.pipeline import NO_COMPOSITE

    return {"none": NO_COMPOSITE, "colour": (64, 177, 0), "image": image, "blur": "blur",
            "bgra": None}[name]


def _digest(results) -> dict:
    out = {}
    for field in FIELDS:
        h = hashlib.sha256()
        for result in results:
            value = result[field]
            h.update(b"none" if value is None else repr((value.shape, str(value.dtype))).encode() + value.tobytes())
        out[field] = h.hexdigest()[:24]
    return out


def run_configs(model, inputs, refine, temporal, background, cases):
    """{key: {field: hash}} for each (key, own_alpha, call) of ``cases``, through one Matter (reset before each
    case, and before each sequence of ``inputs``)."""
    out = {}
    kwargs = {} if refine is None else {"refine": refine}
    with edgematte.Matter(model, backend="ort-cpu", temporal=temporal, threads=THREADS, **kwargs) as matter:
        for key, own_alpha, call in cases:
            results = []
            bg = _background(background, inputs["image"])
            for name in ("clip", "wide", "photos"):
                matter.reset()
                for frame in inputs[name]:
                    if name == "photos":
                        matter.reset()  # unrelated photos, as the CLI treats them
                    frame = _with_alpha(frame) if own_alpha else frame
                    if call == "replace_background":
                        composite = matter.replace_background(frame, bg)
                        results.append({"alpha": None, "trimap": None, "foreground": None,
                                        "composite": composite.copy()})
                        continue
                    result = matter.process(frame, bg)
                    results.append({f: None if getattr(result, f) is None else getattr(result, f).copy()
                                    for f in FIELDS})
            out[key] = _digest(results)
    return out


def configs(model: str):
    """{(refine, temporal, background): [(key, own_alpha, call), ...]}: every pinned configuration of ``model``.

    The selfie model: every combination. RVM (no refine modes): every background, and a frame's own alpha and
    the composite-only call on the backgrounds where they take another path."""
    groups = {}
    for refine in ("off", "fast", "full") if model == "selfie" else (None,):
        for temporal in (None, 0.5):
            for background in BACKGROUNDS:
                cases = groups[(refine, temporal, background)] = []
                for own_alpha in (False, True):
                    if model == "rvm" and own_alpha and background not in ("colour", "bgra"):
                        continue
                    calls = ["process"]
                    if background != "none" and not own_alpha and refine in ("fast", None):
                        calls.append("replace_background")  # the composite-only path of "fast" and RVM
                    for call in calls:
                        key = (f"{model}/refine={refine}/temporal={temporal}/own_alpha={own_alpha}/"
                               f"background={background}/{call}")
                        cases.append((key, own_alpha, call))
    return groups


@pytest.fixture(scope="module")
def models(shared_weights, tmp_path_factory, rvm_onnx):
    cache = tmp_path_factory.mktemp("pins-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGEMATTE_WEIGHTS", str(shared_weights))
        mp.setenv("EDGEMATTE_CACHE", str(cache))
        from edgematte.export.to_onnx import onnx_for

        selfie = onnx_for("selfie", progress=False)
    return {"selfie": selfie, "rvm": rvm_onnx, "cache": cache}


@pytest.fixture(scope="module")
def pinned():
    if os.environ.get("EDGEMATTE_UPDATE_PINS"):
        return None
    data = json.loads(PINS.read_text())
    here, there = environment(), data["environment"]
    differ = {k: (there.get(k), here.get(k)) for k in set(here) | set(there) if here.get(k) != there.get(k)}
    if differ:
        pytest.skip("the pins were made with " + ", ".join(f"{k} {a}" for k, (a, b) in sorted(differ.items()))
                    + "; this environment has " + ", ".join(f"{k} {b}" for k, (a, b) in sorted(differ.items()))
                    + ": exact output hashes hold only where they were made")
    return data["hashes"]


@pytest.mark.parametrize("model", ["selfie", "rvm"])
def test_host_outputs_are_bit_identical_to_the_pins(model, models, inputs, pinned, monkeypatch):
    monkeypatch.setenv("EDGEMATTE_BACKEND", "ort-cpu")
    monkeypatch.setenv("EDGEMATTE_CACHE", str(models["cache"]))  # RVM's split graph is cached there
    got = {}
    for (refine, temporal, background), cases in configs(model).items():
        got.update(run_configs(models[model], inputs, refine, temporal, background, cases))
    if pinned is None:  # EDGEMATTE_UPDATE_PINS: write this environment's hashes
        data = json.loads(PINS.read_text()) if PINS.is_file() else {"hashes": {}}
        moved = [k for k, v in got.items() if data["hashes"].get(k, v) != v and not k.startswith(tuple(CHANGES))]
        assert not moved, f"pins {moved} would move without an entry in CHANGES saying how"
        data["environment"] = environment()
        data["hashes"].update(got)
        PINS.parent.mkdir(exist_ok=True)
        PINS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {len(got)} pins to {PINS}")
    wrong = {key: [f for f in FIELDS if value[f] != pinned.get(key, {}).get(f)] for key, value in got.items()}
    wrong = {key: fields for key, fields in wrong.items() if fields}
    assert not wrong, f"{len(wrong)} of {len(got)} configurations differ from the pins: {wrong}"
