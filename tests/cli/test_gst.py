"""``edgematte gst``: the export lines for GStreamer's tools, and the check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgematte.cli.__main__ import main

REPO = Path(__file__).resolve().parent.parent.parent


def test_env_prints_the_plugin_path_and_this_installation(capsys):
    assert main(["gst", "--env"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("=")[0] for line in lines] == ["export GST_PLUGIN_PATH", "export PYTHONPATH"]
    plugin = REPO / "edgematte" / "gst" / "plugin"
    assert lines[0].startswith(f"export GST_PLUGIN_PATH={plugin}") and (plugin / "python" / "gstedgematte.py").is_file()
    assert f"={REPO}{os.pathsep}" in lines[1]  # the source folder: an editable install's .pth is not read there
    assert lines[1].endswith('"${PYTHONPATH:+:$PYTHONPATH}"')


def test_the_lines_keep_what_the_shell_had():
    script = f'export PYTHONPATH=/kept; eval "$("{sys.executable}" -m edgematte.cli gst --env)"; echo "$PYTHONPATH"'
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith(f"{os.pathsep}/kept")


def test_the_plugin_file_ships_as_package_data():
    assert '"edgematte.gst" = ["plugin/python/*.py"]' in (REPO / "pyproject.toml").read_text()


def test_check_without_gstreamer_names_the_packages(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr("edgematte.gst.loader_library", lambda: None)
    assert main(["gst", "--check"]) == 1
    err = capsys.readouterr().err
    assert "gst-inspect-1.0 is not on PATH; expected the packages gstreamer1.0-tools" in err


def test_env_warns_about_a_missing_plugin_loader_but_prints_the_lines(monkeypatch, capsys):
    monkeypatch.setattr("edgematte.gst.loader_library", lambda: None)
    assert main(["gst", "--env"]) == 0
    captured = capsys.readouterr()
    assert "gstreamer1.0-python3-plugin-loader" in captured.err and captured.out.startswith("export ")


def test_check_finds_the_element(tmp_path, monkeypatch, capsys):
    from gst_support import gst_missing

    reason = gst_missing()
    if reason is not None:
        pytest.skip(reason)
    monkeypatch.setenv("GST_REGISTRY", str(tmp_path / "registry.bin"))
    assert main(["gst", "--check"]) == 0
    assert "finds the edgematte element" in capsys.readouterr().out
