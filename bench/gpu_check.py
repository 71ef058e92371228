"""Check this machine's NVIDIA GPU: the CUDA kernels, the pipeline in the CUDA space against the host space, timings.

    python bench/gpu_check.py            # most of its time is first-use kernel compilation
    python bench/gpu_check.py --runs 50 --no-tests --json gpu_check.json

1. Runs the GPU tests (``pytest -m gpu tests/kernels``, plus ``-m trt tests/trt/test_trt_engine.py``
   where TensorRT imports): the CUDA kernels against their CPU twins; and, with or without pytest,
   a direct check of the same kernels on a few frames, and of the pipeline's stage kernels
   (``edgematte/kernels/cuda/stages.cu``) against OpenCV and the native passes, bit for bit.
2. Runs the pipeline in the CUDA space (:class:`edgematte.pipeline.cuda.CudaSpace`) beside the host space on
   the same frames (clips from ../shared/data/videos when present, else synthetic) and compares them (alpha
   within 2, composite and foreground within 1, trimap in all but 0.5% of its pixels): a segmentation model
   (every refine mode, temporal smoothing, backgrounds, device frames, a frame's own alpha) and a recurrent
   RobustVideoMatting-shaped model whose state the backend carries on the device. Where TensorRT and pycuda
   import, the segmentation stand-in as an FP32 engine runs in the CUDA space against ONNX Runtime on the host;
   where the shared RVM weights are present too, RVM's static export at 1280x720 as an FP16 engine runs
   against the dynamic graph on ONNX Runtime (mean |d alpha| per frame).
3. Prints per-stage timings at 720p and 1080p for both models (CUDA events; the host clock for the host
   space) and the bandwidth each device stage reaches against a device-to-device copy.

The models are stand-ins evaluated with CuPy (NumPy on the host): a 1x1 convolution and a sigmoid, and the
same with a recurrent state (RVM's signature, see :class:`RecurrentStandIn`), so neither TensorRT nor pycuda
nor PyTorch is needed: the check covers the kernels and the pipeline's CUDA path, not an engine. Steps 2 and 3
need CuPy (``pip install cupy-cuda12x``); with only pycuda, step 1 runs and the rest is skipped. Without an
NVIDIA GPU the script says so and exits 0, having checked nothing (``--cpu-dry-run`` runs its steps with the
CUDA space's code on the CPU: NumPy for CuPy, the kernels built with g++; a source checkout only). Otherwise
the exit status is 1 when a check failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}
MODEL_HW = (256, 256)
TOLERANCE = {"trimap": 0, "composite": 1, "alpha": 2, "foreground": 1}


# -- the stand-in engine ---------------------------------------------------------------------------
class StandInBackend:
    """A tiny model behind the Backend protocol, evaluated with ``xp`` (NumPy or CuPy).

    ``src`` [1,3,h,w] RGB float32 0..1 -> ``alpha`` [1,1,h,w] = sigmoid(w . src + b): a 1x1
    convolution (red minus blue, like tests/assets/tiny_seg.onnx but softer, so the alpha has soft
    edges) and a sigmoid. The output buffer is reused, as TensorRT's are. With CuPy it reads
    device arrays in place (``device_inputs``).
    """

    def __init__(self, xp: Any, input_hw: Tuple[int, int] = MODEL_HW, weights=(9.0, 1.0, -9.0), bias: float = -0.5):
        from edgematte.types import TensorSpec

        self.xp = xp
        self.device_inputs = xp is not np
        h, w = input_hw
        self.inputs = (TensorSpec("src", (1, 3, h, w), "float32"),)
        self.outputs = (TensorSpec("alpha", (1, 1, h, w), "float32"),)
        self.weights = [np.float32(v) for v in weights]
        self.bias = np.float32(bias)
        self._out = xp.empty((1, 1, h, w), np.float32)

    def open(self) -> "StandInBackend":
        return self

    def close(self) -> None:
        pass

    def __enter__(self) -> "StandInBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def infer(self, feed, *, validate: bool = True) -> Dict[str, Any]:
        xp = self.xp
        src = xp.asarray(feed["src"])[0]
        logit = self._out[0, 0]
        xp.multiply(src[0], self.weights[0], out=logit)
        for c in (1, 2):
            logit += src[c] * self.weights[c]
        logit += self.bias
        xp.negative(logit, out=logit)
        xp.exp(logit, out=logit)
        logit += np.float32(1)
        xp.reciprocal(logit, out=logit)
        return {"alpha": self._out}


class RecurrentStandIn:
    """RobustVideoMatting's signature (``src``, ``r1i``..``r4i``, ``downsample_ratio`` -> ``fgr``, ``pha``,
    ``r1o``..``r4o``) around a stand-in evaluated with ``xp``, its state carried by the backend as RVM's is
    (``carry_state``/``reset_state``): pha = sigmoid(9 R + G - 9 B - 0.5 + 4 h) at the frame's size, with
    h = (pha - 1/2) / 2 of the previous frame (zeros after a reset), fgr = src. With CuPy it reads and returns
    device arrays (what a TensorRT engine with its states on the device does)."""

    def __init__(self, xp: Any) -> None:
        from edgematte.types import TensorSpec

        self.xp, self.device_inputs = xp, xp is not np
        dyn = (1, 1, None, None)
        self.inputs = (TensorSpec("src", (1, 3, None, None), "float32"),
                       *(TensorSpec(f"r{i}i", dyn, "float32") for i in range(1, 5)),
                       TensorSpec("downsample_ratio", (1,), "float32"))
        self.outputs = (TensorSpec("fgr", (1, 3, None, None), "float32"), TensorSpec("pha", (1, 1, None, None), "float32"),
                        *(TensorSpec(f"r{i}o", dyn, "float32") for i in range(1, 5)))
        self.h: Any = None

    def open(self) -> "RecurrentStandIn":
        return self

    def close(self) -> None:
        pass

    def carry_state(self, pairs) -> None:
        self.reset_state()

    def reset_state(self) -> None:
        self.h = None

    def infer(self, feed, *, validate: bool = True) -> Dict[str, Any]:
        xp = self.xp
        src = xp.asarray(feed["src"]).astype(np.float32)
        logit = src[0, 0] * np.float32(9) + src[0, 1] - src[0, 2] * np.float32(9) - np.float32(0.5)
        if self.h is not None and self.h.shape == logit.shape:
            logit += self.h * np.float32(4)
        pha = np.float32(1) / (np.float32(1) + xp.exp(-logit))
        self.h = (pha - np.float32(0.5)) * np.float32(0.5)
        return {"pha": pha[None, None], "fgr": src}


# -- frames ----------------------------------------------------------------------------------------
def synthetic_frames(hw: Tuple[int, int], count: int, seed: int = 0) -> List[np.ndarray]:
    """A soft red disc moving over a blue-green gradient with noise: uint8 HxWx3 BGR."""
    import cv2

    h, w = hw
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(count):
        frame = np.empty((h, w, 3), np.uint8)
        frame[..., 0] = (200 * xx / max(w - 1, 1)).astype(np.uint8)
        frame[..., 1] = (120 * yy / max(h - 1, 1)).astype(np.uint8)
        frame[..., 2] = 30
        centre = (w // 2 + i * w // 40, h // 2)
        cv2.circle(frame, centre, min(h, w) // 4, (40, 60, 230), -1)
        frame = cv2.GaussianBlur(frame, (0, 0), max(h, w) / 300)
        noise = rng.integers(-6, 7, frame.shape)
        frames.append(np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return frames


def real_frames(hw: Tuple[int, int], count: int) -> Optional[List[np.ndarray]]:
    """``count`` frames of a clip from ../shared/data/videos scaled to ``hw``, or None when absent."""
    import cv2

    clip = REPO.parent / "shared" / "data" / "videos" / "asl_book.mkv"
    if not clip.is_file():
        return None
    capture = cv2.VideoCapture(str(clip))
    frames = []
    try:
        while len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.resize(frame, (hw[1], hw[0]), interpolation=cv2.INTER_CUBIC))
    finally:
        capture.release()
    return frames or None


# -- the checks ------------------------------------------------------------------------------------
def find_gpu() -> Tuple[Optional[str], str]:
    """("cupy" | "pycuda" | None, what was found or why not)."""
    reasons = []
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
        if count:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            return "cupy", f"{name} (CuPy {cupy.__version__}, {count} device(s))"
        reasons.append("CuPy sees no device")
    except ImportError:
        reasons.append("CuPy is not installed")
    except Exception as exc:  # cudaErrorNoDevice, driver missing: CuPy raises its own runtime errors
        reasons.append(f"CuPy: {exc}")
    try:
        import pycuda.driver as cuda

        cuda.init()
        if cuda.Device.count():
            return "pycuda", f"{cuda.Device(0).name()} (pycuda)"
        reasons.append("pycuda sees no device")
    except ImportError:
        reasons.append("pycuda is not installed")
    except Exception as exc:  # pycuda._driver.RuntimeError: cuInit failed
        reasons.append(f"pycuda: {exc}")
    return None, "; ".join(reasons)


def device_facts(cp: Any) -> Dict[str, Any]:
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return {
        "gpu": name,
        "compute_capability": f"{props['major']}.{props['minor']}",
        "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
        "driver": cp.cuda.runtime.driverGetVersion(),
        "runtime": cp.cuda.runtime.runtimeGetVersion(),
        "cupy": cp.__version__,
        "machine": platform.machine(),
    }


def gpu_test_command(with_tensorrt: bool) -> List[str]:
    """pytest on the kernel parity tests (marker gpu), plus the engine tests (marker trt) with TensorRT."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m"]
    if with_tensorrt:
        return cmd + ["gpu or trt", "tests/kernels", "tests/trt/test_trt_engine.py"]
    return cmd + ["gpu", "tests/kernels"]


