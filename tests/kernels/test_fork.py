"""Kernels keep working in children forked after the parent ran them on several threads."""

from __future__ import annotations

import multiprocessing
import warnings

import numpy as np
import pytest

import edgematte

MASK = np.zeros((600, 700), np.uint8)
MASK[100:500, 150:550] = 255


def _child(threads):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "run on one thread" is expected here
        trimap = edgematte.make_trimap(MASK, threads=threads)
        image = np.zeros((600, 700, 3), np.uint8)
        return int(trimap.sum()) + int(edgematte.composite(image, trimap, (1, 2, 3), threads=threads).sum())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork() on this platform")
def test_forked_children_do_not_hang():
    expected = _child(2)  # the parent runs a parallel region first
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(_child, [2, None, 1]).get(timeout=60)
    assert results == [expected] * 3


def _refine_child(threads):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        trimap = edgematte.make_trimap(MASK, kernel_size=15, iterations=5, threads=1)  # a wide band: several threads
        image = np.random.default_rng(0).integers(0, 256, (600, 700, 3), dtype=np.uint8)
        return float(edgematte.refine_alpha(image, trimap, threads=threads).sum())


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork() on this platform")
def test_forked_children_refine_without_hanging():
    expected = _refine_child(2)  # refine's OpenMP shares the runtime (and the fork rule) with the kernels
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map_async(_refine_child, [2, None]).get(timeout=60)
    assert results == [expected] * 2
