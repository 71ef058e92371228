"""Quick check of this machine's NVIDIA GPU: CUDA kernel parity, then per-stage timings.

    python bench/gpu_check.py            # a few minutes at most
    python bench/gpu_check.py --runs 50 --no-tests

1. Runs the GPU tests (``pytest -m gpu tests/kernels``, plus ``-m trt tests/trt`` where TensorRT
   imports): the CUDA kernels against their NumPy/CPU twins (trimap exact, composite within 1).
2. Times one frame's stages at 720p and 1080p on the GPU and on the host, side by side:
   upload, preprocess, model, upsample, trimap, composite, download. The "model" is a stand-in
   backend written in CuPy (a per-pixel sigmoid over the channels, the same math on the host in
   NumPy), so the check needs no TensorRT engine; GPU times come from CUDA events, host times
   from perf_counter. It also checks the GPU results against the host ones: trimap exact,
   composite within 1 level.

The timings need CuPy (``pip install cupy-cuda12x``); with only pycuda, step 2 is skipped. Without
an NVIDIA GPU the script says so and exits 0, having checked nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SIZES = {"720p": (720, 1280), "1080p": (1080, 1920)}
MODEL_HW = (256, 256)
WEIGHTS = np.array([2.0, -1.0, -1.0], np.float32)  # the stand-in model: alpha = sigmoid(w . rgb + b)
BIAS = np.float32(0.1)
GREEN = (0, 255, 0)


def find_gpu() -> Tuple[Optional[str], str]:
    """("cupy" | "pycuda" | None, what was found or why not)."""
    reasons = []
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
        if count:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            return "cupy", f"{props['name'].decode()} (CuPy {cupy.__version__}, {count} device(s))"
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


def run_gpu_tests() -> int:
    """The kernel parity tests (marker gpu) and, where TensorRT imports, the engine tests (marker trt)."""
    import importlib.util

    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "gpu", "tests/kernels"]
    if importlib.util.find_spec("tensorrt") is not None:
        argv = argv[:-2] + ["-m", "gpu or trt", "tests/kernels", "tests/trt/test_trt_engine.py"]
    print("$", " ".join(argv[1:]), flush=True)
    return subprocess.call(argv, cwd=str(REPO))


# --- one frame, stage by stage --------------------------------------------------------------------


def host_frame(hw: Tuple[int, int], seed: int = 0) -> np.ndarray:
    """A uint8 HxWx3 BGR frame: smooth colour fields plus noise, so every trimap class occurs."""
    h, w = hw
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    red = 127 + 127 * np.sin(x / 97.0) * np.cos(y / 61.0)
    frame = np.stack([255 - red, np.full_like(red, 96), red], axis=-1) + rng.normal(0, 4, (h, w, 3))
    return np.clip(frame, 0, 255).astype(np.uint8)


def host_stages(frame: np.ndarray) -> Dict[str, Callable[[dict], None]]:
    import cv2

    import edgematte

    h, w = frame.shape[:2]

    def preprocess(s):
        rgb = cv2.resize(frame, MODEL_HW[::-1], interpolation=cv2.INTER_LINEAR)[..., ::-1]
        s["src"] = (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]

    def model(s):
        s["alpha"] = 1.0 / (1.0 + np.exp(-(np.tensordot(WEIGHTS, s["src"][0], axes=1) + BIAS)))

    def upsample(s):
        up = cv2.resize(s["alpha"].astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        s["mask"] = np.rint(np.clip(up, 0, 1) * 255).astype(np.uint8)

    def trimap(s):
        s["trimap"] = edgematte.make_trimap(s["mask"])

    def composite(s):
        s["composite"] = edgematte.composite(frame, s["mask"], GREEN)

    return {"upload": lambda s: None, "preprocess": preprocess, "model": model, "upsample": upsample,
            "trimap": trimap, "composite": composite, "download": lambda s: None}


def device_stages(frame: np.ndarray, cp) -> Dict[str, Callable[[dict], None]]:
    import edgematte
    from edgematte.kernels import cuda as kc

    h, w = frame.shape[:2]
    weights = cp.asarray(WEIGHTS).reshape(3, 1, 1)

    def upload(s):
        s["frame"] = cp.asarray(frame)

    def preprocess(s):
        s["src"] = kc.preprocess(s["frame"], *MODEL_HW, dtype=np.float32)

    def model(s):  # the CuPy stand-in for the engine
        s["alpha"] = 1.0 / (1.0 + cp.exp(-((weights * s["src"][0]).sum(axis=0) + BIAS)))

    def upsample(s):
        s["mask"] = kc.upsample_alpha(s["alpha"], h, w)

    def trimap(s):
        s["trimap"] = edgematte.make_trimap(s["mask"])

    def composite(s):
        s["composite"] = edgematte.composite(s["frame"], s["mask"], GREEN)

    def download(s):
        s["host_composite"] = cp.asnumpy(s["composite"])

    return {"upload": upload, "preprocess": preprocess, "model": model, "upsample": upsample,
            "trimap": trimap, "composite": composite, "download": download}


def time_host(stages, runs: int) -> Dict[str, float]:
    state: dict = {}
    for fn in stages.values():  # warm-up
        fn(state)
    times = {name: 0.0 for name in stages}
    for _ in range(runs):
        for name, fn in stages.items():
            start = time.perf_counter()
            fn(state)
            times[name] += (time.perf_counter() - start) * 1e3
    return {name: t / runs for name, t in times.items()}


def time_device(stages, runs: int, cp) -> Tuple[Dict[str, float], dict]:
    state: dict = {}
    for fn in stages.values():  # warm-up: NVRTC/fatbin loading, CuPy kernel compilation
        fn(state)
    cp.cuda.get_current_stream().synchronize()
    events = {name: [] for name in stages}
    for _ in range(runs):
        for name, fn in stages.items():
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            fn(state)
            stop.record()
            events[name].append((start, stop))
    cp.cuda.get_current_stream().synchronize()
    return {name: sum(cp.cuda.get_elapsed_time(a, b) for a, b in pairs) / runs
            for name, pairs in events.items()}, state


def compare(host: dict, device: dict, cp) -> Tuple[str, bool]:
    """GPU against host on the same frame: trimap exact (on the GPU's own mask), composite within 1
    (on the GPU's own mask too); the masks themselves within 2 (FP32 model, two bilinear resizes)."""
    import edgematte

    mask = cp.asnumpy(device["mask"])
    frame = cp.asnumpy(device["frame"])
    trimap_ok = np.array_equal(cp.asnumpy(device["trimap"]), edgematte.make_trimap(mask))
    diff = int(np.abs(device["host_composite"].astype(int) - edgematte.composite(frame, mask, GREEN).astype(int)).max())
    mask_diff = int(np.abs(mask.astype(int) - host["mask"].astype(int)).max())
    text = f"trimap {'exact' if trimap_ok else 'DIFFERS'}, composite max diff {diff}, mask vs host max diff {mask_diff}"
    return text, trimap_ok and diff <= 1 and mask_diff <= 2


def timings(runs: int) -> int:
    import cupy as cp

    names = list(host_stages(host_frame((8, 8))))
    rows, notes, failed = {}, [], False
    for label, hw in SIZES.items():
        frame = host_frame(hw)
        host = time_host(host_stages(frame), runs)
        device, state = time_device(device_stages(frame, cp), runs, cp)
        host_state: dict = {}
        for fn in host_stages(frame).values():
            fn(host_state)
        verdict, ok = compare(host_state, state, cp)
        failed |= not ok
        notes.append(f"{label}: {verdict}{'' if ok else '  <-- FAILED'}")
        rows[label] = (host, device)
    header = f"{'stage':<11}" + "".join(f"{label + ' host':>13}{label + ' gpu':>12}{'x':>7}" for label in SIZES)
    print(header)
    for name in names + ["total"]:
        line = f"{name:<11}"
        for label in SIZES:
            host, device = rows[label]
            h = sum(host.values()) if name == "total" else host[name]
            d = sum(device.values()) if name == "total" else device[name]
            line += f"{h:13.2f}{d:12.2f}{(h / d if d else float('nan')):7.1f}"
        print(line)
    print("(ms per frame, mean of", runs, "runs; GPU times from CUDA events; x = host / gpu)")
    for note in notes:
        print(note)
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per stage (default 20)")
    parser.add_argument("--no-tests", action="store_true", help="skip the pytest parity run")
    args = parser.parse_args(argv)
    kind, found = find_gpu()
    if kind is None:
        print(f"gpu_check: no NVIDIA GPU found ({found}); nothing was checked.")
        return 0
    print(f"gpu_check: {found}")
    status = 0 if args.no_tests else run_gpu_tests()
    if kind != "cupy":
        print("gpu_check: per-stage timings need CuPy (pip install cupy-cuda12x); skipped.")
        return status
    return timings(args.runs) or status


if __name__ == "__main__":
    sys.exit(main())
