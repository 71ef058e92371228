"""CI's two dependency legs: README's set-up lines (the newest packages) and the oldest pyproject allows."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = {"numpy", "opencv-python", "onnxruntime", "onnx", "av"}


def _constraints_module():
    spec = importlib.util.spec_from_file_location("oldest_constraints", ROOT / ".ci" / "oldest_constraints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_oldest_leg_pins_every_dependency_at_its_floor():
    if sys.version_info < (3, 11) and importlib.util.find_spec("tomli") is None:
        pytest.skip("reading pyproject.toml needs Python 3.11 (tomllib) or tomli")
    out = subprocess.run([sys.executable, str(ROOT / ".ci" / "oldest_constraints.py")], capture_output=True,
                         text=True, check=True).stdout.split()
    import tomllib

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert len(out) == len(dependencies) and CORE <= {line.split("==")[0] for line in out}
    for line, requirement in zip(out, dependencies):
        name, version = line.split("==")
        assert requirement.replace(" ", "").startswith(f"{name}>={version}")


def test_a_dependency_without_a_floor_is_refused(tmp_path):
    if sys.version_info < (3, 11):
        pytest.skip("tomllib")
    (tmp_path / "pyproject.toml").write_text('[project]\ndependencies = ["numpy>=1.24.2", "av"]\n')
    with pytest.raises(SystemExit, match="'av' has no '>=' floor"):
        _constraints_module().floors(tmp_path / "pyproject.toml")


def test_ci_runs_readme_lines_then_the_oldest_leg_then_nvcc():
    script = (ROOT / ".ci" / "run").read_text()
    readme, oldest, nvcc = (script.index(s) for s in ('bash -euo pipefail -c "$line"', "oldest_constraints.py >",
                                                      "pytest -m nvcc"))
    assert readme < oldest < nvcc
    assert 'pip install -c "$1" -e ".[dev,export]" torch==2.13.0 && pytest' in script
