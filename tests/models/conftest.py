"""Fixtures of the model tests: a private cache and the counting RVM graph."""

import pytest
from rvm_graphs import counting_rvm


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path_factory):
    """The split RVM graph (and any converted model) is cached per test session, never in the user's cache."""
    monkeypatch.setenv("EDGEMATTE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def counting(tmp_path):
    """tests/rvm_graphs.py's counting graph: RobustVideoMatting's signature, no weights."""
    return counting_rvm(tmp_path / "counting.onnx")
