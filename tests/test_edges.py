"""Edge controls (edgematte.edges): the settings' bounds, and what each control does to a matte."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgematte.edges import MAX_RADIUS, EdgeConfig
from edgematte.errors import InputError
from edgematte.kernels import _edges_reference


@given(shift=st.integers(-MAX_RADIUS, MAX_RADIUS), feather=st.integers(0, MAX_RADIUS),
       threshold=st.none() | st.floats(0, 1, exclude_min=True))
def test_every_setting_within_bounds_is_taken(shift, feather, threshold):
    c = EdgeConfig(shift, feather, threshold)
    assert (c.edge_shift, c.feather) == (shift, feather)
    assert c.level == 0 if threshold is None else 1 <= c.level <= 255


@given(st.integers().filter(lambda v: abs(v) > MAX_RADIUS))
def test_shifts_out_of_bounds_are_refused(shift):
    with pytest.raises(InputError, match=rf"received edge_shift={shift}; expected an int in \[-256, 256\]"):
        EdgeConfig(edge_shift=shift)


@given(st.integers().filter(lambda v: v < 0 or v > MAX_RADIUS))
def test_feathers_out_of_bounds_are_refused(feather):
    with pytest.raises(InputError, match=rf"received feather={feather}; expected an int in \[0, 256\]"):
        EdgeConfig(feather=feather)


@given(st.floats().filter(lambda t: not (0 < t <= 1)) | st.sampled_from([True, False, "0.5", [0.5]]))
def test_thresholds_outside_0_1_are_refused(threshold):
    with pytest.raises(InputError, match=r"received threshold=.*; expected None \(a soft matte\) or a float in \(0, 1\]"):
        EdgeConfig(threshold=threshold)


@pytest.mark.parametrize("name, value", [("edge_shift", 1.5), ("edge_shift", True), ("feather", 2.0), ("feather", "3"),
                                         ("feather", None)])
def test_pixels_must_be_ints(name, value):
    with pytest.raises(InputError, match=rf"received {name}={value!r}; expected an int"):
        EdgeConfig(**{name: value})


@given(st.floats(0, 1, exclude_min=True))
def test_the_threshold_level_is_the_first_uint8_alpha_at_or_above_it(threshold):
    level = EdgeConfig(threshold=threshold).level
    assert level / 255 >= threshold - 1e-9
    assert level == 1 or (level - 1) / 255 < threshold - 1e-12 or math.isclose((level - 1) / 255, threshold)


def test_numpy_ints_are_taken_and_stored_as_ints():
    c = EdgeConfig(np.int64(-3), np.int32(2), np.float32(0.5))
    assert (type(c.edge_shift), type(c.feather), type(c.threshold)) == (int, int, float)


def test_the_host_space_runs_the_kernel_in_place():
    from edgematte.pipeline.host import HostSpace

    alpha = np.random.default_rng(1).integers(0, 256, (20, 30), dtype=np.uint8)
    config = EdgeConfig(-2, 1, 0.5)
    work = alpha.copy()
    assert HostSpace().edges(work, config, None, 1) is work
    assert np.array_equal(work, _edges_reference.edge_controls(alpha, -2, 1, 128))
    assert not EdgeConfig().active and config.active
