"""The [trt] extra must not pull a PyPI TensorRT onto a Jetson (aarch64), where JetPack's apt package serves."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")
requirements = pytest.importorskip("packaging.requirements", reason="packaging is not installed")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _installed(extra: str, machine: str):
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"][extra]
    env = {"platform_machine": machine, "sys_platform": "linux", "python_version": "3.10"}
    found = []
    for text in deps:
        req = requirements.Requirement(text)
        if req.marker is None or req.marker.evaluate(env):
            found.append(req.name)
    return found


def test_trt_extra_installs_tensorrt_on_x86_only():
    assert _installed("trt", "x86_64") == ["tensorrt", "pycuda"]
    assert _installed("trt", "aarch64") == ["pycuda"]  # Jetson: TensorRT from JetPack (python3-libnvinfer)


def test_aarch64_servers_have_their_own_extra():
    assert _installed("trt-sbsa", "aarch64") == ["tensorrt", "pycuda"]