def run_gpu_tests(timeout: int) -> Dict[str, Any]:
    """The kernel parity tests (marker gpu) and, where TensorRT imports, the engine tests (marker trt),
    in a child process; a source checkout only."""
    if not (REPO / "tests" / "kernels").is_dir():
        return {"status": "skipped", "why": f"{REPO / 'tests'} is absent (not a source checkout)"}
    if importlib.util.find_spec("pytest") is None:
        return {"status": "skipped", "why": "pytest is not installed (pip install -e '.[dev]')"}
    cmd = gpu_test_command(importlib.util.find_spec("tensorrt") is not None)
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "why": f"timed out after {timeout} s", "command": " ".join(cmd[1:])}
    tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
    status = {0: "passed", 5: "skipped"}.get(done.returncode, "failed")
    return {"status": status, "summary": tail[0], "command": " ".join(cmd[1:]),
            "output": (done.stdout + done.stderr)[-3000:] if status == "failed" else ""}


def check_kernels_direct(cp: Any) -> Dict[str, Any]:
    """The registry's CUDA kernels against the CPU kernels on a few frames, without pytest: trimap
    and composite exact, the preprocessing kernel at identity scale exact, the blur within 1 of OpenCV."""
    import cv2

    import edgematte
    from edgematte.kernels import kernels

    cpu = kernels("cpu")
    rng = np.random.default_rng(3)
    frame = synthetic_frames((481, 643), 1, seed=3)[0]
    mask = cv2.GaussianBlur(rng.integers(0, 2, (481, 643), dtype=np.uint8) * 255, (0, 0), 6)
    fmask = (mask / 255.0).astype(np.float32)
    bg = synthetic_frames((481, 643), 1, seed=4)[0]
    d = cp.asarray
    worst: Dict[str, int] = {}

    def diff(name: str, got: Any, want: np.ndarray) -> None:
        worst[name] = max(worst.get(name, 0), int(np.abs(to_host(got).astype(np.int32) - want).max()))

    for m in (mask, fmask):
        diff("trimap", edgematte.make_trimap(d(m), 7, 3), cpu.make_trimap(m, 7, 3))
        for background in (bg, (0, 255, 0), None):
            dev_bg = d(background) if isinstance(background, np.ndarray) else background
            diff("composite", edgematte.composite(d(frame), d(m), dev_bg), cpu.composite(frame, m, background))
    if cp is not np:
        from edgematte.kernels.cuda import blur, preprocess

        small = frame[:128, :160].copy()
        want = np.multiply(small.transpose(2, 0, 1)[::-1], np.float32(1.0 / 255.0), dtype=np.float32)[None]
        got = to_host(preprocess(d(small), 128, 160, dtype=np.float32))
        worst["preprocess"] = int(np.count_nonzero(got != want))  # values that differ at all
        diff("blur", blur(d(frame), 13, 2.0), cv2.GaussianBlur(frame, (13, 13), 2.0))
    limits = {"trimap": 0, "composite": 0, "preprocess": 0, "blur": 1}
    return {"status": "passed" if all(v <= limits[k] for k, v in worst.items()) else "failed", "max_diff": worst}


