"""Shared fixtures: paths to the project's shared assets, skipped with a reason when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


def _shared(sub: str) -> Path:
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared weights/data folder sits beside the repo only for the core team")
    return path


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    """``../shared/weights`` (MediaPipe selfie, SINet, PP-HumanSeg), or skip."""
    return _shared("weights")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (alphamatting_lowres, portraits), or skip."""
    return _shared("data")
