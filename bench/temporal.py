"""Temporal stability of mattes on real static-camera clips: flicker, pops and lag.

    python bench/quality.py --temporal      # writes bench/results/temporal.md

The clips (``../shared/data/videos``) have no ground-truth alpha, but their camera does not move:
where the picture does not change, the matte should not change either, and where it does change,
the matte should follow at once. Per configuration, over every pair of consecutive frames of every
clip (frames in order, the matter reset between clips), three figures in levels of 255:

- **flicker**: the mean |alpha_t - alpha_{t-1}| over the *still edge band*: pixels where the grey
  picture did not change (|grey_t - grey_{t-1}|, 5x5 box-blurred, below :data:`STILL_LEVELS`, that
  mask eroded 7x7) and that lie in the edge band (alpha in 9..246 in either frame, dilated 9x9).
  All such pixels of all pairs pooled.
- **pops**: the share of frame pairs whose 99th-percentile |alpha_t - alpha_{t-1}| over the still edge
  band exceeds :data:`POP_LEVELS` (a visible jump of the edge where nothing moved). Pairs without a
  still edge-band pixel are not counted.
- **lag**: the mean |alpha_t - reference_t| over the *moving edge band*: pixels where the grey picture
  changed by more than :data:`MOVING_LEVELS` (the same blurred difference) and that lie in the edge
  band of either matte at frame t; the reference is the same configuration with temporal filtering
  off. A filter that trails moving edges scores high here; the unfiltered matte scores 0.

Kept apart from the matters that make the alphas, so that the figures can be tested on synthetic
sequences (tests/test_temporal_figures.py) and cached model outputs can be filtered again offline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

#: a pixel is still when its grey level, 5x5 box-blurred difference, moved by less than this
STILL_LEVELS = 2.0
#: a pixel moved when that blurred difference is above this
MOVING_LEVELS = 8.0
#: 99th-percentile change above which a frame pair pops
POP_LEVELS = 64.0
POP_PERCENTILE = 99.0
#: edge band: alpha strictly soft in 9..246, in either frame, dilated DILATE x DILATE
BAND_LOW, BAND_HIGH, BAND_DILATE = 9, 246, 9
#: box blur of the grey difference, erosion of the still mask
BLUR, ERODE = 5, 7

CLIP_SUFFIXES = (".mkv", ".mp4", ".gif", ".avi")
#: RobustVideoMatting MobileNetV3 in ../shared/weights
RVM_WEIGHTS = Path("rvm_mobilenetv3") / "rvm_mobilenetv3_from_tfjs_uint8_fp32.onnx"


@dataclass(frozen=True)
class PictureMotion:
    """Per consecutive pair of a clip's frames: where the picture held still and where it moved."""

    still: Tuple[np.ndarray, ...]  # bool HxW, len(frames) - 1
    moving: Tuple[np.ndarray, ...]


def picture_motion(frames: Sequence[np.ndarray]) -> PictureMotion:
    """Still and moving masks of each consecutive pair of uint8 HxWx3 BGR (or HxW grey) frames."""
    import cv2

    greys = [(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else f).astype(np.float32) for f in frames]
    kernel = np.ones((ERODE, ERODE), np.uint8)
    still, moving = [], []
    for t in range(1, len(greys)):
        change = cv2.blur(np.abs(greys[t] - greys[t - 1]), (BLUR, BLUR), borderType=cv2.BORDER_REFLECT)
        # erode with a border that counts as still, so that the frame's own edge does not shrink the mask
        still.append(cv2.erode((change < STILL_LEVELS).astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT,
                               borderValue=1) > 0)
        moving.append(change > MOVING_LEVELS)
    return PictureMotion(tuple(still), tuple(moving))


def soft(alpha: np.ndarray) -> np.ndarray:
    """Bool HxW: alpha (uint8) strictly soft, BAND_LOW..BAND_HIGH."""
    return (alpha >= BAND_LOW) & (alpha <= BAND_HIGH)


def edge_band(*alphas: np.ndarray) -> np.ndarray:
    """Bool HxW: soft in any of ``alphas`` (uint8 HxW), dilated BAND_DILATE x BAND_DILATE."""
    import cv2

    any_soft = np.zeros(alphas[0].shape, bool)
    for alpha in alphas:
        any_soft |= soft(alpha)
    return cv2.dilate(any_soft.astype(np.uint8), np.ones((BAND_DILATE, BAND_DILATE), np.uint8)) > 0