def to_host(array: Any) -> np.ndarray:
    return array.get() if hasattr(array, "get") else array


def check_stage_kernels(cp: Any, space: Any) -> Dict[str, Any]:
    """The pipeline's stage kernels (stages.cu) through the space, against OpenCV and the native passes: bilinear
    and area resampling bit-exact to cv2.resize, the "fast" fit and pass bit-exact to the native ones."""
    import cv2

    from edgematte.kernels import native
    from edgematte.refine import FAST

    rng = np.random.default_rng(5)
    worst: Dict[str, int] = {}

    def diff(name: str, got: Any, want: np.ndarray) -> None:
        worst[name] = max(worst.get(name, 0), int(np.abs(to_host(got).astype(np.int32) - want).max()))

    for shape, (dh, dw) in [((720, 1280, 3), (360, 640)), ((360, 640, 3), (256, 256)), ((256, 256), (1080, 1920)),
                            ((135, 240, 3), (1080, 1920)), ((97, 131), (301, 77)), ((33, 17, 3), (5, 200))]:
        src = rng.integers(0, 256, shape, dtype=np.uint8)
        diff("resize", space.resize(cp.asarray(src), cp.empty((dh, dw) + shape[2:], np.uint8)),
             cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR))
    for shape, (dh, dw) in [((1080, 1920, 3), (135, 240)), ((479, 639, 3), (59, 79)), ((256, 256, 3), (128, 128))]:
        src = rng.integers(0, 256, shape, dtype=np.uint8)
        diff("area", space.area(cp.asarray(src), cp.empty((dh, dw, 3), np.uint8)),
             cv2.resize(src, (dw, dh), interpolation=cv2.INTER_AREA))
    small = cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), (0, 0), 2)
    alpha = np.clip(cv2.GaussianBlur(rng.random((256, 256), dtype=np.float32), (0, 0), 5) * 4 - 1.5, 0, 1)
    frame = cv2.resize(small, (1280, 720), interpolation=cv2.INTER_CUBIC)
    fh, fw = 128, 128
    d = SimpleNamespace(fit_image=cp.empty((fh, fw, 3), np.uint8), fit_alpha=cp.empty((fh, fw), np.float32),
                        coef=cp.empty((4, fh, fw), np.float32), blurs=cp.empty((6, fh, fw), np.float32),
                        foreground=cp.empty((720, 1280, 3), np.uint8))
    space.fit(cp.asarray(small), cp.asarray(alpha), d, None, foreground=True)
    got_a, got_f = cp.empty((720, 1280), np.uint8), cp.empty((720, 1280, 3), np.uint8)
    space.apply(cp.asarray(frame), d, got_a, got_f, "no-composite", None, None)
    h = SimpleNamespace(fit_image=np.empty((fh, fw, 3), np.uint8), fit_alpha=np.empty((fh, fw), np.float32),
                        coef=np.empty((4, fh, fw), np.float32), blurs=np.empty((6, fh, fw), np.float32))
    cv2.resize(small, (fw, fh), dst=h.fit_image, interpolation=cv2.INTER_AREA)
    cv2.resize(alpha, (fw, fh), dst=h.fit_alpha, interpolation=cv2.INTER_AREA)
    guided = native("_guided")
    guided.guided_fit(h.fit_image, h.fit_alpha, h.coef, FAST.radius, FAST.mean_radius, FAST.eps, FAST.known_radius,
                      h.blurs, FAST.foreground_radius, FAST.foreground_small_radius, 1, None)
    want_a, want_f = np.empty((720, 1280), np.uint8), np.empty((720, 1280, 3), np.uint8)
    guided.guided_apply(h.coef, h.blurs, frame, want_a, want_f, None, None, None, 1)
    worst["fit"] = int(np.count_nonzero(to_host(d.coef) != h.coef) + np.count_nonzero(to_host(d.blurs) != h.blurs))
    diff("fast alpha", got_a, want_a)
    diff("fast foreground", got_f, want_f)
    return {"status": "passed" if not any(worst.values()) else "failed", "max_diff": worst}


