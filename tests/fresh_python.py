"""Running a fresh interpreter on the edgematte under test (imported by tests as ``fresh_python``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


HEAVY_MODULES = ("torch", "onnxruntime", "onnx", "tflite", "tensorrt", "pycuda", "cv2")


def fresh_python(args, *, cwd, **popen_kwargs):
    """Argv and options for a new interpreter that imports the edgematte under test.

    It runs in ``cwd`` (a tmp folder), never in the repository root, where ``-c``/``-m`` would put the
    unbuilt source tree first on sys.path instead of the installed package. The folder holding the
    edgematte this test process imported goes first on PYTHONPATH, so an in-place build is tested too.
    """
    import edgematte

    root = str(Path(edgematte.__file__).resolve().parents[1])
    env = dict(popen_kwargs.pop("env", None) or os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return [sys.executable] + list(args), dict(cwd=str(cwd), env=env, **popen_kwargs)


def signal_when_ready(args, *, cwd, ready, sig, timeout: float = 60.0):
    """Run ``python ARGS`` in a fresh interpreter (see :func:`fresh_python`) and send it ``sig`` once
    ``ready()`` is true; returns (exit code, stderr). Fails if it ends before that or ``ready`` takes too long."""
    import time

    import signal

    # as from a terminal: a shell starts background jobs (and nohup its command) with SIGINT ignored, and a
    # Python started that way rightly keeps ignoring it; the child gets the default disposition of ``sig``
    default = (lambda: signal.signal(sig, signal.SIG_DFL)) if sig != signal.SIGKILL else None
    argv, kwargs = fresh_python(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default)
    proc = subprocess.Popen(argv, **kwargs)
    try:
        deadline = time.monotonic() + timeout
        while not ready() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert proc.poll() is None, "the run finished before the signal"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode()


def heavy_modules_after(import_statement: str, tmp_path: Path) -> list:
    """Which of HEAVY_MODULES a fresh interpreter has loaded after ``import_statement``."""
    code = f"import sys; {import_statement}; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    argv, kwargs = fresh_python(["-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    out = subprocess.run(argv, **kwargs).stdout.strip()
    return [m for m in out.split(",") if m]