@dataclass
class Figures:
    """Sums over frame pairs; add clips with ``+=`` (pooled), read with the properties."""

    flicker_sum: float = 0.0
    flicker_count: int = 0
    popped: int = 0
    pairs: int = 0  # pairs with at least one still edge-band pixel
    lag_sum: float = 0.0
    lag_count: int = 0
    per_pair_p99: List[float] = field(default_factory=list)

    def __iadd__(self, other: "Figures") -> "Figures":
        self.flicker_sum += other.flicker_sum
        self.flicker_count += other.flicker_count
        self.popped += other.popped
        self.pairs += other.pairs
        self.lag_sum += other.lag_sum
        self.lag_count += other.lag_count
        self.per_pair_p99 += other.per_pair_p99
        return self

    @property
    def flicker(self) -> float:
        return self.flicker_sum / self.flicker_count if self.flicker_count else 0.0

    @property
    def pops(self) -> float:
        """Share (0..1) of counted pairs that popped."""
        return self.popped / self.pairs if self.pairs else 0.0

    @property
    def lag(self) -> float:
        return self.lag_sum / self.lag_count if self.lag_count else 0.0


def clip_figures(alphas: Sequence[np.ndarray], motion: PictureMotion,
                 reference: Optional[Sequence[np.ndarray]] = None) -> Figures:
    """The three figures' sums for one clip: ``alphas`` uint8 HxW in frame order, ``motion`` of the
    same frames, ``reference`` the unfiltered alphas (None: lag is not measured)."""
    out = Figures()
    for t in range(1, len(alphas)):
        a0, a1 = alphas[t - 1], alphas[t]
        region = motion.still[t - 1] & edge_band(a0, a1)
        change = np.abs(a1.astype(np.int16) - a0)[region]
        if change.size:
            out.flicker_sum += float(change.sum())
            out.flicker_count += int(change.size)
            p99 = float(np.percentile(change, POP_PERCENTILE))
            out.per_pair_p99.append(p99)
            out.pairs += 1
            out.popped += int(p99 > POP_LEVELS)
        if reference is not None:
            r1 = reference[t]
            region = motion.moving[t - 1] & edge_band(a1, r1)
            lag = np.abs(a1.astype(np.int16) - r1)[region]
            out.lag_sum += float(lag.sum())
            out.lag_count += int(lag.size)
    return out


def still_drift(alphas: Sequence[np.ndarray], motion: PictureMotion) -> float:
    """How far the matte wandered where the picture never moved: the mean |alpha_last - alpha_first| (levels)
    over the pixels still in every pair of the clip and in the edge band of the first or the last alpha (uint8
    HxW). A flicker that smoothing only spreads over more frames (0.0 when no pixel qualifies)."""
    if len(alphas) < 2:
        return 0.0
    region = np.logical_and.reduce(motion.still) & edge_band(alphas[0], alphas[-1])
    change = np.abs(alphas[-1].astype(np.int16) - alphas[0])[region]
    return float(change.mean()) if change.size else 0.0


