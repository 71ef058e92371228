"""edgematte's promise for float alpha -> uint8, as data for the tests that pin it.

NaN -> 0, clamped to [0, 1], then round-half-even(x * 255) computed in float32. Each pair is
(float value, the uint8 it must give); the ties (k + 0.5) / 255 are exact in float32.
"""

from __future__ import annotations

import numpy as np

CASES = [
    (np.nan, 0), (-np.inf, 0), (np.inf, 255), (1e30, 255), (-1e30, 0), (-0.01, 0), (-2.0, 0), (1.2, 255),
    (-0.0, 0), (0.0, 0), (1.0, 255), (0.5 / 255, 0), (1.5 / 255, 2), (2.5 / 255, 2), (3.5 / 255, 4), (0.5, 128),
    (253.5 / 255, 254), (254.5 / 255, 254), (1.0 + 1e-7, 255),
]
VALUES = np.array([v for v, _ in CASES], np.float32)
EXPECTED = np.array([q for _, q in CASES], np.uint8)