def compare(device: Any, host: Any) -> Dict[str, int]:
    """Largest absolute difference per Result field (device arrays downloaded); the trimap's differing pixels."""
    diffs = {}
    for name in ("alpha", "trimap", "foreground", "composite"):
        d, h = getattr(device, name), getattr(host, name)
        if h is None and d is None:
            continue
        if h is None or d is None:  # one side made it, the other did not: a stage-order difference
            diffs[name] = 256
            continue
        d = to_host(d)
        diffs[name] = int(np.abs(d.astype(np.int16) - h).max())
        diffs[name + "_pixels"] = int(np.count_nonzero(d != h))
    return diffs


def passed(worst: Dict[str, int], pixels: int) -> bool:
    """Within TOLERANCE; the trimap (thresholds of an alpha allowed to move) in all but 0.5% of its pixels."""
    return all(worst.get(k, 0) <= tol for k, tol in TOLERANCE.items() if k != "trimap") and \
        worst.get("trimap_pixels", 0) <= pixels // 200


PIPELINE_SETTINGS = [
    dict(refine="fast", background=(0, 255, 0)),
    dict(refine="fast", background=None, temporal=0.5),
    dict(refine="off", background="image"),
    dict(refine="full", background=(0, 255, 0)),
    dict(refine="fast", background="blur"),
    dict(refine="fast", background=(0, 255, 0), device_frames=True),
    dict(refine="fast", background=(0, 255, 0), frame_alpha=True),
    dict(model="rvm", background=(0, 255, 0)),
    dict(model="rvm", background=None, temporal=0.5),
    dict(model="rvm", background="blur", device_frames=True),
]