def read_clip(path: Path, limit: int = 0) -> List[np.ndarray]:
    """Every frame of a video or GIF as uint8 HxWx3 BGR (the first ``limit`` when > 0)."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
            if limit and len(frames) >= limit:
                break
    return frames


def _say(line: str) -> None:
    print(line, flush=True)


def clips(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in CLIP_SUFFIXES)


def split(paths: Iterable[Path]) -> Tuple[List[Path], List[Path]]:
    """(tuning, held-out): every other clip in name order, so that both halves have ASL clips and one GIF each.

    Filters were chosen and tuned on the first half only; the held-out half was measured once, at the end.
    """
    paths = sorted(paths)
    return paths[0::2], paths[1::2]


# ---------------------------------------------------------------- running configurations on the clips
@dataclass(frozen=True)
class Config:
    """One row of the table: ``make()`` opens a matter (anything with ``process(frame) -> Result``,
    ``reset()`` and ``close()``); ``reference`` is the label of the row with temporal filtering off
    that lag is measured against (None: this row is its own reference, lag 0)."""

    label: str
    make: Callable[[], Any]
    reference: Optional[str] = None


def run_clip(matter: Any, frames: Sequence[np.ndarray]) -> Tuple[List[np.ndarray], float]:
    """(alphas, seconds): every frame through ``matter`` in order after a reset; the alphas copied."""
    matter.reset()
    alphas = []
    start = time.perf_counter()
    for frame in frames:
        alphas.append(matter.process(frame).alpha.copy())
    return alphas, time.perf_counter() - start


def measure(configs: Sequence[Config], paths: Sequence[Path], limit: int = 0,
            log: Optional[Callable[[str], None]] = None) -> Dict[str, Tuple[Figures, float, int]]:
    """label -> (figures pooled over ``paths``, seconds, frames). Clip by clip, every configuration on it."""
    log = log or _say
    out: Dict[str, Tuple[Figures, float, int]] = {c.label: (Figures(), 0.0, 0) for c in configs}
    matters = {c.label: c.make() for c in configs}
    try:
        for path in paths:
            frames = read_clip(path, limit)
            motion = picture_motion(frames)
            references: Dict[str, List[np.ndarray]] = {}
            for config in sorted(configs, key=lambda c: c.reference is not None):  # references first
                alphas, seconds = run_clip(matters[config.label], frames)
                if config.reference is None:
                    references[config.label] = alphas
                figures, total, count = out[config.label]
                figures += clip_figures(alphas, motion, references[config.reference or config.label])
                out[config.label] = (figures, total + seconds, count + len(frames))
            log(f"{path.name}: {len(frames)} frames")
    finally:
        for matter in matters.values():
            matter.close()
    return out


def matter_config(label: str, model: Any, reference: Optional[str] = None, **kwargs: Any) -> Config:
    """A row made by ``edgematte.Matter(model, backend="ort-cpu", **kwargs)``."""

    def make():
        import edgematte

        return edgematte.Matter(model, backend="ort-cpu", **kwargs)

    return Config(label, make, reference)


# ---------------------------------------------------------------- candidate filters (NumPy prototypes)
class Candidate:
    """A temporal filter measured against the pipeline's own, with the interface of its stage's filter
    (:class:`edgematte.temporal.Temporal`: ``weigh`` once per frame with the frame at the outputs' grid, then
    ``smooth`` per output; :func:`plug` adapts it). Subclasses give the weight of the past (a number or an
    [h,w] map)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.previous: Optional[np.ndarray] = None
        self.states: Dict[str, np.ndarray] = {}
        self.weight: Any = None  # None: this frame starts over
        self.frames = 0

    def weights(self, guide: np.ndarray, previous: np.ndarray) -> Any:
        raise NotImplementedError

    def weigh(self, guide: np.ndarray, restart: bool = False, threads: int = 1) -> None:
        if restart or self.previous is None or self.previous.shape != guide.shape:
            self.weight, self.frames = None, 1
        else:
            self.weight, self.frames = self.weights(guide, self.previous), self.frames + 1
        self.previous = guide.copy()

    def smooth(self, name: str, values: np.ndarray, threads: int = 1, *, known: bool = False) -> np.ndarray:
        from edgematte.kernels._temporal_reference import temporal_blend
        from edgematte.temporal import KNOWN_TOLERANCE

        state = self.states.get(name)
        if self.weight is None or state is None or state.shape != values.shape:
            state = self.states[name] = np.array(values, np.float32)
        else:  # the pipeline's blend (and its rule for the guided filter's known cells), with these weights
            temporal_blend(np.float32(self.weight), values, state, self.previous if known else None, KNOWN_TOLERANCE)
        return state


class Ema(Candidate):
    """The previous filter: a fixed weight of the past everywhere, moving or not."""

    def __init__(self, strength: float) -> None:
        self.strength = strength
        super().__init__()

    def weights(self, guide: np.ndarray, previous: np.ndarray) -> Any:
        return np.float32(self.strength)


