"""``every``: the model runs on every Nth frame; the frames between reuse its output: "off"
its alpha, "fast" its fit, evaluated on the new frame."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cuda_on_cpu import cpu_cuda_space

import edgematte
from edgematte.errors import InputError
from edgematte.pipeline import Pipeline, TemporalConfig

cv2 = pytest.importorskip("cv2")
_spec = importlib.util.spec_from_file_location(
    "gpu_check", Path(__file__).resolve().parent.parent / "bench" / "gpu_check.py"
)
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)
GREEN = (0, 177, 64)


class Counting:
    """A backend that counts its runs and, with ``replay``, answers every run with the first run's alpha."""

    def __init__(self, backend, replay: bool = False) -> None:
        self.backend, self.replay, self.runs, self.first = backend, replay, 0, None
        self.inputs, self.outputs = backend.inputs, backend.outputs

    def infer(self, feed, *, validate=True):
        self.runs += 1
        out = self.backend.infer(feed, validate=validate)
        if self.replay:
            if self.first is None:
                self.first = {k: v.copy() for k, v in out.items()}
            return self.first
        return out


def moving_disc(i: int, height: int = 120, width: int = 160) -> np.ndarray:
    frame = np.full((height, width, 3), (255, 0, 0), np.uint8)
    cv2.circle(frame, (40 + 6 * i, height // 2), 30, (0, 0, 255), -1)
    return frame


def stand_in():
    return gpu_check.StandInBackend(np)


def host(array):
    return array.get() if hasattr(array, "get") else array  # the CUDA space on the CPU: fake CuPy arrays


@pytest.mark.parametrize("space", ["host", "cuda"], ids=["host", "cuda-space-on-the-cpu"])
def test_frames_between_reuse_the_last_model_alpha(space, tmp_path):
    """refine "off": the frames between upsample the last model alpha as it is."""
    frames = [moving_disc(i) for i in range(2)]
    every, replay = Counting(stand_in()), Counting(stand_in(), replay=True)
    skipping = Pipeline(every, refine="off", every=2, space=cpu_cuda_space(tmp_path) if space == "cuda" else None)
    reference = Pipeline(replay, refine="off")  # every frame runs, but the model answers frame 0's alpha
    for frame in frames:
        got, want = skipping.process(frame, GREEN), reference.process(frame, GREEN)
        np.testing.assert_array_equal(host(got.alpha), want.alpha)
        np.testing.assert_array_equal(host(got.composite), want.composite)
    assert every.runs == 1 and replay.runs == 2
    assert "model" not in got.timings and "total" in got.timings


@pytest.mark.parametrize("space", ["host", "cuda"], ids=["host", "cuda-space-on-the-cpu"])
@pytest.mark.parametrize("temporal", [None, TemporalConfig()], ids=["temporal-off", "temporal-default"])
def test_frames_between_evaluate_the_last_fit_on_the_new_frame(space, temporal, tmp_path):
    """refine "fast": the frames between apply the last model frame's coefficients and foreground blurs (after
    the temporal stage) to their own pixels, against the NumPy twin of that pass; nothing is refitted."""
    from edgematte.kernels import _guided_reference as ref

    backend = Counting(stand_in())
    pipeline = Pipeline(backend, refine="fast", every=2, temporal=temporal,
                        space=cpu_cuda_space(tmp_path) if space == "cuda" else None)
    pipeline.process(moving_disc(0))  # the alpha alone: the blurs are fitted for the frames between all the same
    b = pipeline._buffers_for((120, 160))
    coef, blurs = host(b.coef).copy(), host(b.blurs).copy()
    frame = moving_disc(1)
    got = pipeline.process(frame, GREEN)
    assert backend.runs == 1
    np.testing.assert_array_equal(host(b.coef), coef)
    want_alpha, want_fg, want_comp = ref.guided_apply(coef, blurs, frame, None, GREEN)
    assert np.abs(host(got.alpha).astype(int) - want_alpha).max() <= 1
    assert np.abs(host(got.foreground).astype(int) - want_fg).max() <= 2
    assert np.abs(host(got.composite).astype(int) - want_comp).max() <= 2


def test_the_edge_follows_the_picture_between_model_runs():
    before = moving_disc(0)
    after = np.roll(before, 2, axis=1)  # the disc moved 2 pixels right
    pipeline = Pipeline(stand_in(), refine="fast", every=2)
    old = pipeline.process(before).alpha.astype(np.float32)
    refitted = pipeline.process(after).alpha.astype(np.float32)
    disc = np.where(after[..., 2] > 128, 255.0, 0.0)
    assert np.abs(refitted - disc).sum() < 0.8 * np.abs(old - disc).sum()


@pytest.mark.parametrize("every", [1, 2, 3])
def test_the_model_runs_on_every_nth_frame(every):
    backend = Counting(stand_in())
    pipeline = Pipeline(backend, refine="fast", every=every)
    ran = []
    for i in range(7):
        before = backend.runs
        pipeline.process(moving_disc(i), GREEN)
        ran.append(backend.runs > before)
    assert ran == [i % every == 0 for i in range(7)]


def test_reset_size_change_and_scene_cut_run_the_model():
    backend = Counting(stand_in())
    pipeline = Pipeline(backend, refine="fast", every=5, temporal=TemporalConfig(cut_threshold=0.05))
    pipeline.process(moving_disc(0))
    pipeline.process(moving_disc(1))
    assert backend.runs == 1
    pipeline.reset()
    pipeline.process(moving_disc(2))
    assert backend.runs == 2
    pipeline.process(moving_disc(3, 90, 120))  # new frame size
    assert backend.runs == 3
    pipeline.process(np.zeros((90, 120, 3), np.uint8))  # a cut
    assert backend.runs == 4


def test_matter_takes_every(tiny_onnx):
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast", every=3) as matter:
        assert matter.pipeline.every == 3
        timings = [matter.process(moving_disc(i), keep_foreground=False).timings for i in range(3)]
    assert ["model" in t for t in timings] == [True, False, False]


@pytest.mark.parametrize("every", [0, -1, 2.5, "2", True])
def test_bad_every_is_refused(tiny_onnx, every):
    with pytest.raises(InputError, match="every is"):
        edgematte.Matter(tiny_onnx, backend="ort-cpu", every=every)


def test_recurrent_models_refuse_every(rvm_onnx):
    with pytest.raises(InputError, match="every=2 for a recurrent model"):
        edgematte.Matter(rvm_onnx, backend="ort-cpu", every=2)