def check_pipeline(cp: Any, make_space: Any, frames: List[np.ndarray]) -> Dict[str, Any]:
    """The pipeline in the CUDA space against the host space, the settings of PIPELINE_SETTINGS."""
    from edgematte.pipeline import Pipeline, TemporalConfig
    from edgematte.pipeline.host import HostSpace

    image = synthetic_frames((300, 500), 1, seed=9)[0]
    own = np.tile(np.linspace(0, 255, frames[0].shape[1]).astype(np.uint8), (frames[0].shape[0], 1))
    rows, ok = [], True
    for setting in PIPELINE_SETTINGS:
        setting = dict(setting)
        background = setting.pop("background")
        background = image if isinstance(background, str) and background == "image" else background
        device_frames, frame_alpha = setting.pop("device_frames", False), setting.pop("frame_alpha", False)
        model = setting.pop("model", "selfie")
        if "temporal" in setting:
            setting["temporal"] = TemporalConfig(setting["temporal"])
        backend = RecurrentStandIn if model == "rvm" else StandInBackend
        host = Pipeline(backend(np), space=HostSpace(), **setting)
        device = Pipeline(backend(cp), space=make_space(), **setting)
        extra = {"input_alpha": own} if frame_alpha else {}
        worst: Dict[str, int] = {}
        for frame in frames:
            want = host.process(frame, background, **extra)
            got = device.process(cp.asarray(frame) if device_frames else frame, background, **extra)
            for k, v in compare(got, want).items():
                worst[k] = max(worst.get(k, 0), v)
        good = passed(worst, frames[0].shape[0] * frames[0].shape[1])
        ok &= good
        label = ", ".join([model] + [f"{k}={getattr(v, 'strength', v)}" for k, v in setting.items()]
                          + [f"background={'image' if background is image else background}"])
        label += (", device frames" if device_frames else "") + (", frame alpha" if frame_alpha else "")
        rows.append({"setting": label, "passed": good, **worst})
    return {"status": "passed" if ok else "failed", "rows": rows}


def stand_in_onnx(path: Path, hw: Tuple[int, int] = MODEL_HW) -> Path:
    """The stand-in model as ONNX (Conv 1x1 with StandInBackend's weights and bias, then Sigmoid)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    stand_in = StandInBackend(np, hw)
    weight = np.array(stand_in.weights, np.float32).reshape(1, 3, 1, 1)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["src", "w", "b"], ["logit"]), helper.make_node("Sigmoid", ["logit"], ["alpha"])],
        "stand_in",
        [helper.make_tensor_value_info("src", TensorProto.FLOAT, [1, 3, *hw])],
        [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [1, 1, *hw])],
        initializer=[numpy_helper.from_array(weight, "w"), numpy_helper.from_array(np.array([stand_in.bias]), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def _has_tensorrt() -> bool:
    return importlib.util.find_spec("tensorrt") is not None and importlib.util.find_spec("pycuda") is not None


def check_tensorrt(cp: Any, frames: List[np.ndarray]) -> Dict[str, Any]:
    """Where TensorRT and pycuda import: the stand-in as an FP32 engine in the CUDA space (TrtBackend reading the
    space's binding in place, its output left on the device) against the same ONNX on ONNX Runtime on the host."""
    if not _has_tensorrt():
        return {"status": "skipped", "why": "TensorRT or pycuda is not installed"}
    import tempfile

    from edgematte.export.to_trt import EngineConfig, engine_for
    from edgematte.pipeline import Pipeline
    from edgematte.runtime.ort_cpu import OrtCpuBackend
    from edgematte.runtime.trt import TrtBackend

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = stand_in_onnx(Path(tmp) / "stand_in.onnx")
        plan = engine_for(onnx_path, out_dir=Path(tmp) / "engines", config=EngineConfig(fp16=False))
        with TrtBackend(plan) as trt, OrtCpuBackend(onnx_path) as ort:
            device, host = Pipeline(trt, refine="fast"), Pipeline(ort, refine="fast")
            worst: Dict[str, int] = {}
            for frame in frames:
                for k, v in compare(device.process(frame, (0, 255, 0)), host.process(frame, (0, 255, 0))).items():
                    worst[k] = max(worst.get(k, 0), v)
            space = device.space.name
    good = passed(worst, frames[0].shape[0] * frames[0].shape[1]) and space == "cuda"
    return {"status": "passed" if good else "failed", "engine": plan.name, "space": space, **worst}


def check_tensorrt_rvm(cp: Any) -> Dict[str, Any]:
    """Where TensorRT, pycuda and the shared RVM weights are present: `edgematte build rvm --size 1280x720` (the
    static export as an FP16 engine) through Matter in the CUDA space, against the dynamic graph on ONNX Runtime
    on the host at the same ratio: mean |d alpha| per frame (FP16 against FP32), the worst frame reported."""
    weights = REPO.parent / "shared" / "weights" / "rvm_mobilenetv3" / "rvm_mobilenetv3_from_tfjs_uint8_fp32.onnx"
    if not _has_tensorrt() or not weights.is_file():
        return {"status": "skipped", "why": "TensorRT, pycuda or the shared RVM weights are absent"}
    import tempfile

    import edgematte
    from edgematte.export.rvm import build_rvm_engines

    frames = real_frames((720, 1280), 30) or synthetic_frames((720, 1280), 30)
    with tempfile.TemporaryDirectory() as tmp:
        plans = build_rvm_engines(weights, [(720, 1280)], out_dir=Path(tmp) / "engines")
        with edgematte.Matter(plans[0], backend="tensorrt") as device, \
                edgematte.Matter(weights, backend="ort-cpu") as host:
            means, worst_composite = [], 0
            for frame in frames:
                got, want = device.process(frame, (0, 255, 0)), host.process(frame, (0, 255, 0))
                means.append(float(np.abs(to_host(got.alpha).astype(np.int16) - want.alpha).mean()))
                worst_composite = max(worst_composite, int(np.abs(to_host(got.composite).astype(np.int16)
                                                              - want.composite).mean()))
            space = device.pipeline.space.name
    return {"status": "passed" if max(means) <= 1.0 and space == "cuda" else "failed", "space": space,
            "mean_abs_alpha_worst_frame": round(max(means), 3), "mean_abs_alpha": round(float(np.mean(means)), 3)}


def copy_bandwidth(cp: Any, nbytes: int = 1 << 28) -> float:
    """Device-to-device copy bandwidth in GB/s (bytes read + written per second); host memory in a dry run."""
    a = cp.empty(nbytes, np.uint8)
    b = cp.empty(nbytes, np.uint8)
    a.fill(1)
    cp.copyto(b, a)
    times = []
    for _ in range(5):
        if not hasattr(cp.cuda, "get_current_stream"):  # the CPU dry run
            t = time.perf_counter()
            np.copyto(b, a)
            times.append((time.perf_counter() - t) * 1e3)
            continue
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        cp.copyto(b, a)
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end))
    return 2 * nbytes / (min(times) * 1e-3) / 1e9


