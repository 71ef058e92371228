"""How the native kernels load: from the clone root, with a clear cause when unbuilt, and with
OpenMP's passive wait policy set where they load (not by creating a Pipeline)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSITE = (
    "import numpy as np, edgematte; "
    "out = edgematte.composite(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2), np.uint8), (1, 2, 3)); "
    "print(edgematte.__file__, out[0, 0].tolist())"
)


def _run(code: str, cwd: Path, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OMP_WAIT_POLICY")}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], cwd=str(cwd), env=env, capture_output=True, text=True,
                          timeout=120)


def test_kernels_work_from_the_clone_root():
    """The README's examples run from the clone root, where the source tree comes first on sys.path:
    the set-up (pip install -e .) builds the kernels into that tree (this failed after pip install .)."""
    if not (REPO / "setup.py").is_file():
        pytest.skip("the tests do not run from a clone")
    run = _run(COMPOSITE, REPO)
    assert run.returncode == 0, run.stderr
    path, value = run.stdout.strip().split(" ", 1)
    assert REPO in Path(path).resolve().parents and value == "[1, 2, 3]"


def test_an_unbuilt_source_tree_names_the_cause_and_the_command(tmp_path):
    """A clone without built kernels (here: a copy without the compiled modules) says so, and how to build."""
    tree = tmp_path / "clone"
    shutil.copytree(REPO / "edgematte", tree / "edgematte",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "*.fatbin"))
    shutil.copy(REPO / "setup.py", tree / "setup.py")
    (tree / "csrc").mkdir()
    run = _run(COMPOSITE, tree)
    assert run.returncode != 0
    assert f"edgematte is imported from the source tree {tree}, which has no built kernels" in run.stderr
    assert "pip install -e ." in run.stderr and "python setup.py build_ext --inplace" in run.stderr
    assert "C compiler" not in run.stderr


def test_omp_wait_policy_is_set_when_the_native_kernels_load(tmp_path):
    code = ("import os, numpy as np, edgematte; before = os.environ.get('OMP_WAIT_POLICY'); "
            "edgematte.make_trimap(np.zeros((4, 4), np.uint8)); print(before, os.environ.get('OMP_WAIT_POLICY'))")
    env = {"PYTHONPATH": str(Path(__import__("edgematte").__file__).resolve().parents[1])}
    run = _run(code, tmp_path, **env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["None", "PASSIVE"]
    run = _run(code, tmp_path, OMP_WAIT_POLICY="ACTIVE", **env)  # the user's choice is kept
    assert run.stdout.split() == ["ACTIVE", "ACTIVE"]


def test_readme_setup_builds_in_place_and_writes_outside_the_clone():
    """The set-up block CI runs: an editable install (kernels built into the clone), and the sample
    matte written outside the repository, so no untracked file is left in it."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- setup:", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 2 and "pip install -e . " in lines[0]
    output = lines[0].split(" -o ", 1)[1].split()[0]
    assert output.startswith(("~/", "/")), output
