"""Background replacement speed: edgematte's pipeline against a straightforward OpenCV/NumPy one, and the
real-time "fast" stages against the previous main's (copied below as the baseline), 640x360 to 3840x2160.

    pytest bench/test_pipeline.py --benchmark-json bench/results/pipeline.json
    python bench/ratios.py bench/results/pipeline.json

The real-time runs (refine "fast" and "off") record per-stage medians (ms), ``fps`` and
``non_model_share`` (the fraction of the frame time spent outside the model) in extra_info.
Goal: >= 60 FPS with the default model and a non-model share <= 0.30 on a 2-core CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import edgematte
from edgematte.cli.bench import measure, summarize, synthetic_frame
from edgematte.pipeline import NO_COMPOSITE, Pipeline

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
SIZE = (1280, 720)
BACKGROUND = (64, 177, 0)  # BGR green
ROUNDS, WARMUP = 200, 20
#: the default model; "pp-humanseg" (the shared PP-HumanSeg-Lite, wrapped) can be added for comparison
MODELS = ["selfie"]


def _model_path(name: str, tmp_path_factory) -> Path:
    if name == "pp-humanseg":
        source = SHARED / "weights" / "pp_humanseg" / "ppseg_lite_portrait_398x224_with_softmax_fixed.onnx"
        if not source.is_file():
            pytest.skip(f"{source} is absent")
        from pp_humanseg import build_onnx

        return build_onnx(source, tmp_path_factory.mktemp("models") / "pp_humanseg.onnx")
    from edgematte.models import MODELS

    if name not in MODELS:
        pytest.skip(f"model {name!r} is not in this installation's model table")
    if (SHARED / "weights").is_dir():
        os.environ.setdefault("EDGEMATTE_WEIGHTS", str(SHARED / "weights"))
    from edgematte.export.to_onnx import onnx_for

    return onnx_for(name, progress=False)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return portrait_frame()


def portrait_frame() -> np.ndarray:
    """The shared public-domain portrait covering 1280x720, or a synthetic one without the shared data."""
    from edgematte.background import cover as _cover

    photo = SHARED / "data" / "portraits" / "astronaut.png"
    out = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
    if photo.is_file():
        from edgematte.io import read_image

        _cover(read_image(photo), out)
    else:
        out[...] = synthetic_frame(*SIZE)
    return out


class SeedPipeline:
    """The obvious implementation: fresh arrays every frame, float64/float32 full-size maths."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0]
        self.hw = tuple(self.input.shape[2:])

    def __call__(self, frame: np.ndarray, background) -> np.ndarray:
        import cv2

        h, w = frame.shape[:2]
        blob = cv2.dnn.blobFromImage(frame, 1 / 255.0, (self.hw[1], self.hw[0]), swapRB=True)
        alpha = self.session.run(None, {self.input.name: blob})[0][0, 0]
        mask = np.round(cv2.resize(alpha, (w, h)) * 255).astype(np.uint8)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        eroded, dilated = cv2.erode(mask, kernel, iterations=3), cv2.dilate(mask, kernel, iterations=3)
        mask = np.where(eroded >= 254, 255, np.where(dilated <= 1, 0, mask))
        a = (mask / 255.0)[..., None]
        return np.round(frame * a + np.asarray(background, np.float64) * (1 - a)).astype(np.uint8)


@pytest.mark.parametrize("refine", ["fast", "off"])
@pytest.mark.parametrize("model", MODELS)
def test_replace_background_1280x720(benchmark, frame, model, refine, tmp_path_factory):
    path = _model_path(model, tmp_path_factory)
    with edgematte.Matter(path, backend="ort-cpu", refine=refine) as matter:
        samples = measure(matter, frame, BACKGROUND, frames=ROUNDS, warmup=WARMUP)
        benchmark.group = f"replace-background-1280x720-{model}"
        benchmark.extra_info.update({k: round(float(np.median(v)), 3) for k, v in samples.items()})
        benchmark.extra_info.update({k: round(v, 3) for k, v in summarize(samples).items()})
        benchmark.extra_info["threads"] = matter.backend.threads
        benchmark.pedantic(matter.replace_background, (frame, BACKGROUND), rounds=ROUNDS, warmup_rounds=WARMUP)


