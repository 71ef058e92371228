"""Real crops of the alphamatting.com low-res set for refine tests (skipped without ../shared/data)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def matting_crop(shared_data):
    """load(name, trimap, (rows, cols)) -> (image [h,w,3] uint8 BGR, trimap [h,w] uint8, gt [h,w] float32 0..1)."""
    cv2 = pytest.importorskip("cv2")
    root = shared_data / "alphamatting_lowres"

    def load(name="GT01", trimap="trimap1", crop=(slice(150, 270), slice(250, 400))):
        image = cv2.imread(str(root / "input" / f"{name}.png"))[crop]
        tri = cv2.imread(str(root / trimap / f"{name}.png"), cv2.IMREAD_GRAYSCALE)[crop]
        gt = cv2.imread(str(root / "gt" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)[crop].astype(np.float32) / 255
        return np.ascontiguousarray(image), np.ascontiguousarray(tri), gt

    return load
