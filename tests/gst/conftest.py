"""GStreamer fixtures: the element found through the real plugin loader (gst-launch-1.0) with this test
session's own registry, and a probe process for what gst-launch-1.0 cannot show. Every test here is
skipped, with the reason, where GStreamer, its Python bindings or the Python plugin loader are missing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
#: GStreamer 1.22's PyGObject prints this for every Python element it creates; it is harmless there
FLOATING = "The created element should be floating, this is probably caused by faulty bindings"


def gst_missing() -> Optional[str]:
    """Why the GStreamer tests cannot run here, or None."""
    from edgematte.errors import BackendUnavailableError
    from edgematte.gst import PACKAGES, import_gst, loader_library

    if shutil.which("gst-launch-1.0") is None:
        return f"gst-launch-1.0 is not installed (Debian/Ubuntu: apt-get install {PACKAGES})"
    try:
        import_gst()
    except BackendUnavailableError as exc:
        return str(exc)
    if loader_library() is None:
        return "GStreamer's Python plugin loader is not installed (apt-get install gstreamer1.0-python3-plugin-loader)"
    return None


def real_criticals(stderr: str) -> List[str]:
    """GStreamer/GLib CRITICAL lines of ``stderr`` other than the known harmless one."""
    return [line for line in stderr.splitlines() if "CRITICAL" in line and FLOATING not in line]


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


def stats_message(stdout: str) -> Dict[str, float]:
    """The fields of the edgematte-stats element message that gst-launch-1.0 -m printed."""
    found = re.search(r"edgematte-stats, (.*?);?$", stdout, re.MULTILINE)
    assert found, stdout
    fields = {}
    for name, value in re.findall(r"([\w-]+)=\(\w+\)([\d.e+-]+)", found.group(1)):
        fields[name] = float(value)
    return fields