@pytest.mark.parametrize("model", MODELS)
def test_replace_background_1280x720_full_refinement(benchmark, frame, model, tmp_path_factory):
    """refine="full" (refine_alpha on the band): the photo setting, for scale; not real time."""
    with edgematte.Matter(_model_path(model, tmp_path_factory), backend="ort-cpu", refine="full") as matter:
        benchmark.group = f"replace-background-1280x720-{model}"
        benchmark.pedantic(matter.replace_background, (frame, BACKGROUND), rounds=5, warmup_rounds=1)


@pytest.mark.parametrize("model", MODELS)
def test_seed_pipeline_baseline(benchmark, frame, model, tmp_path_factory):
    seed = SeedPipeline(_model_path(model, tmp_path_factory))
    benchmark.group = f"replace-background-1280x720-{model}"
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(seed, (frame, BACKGROUND), rounds=ROUNDS // 4, warmup_rounds=WARMUP // 2)


# ---------------------------------------------------------------- the stages after the model, by frame size
SIZES = [(640, 360), (1280, 720), (1920, 1080), (3840, 2160)]


def _soft_disc(size: int = 256) -> np.ndarray:
    """A model-size alpha: a disc with a 2-pixel soft edge, float32 0..1."""
    yy, xx = np.mgrid[:size, :size]
    return (1 / (1 + np.exp((np.hypot(yy - size / 2, xx - size / 2) - 0.35 * size) / 2))).astype(np.float32)


class PreviousFast(Pipeline):
    """The previous main's "fast" stages after the model, kept verbatim as the baseline: the model alpha to
    uint8, bilinear upsampling, make_trimap (7x7 ellipse, 3 iterations) at full resolution, the known-region
    clamp in four OpenCV passes and the composite with the frame's own colours."""

    def _fast(self, frame, alpha, b, background, keep_foreground=True, restart=False, out=None):
        import cv2

        from edgematte.kernels import trusted

        if not hasattr(b, "raw_alpha"):  # its own buffers, made once per frame size
            h, w = b.frame_hw
            b.small_alpha, b.raw_alpha = np.empty(alpha.shape, np.uint8), np.empty((h, w), np.uint8)
            b.trimap, b.scratch = np.empty((h, w), np.uint8), np.empty((h, w), np.uint8)
        kernels = trusted("cpu")
        cv2.convertScaleAbs(alpha, dst=b.small_alpha, alpha=255.0)
        h, w = b.frame_hw
        cv2.resize(b.small_alpha, (w, h), dst=b.raw_alpha, interpolation=cv2.INTER_LINEAR)
        kernels.make_trimap(b.raw_alpha, 7, 3, 254, 1, b.trimap, self.threads)
        cv2.threshold(b.trimap, 254, 255, cv2.THRESH_BINARY, dst=b.scratch)
        cv2.add(b.raw_alpha, b.scratch, dst=b.alpha)
        cv2.add(b.trimap, b.trimap, dst=b.scratch)
        cv2.min(b.alpha, b.scratch, dst=b.alpha)
        if background is NO_COMPOSITE:
            return b.alpha, None, None
        out = out if out is not None else b.out4 if background is None else b.out3
        return b.alpha, None, kernels.composite(frame, b.alpha, background, out, self.threads)


def previous_downscale(frame: np.ndarray, small: np.ndarray, cache: dict) -> None:
    """The previous main's preprocessing resize: 2x halvings while both sides stay >= 2x the model's, then
    bilinear, or a direct INTER_AREA when no halving applies (e.g. 640x360 -> 256x256)."""
    import cv2

    mh, mw = small.shape[:2]
    key = frame.shape
    if key not in cache:
        halves, hh, hw = [], frame.shape[0], frame.shape[1]
        while hh // 2 >= mh and hw // 2 >= mw:
            hh, hw = hh // 2, hw // 2
            halves.append(np.empty((hh, hw, 3), np.uint8))
        cache[key] = halves
    src = frame
    for half in cache[key]:
        hh, hw = half.shape[:2]
        cv2.resize(src[: 2 * hh, : 2 * hw], (hw, hh), dst=half, interpolation=cv2.INTER_LINEAR)
        src = half
    cv2.resize(src, (mw, mh), dst=small, interpolation=cv2.INTER_LINEAR if cache[key] else cv2.INTER_AREA)


def _frame(width: int, height: int) -> np.ndarray:
    return synthetic_frame(width, height)


def _copy_ms(frame: np.ndarray, rounds: int = 50) -> float:
    """Median milliseconds of one np.copyto of the frame: the unit of "frame copies"."""
    import time

    dst = np.empty_like(frame)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        np.copyto(dst, frame)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


@pytest.mark.parametrize("impl", ["fast", "previous-fast"])
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_stages_after_the_model(benchmark, size, impl):
    """Everything but the model (a stand-in returns a fixed 256x256 alpha): preprocessing, refinement and the
    composite onto a colour, in frame copies (extra_info["frame_copies"]: median / one np.copyto)."""
    from quality import LowResSegmenter

    frame = _frame(*size)
    cls = Pipeline if impl == "fast" else PreviousFast
    pipeline = cls(LowResSegmenter(_soft_disc()), refine="fast")
    benchmark.group = f"after-model-{size[0]}x{size[1]}"
    if impl == "previous-fast":
        benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(pipeline.process, (frame, BACKGROUND), rounds=100, warmup_rounds=10)
    benchmark.extra_info["frame_copies"] = round(benchmark.stats.stats.median * 1e3 / _copy_ms(frame), 1)


@pytest.mark.parametrize("impl", ["new", "previous"])
@pytest.mark.parametrize("size", [(640, 360), (1280, 720)], ids=["640x360", "1280x720"])
def test_preprocess_resize(benchmark, size, impl):
    """The frame -> model-size resize alone (the previous one used a direct INTER_AREA below 2x the model size)."""
    from quality import LowResSegmenter

    frame = _frame(*size)
    pipeline = Pipeline(LowResSegmenter(_soft_disc()), refine="fast")
    b = pipeline._buffers_for(frame.shape[:2])
    benchmark.group = f"preprocess-resize-{size[0]}x{size[1]}"
    if impl == "new":
        benchmark.pedantic(pipeline.step.prepare, (pipeline.space, frame, b), rounds=200, warmup_rounds=10)
    else:
        benchmark.extra_info["role"] = "baseline"
        benchmark.pedantic(previous_downscale, (frame, b.small, {}), rounds=200, warmup_rounds=10)


@pytest.mark.parametrize("impl", ["fast", "previous-fast"])
@pytest.mark.parametrize("model", MODELS)
def test_end_to_end_1280x720(benchmark, frame, model, impl, tmp_path_factory):
    """The selfie model end to end (ONNX Runtime, all cores): the new "fast" against the previous one."""
    from edgematte.runtime.ort_cpu import OrtCpuBackend

    with OrtCpuBackend(_model_path(model, tmp_path_factory)) as backend:
        pipeline = (Pipeline if impl == "fast" else PreviousFast)(backend, refine="fast")
        benchmark.group = f"end-to-end-1280x720-{model}"
        if impl == "previous-fast":
            benchmark.extra_info["role"] = "baseline"
        benchmark.pedantic(pipeline.process, (frame, BACKGROUND), rounds=ROUNDS, warmup_rounds=WARMUP)
        benchmark.extra_info["fps"] = round(1.0 / benchmark.stats.stats.median, 1)