class MotionWeighted(Candidate):
    """The past's weight set by the picture's motion: ``strength`` at a mean channel difference (3x3 mean, or
    the mean or max over ``block`` x ``block`` blocks) <= ``still``, 0 at >= ``moving``, linear between; or,
    with ``hysteresis``, 0 from above ``moving`` until the difference falls below ``still`` again, else
    ``strength``. ``warm_up``: the running mean after a restart, as the pipeline's (min(strength, n / (n + 1)))."""

    def __init__(self, strength: float, still: float = 1.0, moving: float = 3.0, block: int = 0, stat: str = "mean",
                 hysteresis: bool = False, warm_up: bool = True) -> None:
        self.strength, self.still, self.moving = strength, still, moving
        self.block, self.stat, self.hysteresis, self.warm_up = block, stat, hysteresis, warm_up
        self.was_moving: Optional[np.ndarray] = None
        super().__init__()

    def motion(self, guide: np.ndarray, previous: np.ndarray) -> np.ndarray:
        import cv2

        d = np.abs(guide.astype(np.float32) - previous).mean(axis=2)
        if not self.block:
            return cv2.blur(d, (3, 3), borderType=cv2.BORDER_REPLICATE)
        h, w = d.shape
        k = self.block
        padded = np.pad(d, ((0, -h % k), (0, -w % k)), mode="edge")
        blocks = padded.reshape(padded.shape[0] // k, k, padded.shape[1] // k, k)
        per_block = blocks.max(axis=(1, 3)) if self.stat == "max" else blocks.mean(axis=(1, 3))
        return np.repeat(np.repeat(per_block, k, axis=0), k, axis=1)[:h, :w]

    def weights(self, guide: np.ndarray, previous: np.ndarray) -> Any:
        d = self.motion(guide, previous)
        strength = min(self.strength, (self.frames - 1) / self.frames) if self.warm_up else self.strength
        if self.hysteresis:
            moving = d > self.moving
            if self.was_moving is not None and self.was_moving.shape == d.shape:
                moving |= self.was_moving & (d > self.still)
            self.was_moving = moving
            return np.where(moving, 0, strength).astype(np.float32)
        return (strength * np.clip((self.moving - d) / (self.moving - self.still), 0, 1)).astype(np.float32)


class AlphaSmoothing:
    """A Backend around a segmentation model's that filters its alpha at the model's size (guide: the model's
    input frame): the candidates that smooth the model alpha instead of the guided filter's coefficients."""

    def __init__(self, inner: Any, candidate: Candidate) -> None:
        self.inner, self.candidate = inner, candidate
        self.inputs, self.outputs = inner.inputs, inner.outputs
        names = [o.name for o in inner.outputs]
        self.output_name = "alpha" if "alpha" in names else names[0]

    def open(self) -> "AlphaSmoothing":
        return self

    def infer(self, feed: Dict[str, np.ndarray], *, validate: bool = True) -> Dict[str, np.ndarray]:
        out = dict(self.inner.infer(feed, validate=validate))
        alpha = np.asarray(out[self.output_name], np.float32)
        src = next(iter(feed.values()))[0]  # [3,h,w] RGB 0..1
        guide = np.ascontiguousarray(np.rint(src.transpose(1, 2, 0) * 255).astype(np.uint8))
        self.candidate.weigh(guide)
        out[self.output_name] = self.candidate.smooth("alpha", alpha.reshape((1,) + alpha.shape[-2:])).reshape(
            alpha.shape)
        return out

    def close(self) -> None:
        self.inner.close()


class _WithCandidates:
    """A Matter whose reset also resets the candidate filters plugged into it."""

    def __init__(self, matter: Any, candidates: Sequence[Candidate]) -> None:
        self.matter, self.candidates = matter, candidates

    def process(self, frame: np.ndarray) -> Any:
        return self.matter.process(frame)

    def reset(self) -> None:
        self.matter.reset()
        for candidate in self.candidates:
            candidate.reset()

    def close(self) -> None:
        self.matter.close()


def plug(matter: Any, candidate: Candidate) -> None:
    """``candidate`` in place of the filter of ``matter``'s temporal stage (whose smoothing must be on); the stage's
    cut detector stays."""
    from edgematte.temporal import Temporal

    class Stage(Temporal):
        def weigh(self, s: Any, guide: Any, b: Any, restart: bool) -> None:
            candidate.weigh(np.asarray(guide), restart)

        def smooth(self, s: Any, name: str, values: Any, b: Any, known: bool = False) -> Any:
            return candidate.smooth(name, np.asarray(values, np.float32), known=known)

        def smooth_alpha(self, s: Any, alpha: Any, b: Any) -> Any:  # a candidate smooths the step's outputs only
            return alpha

    matter.pipeline.temporal = Stage(matter.pipeline.temporal.config)


def candidate_config(label: str, model: Any, reference: str, coef: Optional[Candidate] = None,
                     alpha: Optional[Candidate] = None, **kwargs: Any) -> Config:
    """A row with candidate filters: ``coef`` in place of the pipeline's filter (the guided filter's or
    RVM's coefficients), ``alpha`` on the model alpha (segmentation models)."""

    def make():
        import edgematte
        from edgematte.matter import _resolve_model
        from edgematte.runtime import open_backend

        backend: Any = "ort-cpu"
        if alpha is not None:
            backend = AlphaSmoothing(open_backend("ort-cpu", _resolve_model(model)[0]), alpha)
        matter = edgematte.Matter(model, backend=backend, temporal=0.5 if coef is not None else 0, **kwargs)
        if coef is not None:
            plug(matter, coef)
        return _WithCandidates(matter, [c for c in (coef, alpha) if c is not None])

    return Config(label, make, reference)


def configs(weights: Path, candidates: bool = True) -> List[Config]:
    """The rows of bench/results/temporal.md: each real-time model unfiltered, the filters measured against the
    pipeline's, and the pipeline's default (``edgematte video``'s)."""
    from edgematte.temporal import MOVING_LEVELS, STILL_LEVELS, STRENGTH

    rvm = weights / RVM_WEIGHTS
    off = "selfie fast, temporal off"
    s, lo, hi = STRENGTH, STILL_LEVELS, MOVING_LEVELS
    rows = [matter_config(off, "selfie", refine="fast", temporal=0)]
    if candidates:
        fast = dict(refine="fast")
        rows += [
            candidate_config("selfie fast, EMA 0.5 of the model alpha (the previous filter)", "selfie", off,
                             alpha=Ema(0.5), **fast),
            candidate_config("selfie fast, EMA 0.8 of the model alpha", "selfie", off, alpha=Ema(0.8), **fast),
            candidate_config("selfie fast, EMA 0.5 of the coefficients", "selfie", off, coef=Ema(0.5), **fast),
            candidate_config(f"selfie fast, motion-weighted {s}, model alpha", "selfie", off,
                             alpha=MotionWeighted(s, lo, hi), **fast),
            candidate_config(f"selfie fast, motion-weighted {s}, model alpha and coefficients", "selfie", off,
                             alpha=MotionWeighted(s, lo, hi), coef=MotionWeighted(s, lo, hi), **fast),
            candidate_config(f"selfie fast, motion-weighted {s}, coefficients, 8x8 blocks (mean)", "selfie", off,
                             coef=MotionWeighted(s, lo, hi, block=8), **fast),
            candidate_config(f"selfie fast, motion-weighted {s}, coefficients, 4x4 blocks (max)", "selfie", off,
                             coef=MotionWeighted(s, lo, hi, block=4, stat="max"), **fast),
            candidate_config(f"selfie fast, motion-gated {s} with hysteresis, coefficients", "selfie", off,
                             coef=MotionWeighted(s, lo, hi, hysteresis=True), **fast),
            candidate_config("selfie fast, motion-weighted 0.9, coefficients", "selfie", off,
                             coef=MotionWeighted(0.9, lo, hi), **fast),
            candidate_config(f"selfie fast, motion-weighted {s}, coefficients, no running-mean start", "selfie", off,
                             coef=MotionWeighted(s, lo, hi, warm_up=False), **fast),
        ]
    rows.append(matter_config(f"**selfie fast, default (motion-weighted {s}, coefficients)**", "selfie", off,
                              refine="fast"))
    if rvm.is_file():
        rvm_off = "RVM MobileNetV3, temporal off"
        rows.append(matter_config(rvm_off, rvm, temporal=0))
        if candidates:
            rows.append(candidate_config("RVM, EMA 0.5 of the coefficients", rvm, rvm_off, coef=Ema(0.5)))
        label = f"**RVM, default (motion-weighted {s}, coefficients and full-resolution alpha)**"
        rows.append(matter_config(label, rvm, rvm_off))
    return rows


def report(videos: Path, weights: Path, rows: Sequence[Config], limit: int = 0) -> str:
    """Markdown: the three figures of every row on the tuning and the held-out clips."""
    from quality import git_sha, table  # bench/ is on sys.path when quality.py runs this

    tuning, held_out = split(clips(videos))
    results = {name: measure(rows, paths, limit) for name, paths in (("tuning", tuning), ("held-out", held_out))}
    lines = []
    for label in (r.label for r in rows):
        cells = [label]
        for name in results:
            figures, _, _ = results[name][label]
            cells += [f"{figures.flicker:.2f}", f"{100 * figures.pops:.1f}%", f"{figures.lag:.2f}"]
        seconds = sum(results[name][label][1] for name in results)
        frames = sum(results[name][label][2] for name in results)
        cells.append(f"{1e3 * seconds / max(frames, 1):.0f}")
        lines.append(cells)
    n_frames = {name: results[name][rows[0].label][2] for name in results}
    header = ["configuration"] + [f"{name} {figure}" for name in results for figure in ("flicker", "pops", "lag")]
    return "\n".join([
        "## Temporal stability (real static-camera clips, no ground truth)",
        "",
        f"git {git_sha()}. Tuning clips ({n_frames['tuning']} frames): {', '.join(p.name for p in tuning)}.  ",
        f"Held-out clips ({n_frames['held-out']} frames): {', '.join(p.name for p in held_out)}.",
        "",
        "Levels of 255, all frame pairs pooled (definitions: bench/temporal.py). **flicker**: mean |alpha_t - "
        f"alpha_t-1| in the edge band (alpha {BAND_LOW}..{BAND_HIGH} in either frame, dilated {BAND_DILATE}x"
        f"{BAND_DILATE}) where the picture did not change (grey difference, {BLUR}x{BLUR} box, below "
        f"{STILL_LEVELS:g} levels, eroded {ERODE}x{ERODE}); **pops**: share of pairs whose {POP_PERCENTILE:g}th "
        f"percentile change there exceeds {POP_LEVELS:g}; **lag**: mean |alpha - alpha with temporal off| in the "
        f"edge band where the picture changed by more than {MOVING_LEVELS:g}. ms/frame: the whole "
        "`Matter.process`, model included (2 shared cores: noisy).",
        "",
        table(header + ["ms/frame"], lines),
    ]) + "\n"


def clip_report(videos: Path, weights: Path, limit: int = 0,
                ratios: Sequence[float] = (0.4, 0.5, 0.6, 0.8, 1.0)) -> str:
    """Markdown: the defaults' figures clip by clip (the pooled table weighs each clip by its still edge-band
    pixels, so one clip can carry a row), then RVM on the held-out clip with the most of its flicker at other
    network input sizes. A diagnosis, not a choice: the automatic ratio was chosen on the tuning clips."""
    from quality import git_sha, table

    from edgematte.models.rvm import auto_downsample_ratio

    rows = configs(weights, candidates=False)
    defaults = [c for c in rows if c.label.startswith("**")]
    rows = [c for c in rows if c.label in {d.reference for d in defaults}] + defaults  # each default and its off
    tuning, held_out = split(clips(videos))
    lines, worst = [], {}
    for name, paths in (("tuning", tuning), ("held-out", held_out)):
        per_clip = {p: measure(rows, [p], limit, log=lambda line: None) for p in paths}
        for config in defaults:
            figures = {p: per_clip[p][config.label][0] for p in paths}
            count = max(sum(f.flicker_count for f in figures.values()), 1)
            summed = max(sum(f.flicker_sum for f in figures.values()), 1e-9)
            worst[(name, config.label)] = max(paths, key=lambda p: figures[p].flicker_sum)
            for p, f in figures.items():
                lines.append([config.label.strip("*").split(",")[0], name, p.name, f"{f.flicker:.2f}",
                              f"{100 * f.pops:.1f}%", f"{f.lag:.2f}", f"{100 * f.flicker_count / count:.0f}%",
                              f"{100 * f.flicker_sum / summed:.0f}%"])
    out = [
        "## Temporal stability clip by clip (the defaults)",
        "",
        f"git {git_sha()}. Figures as in temporal.md, per clip. **still band**: the clip's share of its half's still "
        "edge-band pixels (what the pooled flicker averages over); **flicker share**: its share of the half's "
        "summed flicker.",
        "",
        table(["default", "half", "clip", "flicker", "pops", "lag", "still band", "flicker share"], lines),
    ]
    rvm = [c for c in defaults if c.label.startswith("**RVM")]
    if rvm:
        clip = worst[("held-out", rvm[0].label)]
        frames = read_clip(clip, limit)
        motion = picture_motion(frames)
        cells = []
        for ratio in ratios:
            config = matter_config(f"ratio {ratio:g}", weights / RVM_WEIGHTS, downsample_ratio=ratio)
            matter = config.make()
            try:
                alphas = run_clip(matter, frames)[0]
            finally:
                matter.close()
            f = clip_figures(alphas, motion)
            drift = still_drift(alphas, motion)
            cells.append([f"{ratio:g}", f"{f.flicker:.2f}", f"{100 * f.pops:.1f}%", f"{drift:.1f}"])
        h, w = frames[0].shape[:2]
        out += ["", f"RVM default on {clip.name} ({w}x{h}; the automatic ratio there is "
                f"{auto_downsample_ratio(h, w):g}) at other downsample ratios. **drift**: the mean |last - first "
                "alpha| where the picture never moved in the whole clip (`still_drift`): the network changing its "
                "mind, which a filter that follows it can only spread over more frames.", "",
                table(["downsample ratio", "flicker", "pops", "drift"], cells)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- RVM's downsample ratio
#: frame sizes (width, height) and network input long sides (px) the ratio table measures
RATIO_SIZES = ((640, 480), (1280, 720), (1920, 1080))
RATIO_LONG_SIDES = (192, 256, 320, 384, 448, 512, 640)
#: RVM's recurrent state starts from zeros: the first frames of a clip settle, the figures skip them
RATIO_WARM_UP = 15


def cover(frame: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``frame`` scaled (bilinear) to cover ``size`` (width, height), centre-cropped."""
    import cv2

    h, w = frame.shape[:2]
    scale = max(size[0] / w, size[1] / h)
    if scale == 1 and (w, h) == size:
        return frame
    big = cv2.resize(frame, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
    y, x = (big.shape[0] - size[1]) // 2, (big.shape[1] - size[0]) // 2
    return np.ascontiguousarray(big[y:y + size[1], x:x + size[0]])


def ratio_report(videos: Path, weights: Path, limit: int = 45, threads: Optional[int] = None,
                 log: Optional[Callable[[str], None]] = None) -> str:
    """Markdown: RVM's flicker, pops and SAD against its network input size, per frame size,
    on the tuning clips (first ``limit`` frames each, scaled up to cover the larger sizes; the figures skip
    the first RATIO_WARM_UP frames, while RVM's recurrent state settles).

    SAD (alpha 0..1, thousands, per frame, whole frame) is against the largest network input measured, the
    stand-in for ground truth the clips do not have. Time: :func:`ratio_timing`."""
    import edgematte
    from quality import git_sha, table

    log = log or _say
    tuning, _ = split(clips(videos))
    originals = {p.name: read_clip(p, limit) for p in tuning}
    rows = []
    for size in RATIO_SIZES:
        frames = {name: [cover(f, size) for f in clip] for name, clip in originals.items()}
        motion = {name: picture_motion(clip) for name, clip in frames.items()}
        reference: Dict[str, List[np.ndarray]] = {}
        results = []
        for side in sorted(RATIO_LONG_SIDES, reverse=True):  # the reference first
            ratio = min(1.0, side / max(size))
            figures, sads = Figures(), []
            with edgematte.Matter(weights / RVM_WEIGHTS, backend="ort-cpu", downsample_ratio=ratio, temporal=0,
                                  threads=threads) as matter:
                for name, clip in frames.items():
                    matter.reset()
                    alphas = [matter.process(frame).alpha.copy() for frame in clip][RATIO_WARM_UP:]
                    figures += clip_figures(alphas, PictureMotion(motion[name].still[RATIO_WARM_UP:],
                                                                  motion[name].moving[RATIO_WARM_UP:]))
                    reference.setdefault(name, alphas)
                    sads += [float(np.abs(a.astype(np.int16) - r).sum()) / 255 / 1000
                             for a, r in zip(alphas, reference[name])]
            results.append((side, ratio, figures, float(np.mean(sads))))
            log(f"{size[0]}x{size[1]} long side {side}: flicker {figures.flicker:.2f} pops {100 * figures.pops:.1f}% "
                f"SAD {np.mean(sads):.2f}")
        for side, ratio, figures, sad in sorted(results):
            rows.append([f"{size[0]}x{size[1]}", str(side), f"{ratio:.3g}", f"{figures.flicker:.2f}",
                         f"{100 * figures.pops:.1f}%", f"{sad:.2f}"])
    n = sum(len(c) for c in originals.values())
    return "\n".join([
        "## RobustVideoMatting: network input size against flicker and SAD",
        "",
        f"git {git_sha()}. Tuning clips, first {limit} frames each ({n} frames; {', '.join(originals)}), scaled "
        "up (bilinear, centre crop) to each frame size; temporal filtering off (the model's own flicker); the "
        f"first {RATIO_WARM_UP} frames of each clip are run but not measured (RVM's state settles). SAD: "
        f"per frame, alpha 0..1, thousands, against the largest input ({max(RATIO_LONG_SIDES)} px), the stand-in "
        "for the ground truth the clips lack (at 640x480 the network then sees the frame at full size).",
        "",
        table(["frame", "network long side (px)", "ratio", "flicker", "pops", "SAD vs 640 px"], rows),
    ]) + "\n"


# ---------------------------------------------------------------- the picture
def picture(videos: Path, out: Path, clip: str = "asl_no.mkv", crop: int = 240) -> str:
    """Three frames of a moving arm, composited on green: unsmoothed, the previous EMA 0.5 and the default.

    The frames are two apart, ending at the one with the most pixels where EMA 0.5 is more than 64 levels
    from the unsmoothed matte; the crop (``crop`` px square) is centred on those pixels.
    Returns a one-line description for the report."""
    import cv2

    import edgematte
    from edgematte.matter import _resolve_model
    from edgematte.runtime import open_backend

    frames = read_clip(videos / clip)
    ema = AlphaSmoothing(open_backend("ort-cpu", _resolve_model("selfie")[0]), Ema(0.5))
    rows = {"unsmoothed": edgematte.Matter("selfie", backend="ort-cpu", refine="fast", temporal=0),
            "EMA 0.5": edgematte.Matter("selfie", refine="fast", temporal=0, backend=ema),
            "default": edgematte.Matter("selfie", backend="ort-cpu", refine="fast")}
    green = (64, 177, 0)
    composites: Dict[str, List[np.ndarray]] = {}
    alphas: Dict[str, List[np.ndarray]] = {}
    for name, matter in rows.items():
        with matter:
            matter.reset()
            composites[name], alphas[name] = [], []
            for f in frames:
                result = matter.process(f, green)  # its arrays are reused by the next call: copied now
                composites[name].append(result.composite.copy())
                alphas[name].append(result.alpha.copy())
    # where EMA 0.5 trails: more than 64 levels from the unsmoothed matte; the frame with the most of it
    ghost = [np.abs(alphas["EMA 0.5"][t].astype(np.int16) - alphas["unsmoothed"][t]) > 64 for t in range(len(frames))]
    t = int(np.argmax([g.sum() for g in ghost]))
    picks = [max(0, t - 4), max(0, t - 2), t]
    ys, xs = np.nonzero(ghost[t])
    cy, cx = int(np.median(ys)), int(np.median(xs))
    h, w = frames[0].shape[:2]
    y0, x0 = int(np.clip(cy - crop // 2, 0, h - crop)), int(np.clip(cx - crop // 2, 0, w - crop))
    tiles = []
    for name in rows:
        row = [composites[name][k][y0:y0 + crop, x0:x0 + crop] for k in picks]
        line = np.hstack([np.pad(tile, ((3, 3), (3, 3), (0, 0)), constant_values=255) for tile in row])
        cv2.putText(line, name, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(line)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), np.vstack(tiles), [cv2.IMWRITE_JPEG_QUALITY, 92])
    return (f"{clip}, frames {picks[0]}, {picks[1]}, {picks[2]} (the last with the most pixels where EMA 0.5 is "
            f"more than 64 levels from the unsmoothed matte), {crop}x{crop} px "
            f"at ({x0}, {y0}); rows: unsmoothed, EMA 0.5 of the model alpha, the default")


def ratio_timing(videos: Path, weights: Path, rounds: int = 20, threads: Optional[int] = None,
                 log: Optional[Callable[[str], None]] = None) -> str:
    """Markdown: RVM's time per frame against its network input size, per frame size, the sizes interleaved
    call by call (each round times every size once, in a rotating order) so that the machine's load falls on
    all of them alike; median ms and the median of per-round ratios to 320 px. Temporal filtering off."""
    import edgematte
    from quality import git_sha, table

    log = log or _say
    tuning, _ = split(clips(videos))
    originals = read_clip(tuning[0], rounds + 3)
    rows = []
    for size in RATIO_SIZES:
        frames = [cover(f, size) for f in originals]
        sides = sorted(RATIO_LONG_SIDES)
        matters = {side: edgematte.Matter(weights / RVM_WEIGHTS, backend="ort-cpu", temporal=0, threads=threads,
                                          downsample_ratio=min(1.0, side / max(size))) for side in sides}
        times: Dict[int, List[float]] = {side: [] for side in sides}
        try:
            for k, frame in enumerate(frames):
                order = sides[k % len(sides):] + sides[:k % len(sides)]
                for side in order:
                    start = time.perf_counter()
                    matters[side].process(frame)
                    if k >= 3:  # warm-up
                        times[side].append(time.perf_counter() - start)
        finally:
            for matter in matters.values():
                matter.close()
        base = np.array(times[320])
        for side in sides:
            t = np.array(times[side])
            rows.append([f"{size[0]}x{size[1]}", str(side), f"{min(1.0, side / max(size)):.3g}",
                         f"{1e3 * np.median(t):.0f}", f"{np.median(t / base):.2f}"])
            log(" ".join(rows[-1]))
    return "\n".join([
        "## RobustVideoMatting: time per frame against the network input size (interleaved)",
        "",
        f"git {git_sha()}. {rounds} rounds after 3 of warm-up on {tuning[0].name} scaled to each size; each round "
        "runs every input size once, in a rotating order. `Matter.process` (split graph, native refiner), temporal "
        "off, ONNX Runtime on the process's cores; 2 shared cores (noisy: the ratios are what to read).",
        "",
        table(["frame", "network long side (px)", "ratio", "median ms", "time vs 320 px"], rows),
    ]) + "\n"
