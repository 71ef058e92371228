"""The matting metrics of bench/quality.py (SAD, MSE, Gradient, Connectivity) on hand-checkable cases."""

from __future__ import annotations

import numpy as np
import pytest
from bench_scripts import load_bench

pytest.importorskip("cv2")
quality = load_bench("quality")


def _pair():
    rng = np.random.default_rng(0)
    gt = np.clip(rng.random((40, 50)) * 1.4 - 0.2, 0, 1).astype(np.float32)
    region = np.zeros(gt.shape, bool)
    region[5:35, 5:45] = True
    return gt, region


@pytest.mark.parametrize("name", list(quality.METRICS))
def test_identical_mattes_score_zero(name):
    gt, region = _pair()
    assert quality.METRICS[name](gt, gt, region) == pytest.approx(0.0, abs=1e-12)


def test_sad_and_mse_values():
    gt, region = _pair()
    pred = gt.copy()
    pred[region] = np.clip(pred[region] + 0.1, 0, 1)
    diff = np.abs(pred - gt)[region]
    assert quality.sad(pred, gt, region) == pytest.approx(diff.sum() / 1000)
    assert quality.mse(pred, gt, region) == pytest.approx((diff**2).mean())
    outside = gt.copy()
    outside[~region] = 1 - outside[~region]
    assert quality.sad(outside, gt, region) == 0.0


def test_gradient_error_sees_blur_and_connectivity_sees_islands():
    cv2 = pytest.importorskip("cv2")
    gt = np.zeros((60, 60), np.float32)
    gt[20:40, 20:40] = 1
    region = np.ones(gt.shape, bool)
    blurred = cv2.GaussianBlur(gt, (9, 9), 3)
    assert quality.gradient_error(blurred, gt, region) > 0.01
    island = gt.copy()
    island[2:8, 2:8] = 1  # a foreground blob disconnected from the main component
    assert quality.connectivity_error(island, gt, region) > quality.connectivity_error(gt, gt, region)
    assert quality.connectivity_error(island, gt, region) == pytest.approx(36 / 1000, rel=0.2)


def test_seed_trimap_rule():
    gt = np.zeros((80, 80), np.float32)
    gt[10:70, 10:70] = 1
    tri = quality.seed_trimap(gt)
    assert set(np.unique(tri)) <= {0, 128, 255}
    assert (tri[30:50, 30:50] == 255).all() and tri[0, 0] == 0 and tri[10, 10] == 128 and tri[10, 40] == 128