def stage_bytes(hw: Tuple[int, int], model: str) -> Dict[str, int]:
    """Bytes each device stage must move at least (reads + writes of its inputs and outputs)."""
    h, w = hw
    mh, mw = MODEL_HW
    frame = h * w * 3
    if model == "rvm":  # the whole graph's float planes: pha and fgr read (16 B/px), alpha and foreground written
        return {"upload": frame, "preprocess": frame + frame // 16, "temporal": 3 * 16 * h * w,
                "refine": 16 * h * w + 4 * h * w, "composite": frame + h * w + frame, "download": frame}
    return {
        "upload": frame,
        "preprocess": frame + frame // 4 * 2,  # the first halving reads the frame, writes a quarter
        "refine": frame + h * w + frame,  # "fast": reads the frame, writes alpha and foreground
        "composite": frame + h * w + frame,
        "download": frame,
    }


def time_pipelines(cp: Any, make_space: Any, frames: List[np.ndarray], iterations: int, model: str) -> Dict[str, Any]:
    """Median per-stage ms of one model (refine="fast", a colour background): the CUDA space on host frames
    (the composite downloaded) and on device frames (nothing downloaded), and the host space."""
    from edgematte.pipeline import Pipeline
    from edgematte.pipeline.host import HostSpace

    out: Dict[str, Any] = {}
    background = (0, 255, 0)
    backend = RecurrentStandIn if model == "rvm" else StandInBackend
    runs = [("cuda", Pipeline(backend(cp), space=make_space("composite"), refine="fast"), frames, iterations),
            ("cuda, device frames", Pipeline(backend(cp), space=make_space("auto"), refine="fast"),
             [cp.asarray(f) for f in frames], iterations),
            ("host", Pipeline(backend(np), space=HostSpace(), refine="fast"), frames, max(3, iterations // 4))]
    for name, pipe, inputs, n in runs:
        for frame in inputs[:3]:  # warm-up: buffers, kernel compilation
            pipe.process(frame, background)
        samples: Dict[str, List[float]] = {}
        wall = []
        for i in range(n):
            t = time.perf_counter()
            res = pipe.process(inputs[i % len(inputs)], background)
            wall.append((time.perf_counter() - t) * 1e3)
            for k, v in res.timings.items():
                samples.setdefault(k, []).append(v)
        out[name] = {k: float(np.median(v)) for k, v in samples.items()}
        out[name]["wall"] = float(np.median(wall))
    return out


STAGES = ("upload", "preprocess", "model", "temporal", "upsample", "trimap", "refine", "composite", "download", "total")


def print_table(title: str, timing: Dict[str, Any], hw: Tuple[int, int], model: str, copy_gbs: float,
                on_gpu: bool = True) -> None:
    nbytes = stage_bytes(hw, model)
    runs = [name for name in timing if name != "host"]
    host = timing["host"]
    print(f"\n{title} ({hw[1]}x{hw[0]}), {model} stand-in, refine=fast, colour background; medians in ms, "
          "(GB/s, % of a device copy) for the first run")
    print(f"  {'stage':<11}" + "".join(f"{name[:22]:>24}" for name in runs) + f"{'host space':>14}")
    for stage in STAGES:
        if all(stage not in timing[name] for name in timing):
            continue
        cells = []
        for k, name in enumerate(runs):
            d = timing[name].get(stage)
            gbs = nbytes[stage] / (d * 1e-3) / 1e9 if d and stage in nbytes and on_gpu and k == 0 else None
            extra = f" ({gbs:.0f}, {100 * gbs / copy_gbs:.0f}%)" if gbs else ""
            cells.append(f"{_fmt(d) + extra:>24}")
        print(f"  {stage:<11}" + "".join(cells) + f"{_fmt(host.get(stage)):>14}")
    walls = ", ".join(f"{name} {timing[name]['wall']:.3f} ms (x{host['wall'] / timing[name]['wall']:.1f})"
                      for name in runs)
    print(f"  wall clock per frame: {walls}; host {host['wall']:.3f} ms; device-to-device copy {copy_gbs:.0f} GB/s")
    print("  GB/s: the bytes a stage must read and write over its time; upload and download cross PCIe "
          "(shared DRAM on Jetson), the rest device memory")


def _fmt(value: Optional[float], digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _step(report: Dict[str, Any], key: str, fn, *args: Any) -> Any:
    """Run one check; an exception fails that check (traceback kept) and the run goes on."""
    try:
        report[key] = fn(*args)
    except Exception:  # the script must finish and report whatever else it could check
        report[key] = {"status": "failed", "error": traceback.format_exc(limit=6)}
        print(f"  {key} raised:\n{report[key]['error']}")
    return report[key]


def cpu_dry_run_space():
    """(NumPy standing in for CuPy, a maker of CUDA spaces whose kernels are built with g++): tests/cuda_on_cpu.py."""
    import tempfile

    sys.path.insert(0, str(REPO / "tests"))
    from cuda_on_cpu import cpu_cuda_space, fake_cupy

    folder = Path(tempfile.mkdtemp(prefix="gpu-check-dry-run-"))
    return fake_cupy, lambda results="auto": cpu_cuda_space(folder, results)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--runs", "--iterations", type=int, default=30, help="timed frames per run and size (30)")
    parser.add_argument("--no-tests", "--skip-kernel-tests", action="store_true", help="skip the pytest parity run")
    parser.add_argument("--cpu-dry-run", action="store_true",
                        help="run this script's steps with the CUDA space's code on the CPU (NumPy for CuPy, the "
                             "kernels built with g++) at small sizes: tests the script itself, checks nothing about "
                             "a GPU")
    args = parser.parse_args(argv)
    try:
        import edgematte  # noqa: F401  (installed, or `pip install -e .` in this clone)
    except ImportError:
        sys.path.insert(0, str(REPO))

    sizes = SIZES
    if args.cpu_dry_run:
        cp, make_space = cpu_dry_run_space()
        sizes = {"120p": (120, 160), "240p": (240, 320)}
        report: Dict[str, Any] = {"device": {"gpu": "none: CPU dry run (NumPy for CuPy, kernels built with g++)"}}
        print("gpu_check --cpu-dry-run: NumPy and the CPU builds of the kernels stand in for CuPy and CUDA; no GPU is "
              "checked")
    else:
        kind, found = find_gpu()
        if kind is None:
            print(f"gpu_check: no NVIDIA GPU found ({found}); nothing was checked. Run it on a machine with an "
                  "NVIDIA GPU, its driver and CuPy (pip install cupy-cuda12x, or cupy-cuda11x for JetPack 5).")
            return 0
        print(f"gpu_check: {found}")
        if kind != "cupy":
            tests = {"status": "skipped", "why": "--no-tests"} if args.no_tests else run_gpu_tests(240)
            print(f"[1] CUDA kernel parity: {tests['status']} {tests.get('summary', tests.get('why', ''))}")
            print(tests.get("output", ""))
            print("gpu_check: the pipeline check and the timings need CuPy (pip install cupy-cuda12x); skipped.")
            return 1 if tests["status"] == "failed" else 0
        import cupy as cp
        from edgematte.pipeline.cuda import CudaSpace

        make_space = lambda results="auto": CudaSpace(results)  # noqa: E731
        report = {"device": device_facts(cp)}
    print("gpu_check on", ", ".join(f"{k} {v}" for k, v in report["device"].items()))
    t0 = time.perf_counter()

    if args.no_tests or args.cpu_dry_run:
        report["kernel_tests"] = {"status": "skipped", "why": "--no-tests or --cpu-dry-run"}
    else:
        _step(report, "kernel_tests", run_gpu_tests, 150)
    kt = report["kernel_tests"]
    print(f"[1] CUDA kernel parity ({kt.get('command', 'pytest')}): {kt['status']} "
          f"{kt.get('summary', kt.get('why', ''))}")
    if kt["status"] == "failed":
        print(kt.get("output", ""))

    if args.cpu_dry_run:  # the registry's CUDA kernels need a GPU; on the CPU this checks the CPU kernels
        report["kernels_direct"] = check_kernels_direct(np)
    else:
        _step(report, "kernels_direct", check_kernels_direct, cp)
    direct = report["kernels_direct"]
    print(f"[1b] CUDA kernels vs CPU kernels, direct: {direct['status']} (max diff {direct.get('max_diff', '-')})")
    stages = _step(report, "stage_kernels", check_stage_kernels, cp, make_space())
    print(f"[1c] stage kernels (stages.cu) vs OpenCV and the native passes: {stages['status']} "
          f"(max diff {stages.get('max_diff', '-')})")

    frames = {name: real_frames(hw, 8) or synthetic_frames(hw, 8) for name, hw in sizes.items()}
    source = "real clip asl_book.mkv, rescaled" if real_frames((48, 64), 1) else "synthetic frames"
    report["pipeline"] = {}
    for name, f in frames.items():
        result = _step(report["pipeline"], name, check_pipeline, cp, make_space, f[:4])
        print(f"[2a] CUDA space vs host space at {name} ({source}; limits {TOLERANCE}): {result['status']}")
        for row in result.get("rows", []):
            print("     ", "ok  " if row["passed"] else "FAIL", row)

    for key, fn, fn_args in (("tensorrt", check_tensorrt, (cp, frames[next(iter(frames))][:3])),
                             ("tensorrt_rvm", check_tensorrt_rvm, (cp,))):
        if args.cpu_dry_run:
            report[key] = {"status": "skipped", "why": "--cpu-dry-run"}
        else:
            _step(report, key, fn, *fn_args)
    for key, what in (("tensorrt", "[2b] FP32 TensorRT engine in the CUDA space vs ONNX Runtime on the host"),
                      ("tensorrt_rvm", "[2c] RVM's FP16 engine (static export, 1280x720) vs its dynamic graph on ONNX "
                                       "Runtime")):
        r = report[key]
        print(f"{what}: {r['status']} {r.get('why', {k: v for k, v in r.items() if k not in ('status', 'error')})}")

    copy_gbs = _step(report, "copy_gbs", copy_bandwidth, cp, 1 << 26 if args.cpu_dry_run else 1 << 28)
    report["timings"] = {}
    for (name, hw), model in itertools.product(sizes.items(), ("selfie", "rvm")):
        key = f"{name} {model}"
        timing = _step(report["timings"], key, time_pipelines, cp, make_space, frames[name], args.runs, model)
        if timing.get("status") != "failed" and isinstance(copy_gbs, float):
            print_table(name, timing, hw, model, copy_gbs, on_gpu=not args.cpu_dry_run)
    report["seconds"] = time.perf_counter() - t0

    failed = [k for k in ("kernel_tests", "kernels_direct", "stage_kernels", "tensorrt", "tensorrt_rvm")
              if report[k]["status"] == "failed"]
    failed += [f"pipeline {k}" for k, v in report["pipeline"].items() if v["status"] == "failed"]
    failed += [f"timing {k}" for k, v in report["timings"].items() if v.get("status") == "failed"]
    failed += ["copy bandwidth"] if not isinstance(copy_gbs, float) else []
    print(f"\ngpu_check: {'FAILED: ' + ', '.join(failed) if failed else 'all checks passed'} "
          f"({report['seconds']:.0f} s)")
    if args.json:
        from edgematte.files import write_atomic

        write_atomic(args.json, json.dumps(report, indent=2, default=str).encode())
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
