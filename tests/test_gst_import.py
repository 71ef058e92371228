"""``edgematte.gst`` without GStreamer: importing it is free, and what is missing is said in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

import edgematte.gst as gst
from edgematte.errors import BackendUnavailableError


def test_importing_edgematte_gst_imports_no_gstreamer():
    code = "import sys, edgematte.gst, edgematte.live; print('gi' in sys.modules, 'cv2' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_without_any_gi_the_packages_are_named(monkeypatch, tmp_path):
    monkeypatch.setattr(gst.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(gst, "_SYSTEM_SITES", (str(tmp_path),))
    with pytest.raises(BackendUnavailableError, match=r"PyGObject \(gi\) is not installed for Python 3\.\d+; expected "
                       r"the packages gstreamer1.0-tools .* python3-gst-1.0"):
        gst._import_gi()


def test_a_system_gi_for_another_python_is_not_loaded(monkeypatch, tmp_path):
    (tmp_path / "gi").mkdir()
    (tmp_path / "gi" / "__init__.py").write_text("raise AssertionError('must not be imported')\n")
    (tmp_path / "gi" / "_gi.cpython-39-x86_64-linux-gnu.so").write_bytes(b"")
    monkeypatch.setattr(gst.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(gst, "_SYSTEM_SITES", (str(tmp_path),))
    with pytest.raises(BackendUnavailableError, match="is not installed for Python"):
        gst._import_gi()


def test_a_broken_gi_says_why(monkeypatch, tmp_path):
    (tmp_path / "gi").mkdir()
    (tmp_path / "gi" / "__init__.py").write_text("raise ImportError('libgirepository is missing')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "gi", raising=False)
    with pytest.raises(BackendUnavailableError, match=r"PyGObject \(gi\) does not import \(libgirepository is missing\)"):
        gst._import_gi()
