"""GStreamer test helpers: why GStreamer tests cannot run here, the stderr filter, gst-launch-1.0 -m output."""

from __future__ import annotations

import re
import shutil
from typing import Dict, List, Optional

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


def stats_message(stdout: str) -> Dict[str, float]:
    """The fields of the edgematte-stats element message that gst-launch-1.0 -m printed."""
    found = re.search(r"edgematte-stats, (.*?);?$", stdout, re.MULTILINE)
    assert found, stdout
    fields = {}
    for name, value in re.findall(r"([\w-]+)=\(\w+\)([\d.e+-]+)", found.group(1)):
        fields[name] = float(value)
    return fields
