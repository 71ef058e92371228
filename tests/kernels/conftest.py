"""Kernel tests run once per implementation; an implementation that cannot load here is skipped."""

from __future__ import annotations

import pytest

from edgematte.errors import BackendUnavailableError
from edgematte.kernels import IMPLEMENTATIONS, kernels


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request):
    """A :class:`edgematte.kernels.Kernels` for each implementation."""
    k = kernels(request.param)
    try:
        _ = k.module  # imports it
    except BackendUnavailableError as exc:
        pytest.skip(f"{request.param} kernels unavailable here: {exc}")
    return k


@pytest.fixture
def ref():
    return kernels("reference")
