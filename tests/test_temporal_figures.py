"""The temporal figures of bench/temporal.py (flicker, pops, lag) on synthetic sequences whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench_scripts import load_bench

pytest.importorskip("cv2")
temporal = load_bench("temporal")

H, W = 48, 64


def _still_frames(n: int, level: int = 100):
    return [np.full((H, W, 3), level, np.uint8) for _ in range(n)]


def _alpha(value: int, x0: int = 16, x1: int = 48):
    """0 everywhere but columns x0..x1-1, which hold ``value``."""
    a = np.zeros((H, W), np.uint8)
    a[:, x0:x1] = value
    return a


def test_still_picture_and_still_matte_score_zero():
    frames = _still_frames(4)
    alphas = [_alpha(128)] * 4
    fig = temporal.clip_figures(alphas, temporal.picture_motion(frames), alphas)
    assert (fig.flicker, fig.pops, fig.lag) == (0.0, 0.0, 0.0)
    assert fig.pairs == 3  # every pair has still band pixels
    assert fig.flicker_count == 3 * H * (32 + 8)  # columns 16..47 dilated by 4 each side


def test_flicker_is_the_mean_change_over_the_still_band():
    # columns 16..47 change by 10 each frame; the band also holds the 4 unchanged columns either side
    frames = _still_frames(5)
    alphas = [_alpha(128 + 10 * (t % 2)) for t in range(5)]
    fig = temporal.clip_figures(alphas, temporal.picture_motion(frames))
    assert fig.flicker == pytest.approx(10 * 32 / 40)
    assert fig.pops == 0.0


def test_a_hard_matte_has_no_band():
    frames = _still_frames(3)
    alphas = [_alpha(255), _alpha(0), _alpha(255)]  # jumps, but never soft: outside the band
    fig = temporal.clip_figures(alphas, temporal.picture_motion(frames))
    assert fig.flicker_count == 0 and fig.pairs == 0 and fig.pops == 0.0


def test_band_bounds_are_9_and_246():
    assert not temporal.soft(np.array([8, 247], np.uint8)).any()
    assert temporal.soft(np.array([9, 246], np.uint8)).all()


def test_pops_count_pairs_whose_99th_percentile_jumps_more_than_64():
    frames = _still_frames(5)
    # pair 1: +100 over 32 of 40 band columns (p99 = 100, a pop); pair 2: back (a pop); pair 3: none;
    # pair 4: +100 on one row of one column only (p99 = 0: not a pop)
    alphas = [_alpha(100), _alpha(200), _alpha(100), _alpha(100), _alpha(100)]
    alphas[4] = alphas[4].copy()
    alphas[4][0, 20] = 200
    fig = temporal.clip_figures(alphas, temporal.picture_motion(frames))
    assert fig.pairs == 4 and fig.popped == 2 and fig.pops == pytest.approx(0.5)
    assert fig.per_pair_p99[:3] == [100.0, 100.0, 0.0]


def test_a_change_of_exactly_64_does_not_pop():
    frames = _still_frames(2)
    fig = temporal.clip_figures([_alpha(100), _alpha(164)], temporal.picture_motion(frames))
    assert fig.popped == 0


def test_the_still_mask_excludes_what_moved_and_7x7_around_it():
    frames = _still_frames(2)
    frames[1] = frames[1].copy()
    frames[1][20, 30] = 255  # one pixel changes by 155: blurred 5x5, 6.2 levels over a 5x5 square
    motion = temporal.picture_motion(frames)
    not_still = ~motion.still[0]
    assert not_still.sum() == 11 * 11  # the 5x5 square eroded into by 3 px either side
    assert not_still[15:26, 25:36].all()
    assert not motion.moving[0].any()  # 6.2 <= 8: changed, but not moved


def test_moving_mask_is_the_blurred_change_above_8():
    frames = _still_frames(2)
    frames[1] = _still_frames(1, 109)[0]  # every pixel changes by 9 levels
    motion = temporal.picture_motion(frames)
    assert motion.moving[0].all() and not motion.still[0].any()
    frames[1] = _still_frames(1, 108)[0]  # by 8: not moving
    assert not temporal.picture_motion(frames).moving[0].any()


def test_lag_is_the_distance_to_the_unfiltered_matte_where_the_picture_moved():
    frames = [np.full((H, W, 3), 50 + 20 * t, np.uint8) for t in range(4)]  # everything changes by 20
    reference = [_alpha(100 + 40 * t) for t in range(4)]
    lagging = [reference[0]] + reference[:-1]  # one frame behind
    motion = temporal.picture_motion(frames)
    assert temporal.clip_figures(reference, motion, reference).lag == 0.0
    fig = temporal.clip_figures(lagging, motion, reference)
    # frames 2 and 3 are 40 levels behind over columns 16..47, equal in the 8 dilated columns;
    # frame 1 equals frame 0's, 40 levels behind as well
    assert fig.lag == pytest.approx(40 * 32 / 40)
    assert fig.flicker_count == 0  # nothing was still


def test_figures_pool_clips_by_pixels():
    frames = _still_frames(2)
    a = temporal.clip_figures([_alpha(128), _alpha(138)], temporal.picture_motion(frames))
    b = temporal.clip_figures([_alpha(128, 0, 64), _alpha(128, 0, 64)], temporal.picture_motion(frames))
    total = temporal.Figures()
    total += a
    total += b
    assert total.flicker == pytest.approx((10 * 32 * H) / (40 * H + 64 * H))
    assert total.pairs == 2


def test_split_keeps_one_gif_on_each_side():
    names = [f"asl_{i:02d}.mkv" for i in range(14)] + ["classroom.gif", "head-pose.gif"]
    tuning, held_out = temporal.split(Path(n) for n in names)
    assert len(tuning) == len(held_out) == 8 and not set(tuning) & set(held_out)
    assert sum(p.suffix == ".gif" for p in tuning) == sum(p.suffix == ".gif" for p in held_out) == 1


def test_still_drift_is_the_first_to_last_change_where_nothing_ever_moved():
    frames = _still_frames(6)
    alphas = [_alpha(100 + 20 * t) for t in range(6)]  # columns 16..47 wander 100 -> 200 while nothing moves
    motion = temporal.picture_motion(frames)
    assert temporal.still_drift(alphas, motion) == pytest.approx(100 * 32 / 40)  # band: 4 still columns either side
    frames[3][:, :32] = 200  # columns 0..31 moved once; blurred 5x5 (to 33) and eroded 7x7, still from 37
    # the band's columns 37..51 remain, of which 37..47 wandered
    assert temporal.still_drift(alphas, temporal.picture_motion(frames)) == pytest.approx(100 * 11 / 15)
    assert temporal.still_drift(alphas[:1], motion) == 0.0
    assert temporal.still_drift([_alpha(0)] * 3, temporal.picture_motion(frames[:3])) == 0.0  # no band
