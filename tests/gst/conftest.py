"""GStreamer fixtures: the element found through the real plugin loader (gst-launch-1.0) with this test
session's own registry, and a probe process for what gst-launch-1.0 cannot show. Every test here is
skipped, with the reason, where GStreamer, its Python bindings or the Python plugin loader are missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

import pytest
from gst_support import gst_missing, real_criticals

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def gst_env(tmp_path_factory) -> Dict[str, str]:
    """The environment of `eval "$(edgematte gst --env)"`, with this session's own GStreamer registry."""
    reason = gst_missing()
    if reason is not None:
        pytest.skip(reason)
    from edgematte.gst import environment

    env = dict(os.environ)
    for name, value in environment().items():
        env[name] = value + (os.pathsep + env[name] if env.get(name) else "")
    env["GST_REGISTRY"] = str(tmp_path_factory.mktemp("gst") / "registry.bin")
    env.setdefault("EDGEMATTE_BACKEND", "ort-cpu")
    return env


@pytest.fixture
def gst_launch(gst_env):
    """Run gst-launch-1.0 with the element's environment: (returncode, stdout, stderr). No Python traceback and
    no CRITICAL but the known harmless one may reach stderr."""

    def launch(*pipeline: str, timeout: float = 300, env: Optional[Dict[str, str]] = None):
        done = subprocess.run(["gst-launch-1.0", "-m", *pipeline], env=dict(gst_env, **(env or {})),
                              capture_output=True, text=True, timeout=timeout)
        assert "Traceback" not in done.stderr + done.stdout, done.stderr
        assert not real_criticals(done.stderr), done.stderr
        return done.returncode, done.stdout, done.stderr

    return launch


@pytest.fixture
def probe(gst_env):
    """Run tests/gst/probe_pipeline.py (the element registered in a fresh Python process): its JSON."""

    def run(mode: str, description: str, *extra: str, timeout: float = 600) -> dict:
        done = subprocess.run([sys.executable, str(HERE / "probe_pipeline.py"), mode, description, *extra],
                              env=gst_env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0 and not real_criticals(done.stderr), done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    return run
