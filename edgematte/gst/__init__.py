"""GStreamer: the ``edgematte`` element, and the GStreamer sources and sinks of the live path.

Nothing here imports GStreamer until it is used: :func:`import_gst` is the one place that does,
and says in one line what to install when it cannot. The element itself is
:mod:`edgematte.gst.element`; GStreamer's Python plugin loader finds it through
:func:`plugin_path` (``GST_PLUGIN_PATH``), which ``edgematte gst --env`` exports.

PyGObject (``gi``) is not on PyPI as a wheel for Linux, and a virtual environment does not see the
system's. When ``gi`` is not installed in this environment at all, :func:`import_gst` loads the
system's ``python3-gi`` package on its own (only ``gi``, not the rest of the system's packages),
provided it was built for this Python's minor version.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import sysconfig
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

from ..errors import BackendUnavailableError

__all__ = ["import_gst", "plugin_path", "environment", "env_lines", "register", "video_info", "PACKAGES",
           "loader_library"]

log = logging.getLogger(__name__)

#: what to install on Debian/Ubuntu (and JetPack, which is Ubuntu) for the element and the live path
PACKAGES = (
    "gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good python3-gst-1.0 "
    "gir1.2-gst-plugins-base-1.0 gstreamer1.0-python3-plugin-loader"
)
#: where Debian, Ubuntu and JetPack install python3-gi
_SYSTEM_SITES = ("/usr/lib/python3/dist-packages",)
_lock = threading.Lock()
_gst: Optional[SimpleNamespace] = None


def import_gst() -> SimpleNamespace:
    """GStreamer's Python modules, initialised: a namespace with ``Gst``, ``GstBase``, ``GstVideo``,
    ``GstApp``, ``GLib`` and ``GObject``. BackendUnavailableError naming the packages when they are missing."""
    global _gst
    with _lock:
        if _gst is None:
            gi = _import_gi()
            try:
                for namespace in ("Gst", "GstBase", "GstVideo", "GstApp"):
                    gi.require_version(namespace, "1.0")
                from gi.repository import GLib, GObject, Gst, GstApp, GstBase, GstVideo
            except (ValueError, ImportError) as exc:
                raise BackendUnavailableError(
                    f"GStreamer's introspection data is missing ({exc}); expected the packages {PACKAGES}"
                ) from None
            if not Gst.is_initialized():
                Gst.init(None)
            _gst = SimpleNamespace(Gst=Gst, GstBase=GstBase, GstVideo=GstVideo, GstApp=GstApp, GLib=GLib,
                                   GObject=GObject)
        return _gst


def _import_gi():
    """``gi`` from this environment, else the system's python3-gi for this Python (see the module docstring)."""
    if importlib.util.find_spec("gi") is not None:
        try:
            import gi
        except ImportError as exc:
            raise BackendUnavailableError(f"PyGObject (gi) does not import ({exc}); expected the packages {PACKAGES}") \
                from None
        return gi
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    for site in _SYSTEM_SITES:
        package = Path(site) / "gi"
        if (package / "__init__.py").is_file() and (package / f"_gi{suffix}").is_file():
            spec = importlib.util.spec_from_file_location("gi", package / "__init__.py",
                                                          submodule_search_locations=[str(package)])
            module = importlib.util.module_from_spec(spec)
            sys.modules["gi"] = module
            try:
                spec.loader.exec_module(module)
            except ImportError as exc:
                del sys.modules["gi"]
                raise BackendUnavailableError(f"the system's PyGObject at {package} does not import ({exc})") from None
            log.debug("gi is not installed in this environment; using the system's at %s", package)
            return module
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    raise BackendUnavailableError(
        f"PyGObject (gi) is not installed for Python {version}; expected the packages {PACKAGES} "
        "(their gi serves the system's python3 only: create the environment with that python3)"
    )


def video_info(caps: Any) -> Any:
    """GstVideo.VideoInfo of video ``caps`` (width, height, stride, offset, format, fps), or None."""
    GstVideo = import_gst().GstVideo
    if hasattr(GstVideo.VideoInfo, "new_from_caps"):  # GStreamer >= 1.20
        return GstVideo.VideoInfo.new_from_caps(caps)
    info = GstVideo.VideoInfo()  # 1.16 and 1.18 (JetPack 5)
    return info if info.from_caps(caps) else None


def plugin_path() -> Path:
    """The folder to put on ``GST_PLUGIN_PATH``: its ``python/`` holds the file the plugin loader imports."""
    return Path(__file__).resolve().parent / "plugin"


def environment() -> Dict[str, str]:
    """What gst-launch-1.0 and gst-inspect-1.0 need to find the element of this installation, each
    variable's folders to prepend:

    - ``GST_PLUGIN_PATH``: :func:`plugin_path`;
    - ``PYTHONPATH``: the folder holding the ``edgematte`` package (the source folder of an editable
      install, whose .pth hook the loader's embedded Python does not run), this environment's
      site-packages (NumPy, OpenCV, ONNX Runtime, ...) and, last, the folder of the system's ``gi``
      (python3-gi): in an activated virtual environment the embedded Python finds the environment's
      ``python3`` on PATH, adopts the environment, and then sees no system package.
    """
    roots = [str(Path(__file__).resolve().parent.parent.parent)]
    paths = sysconfig.get_paths()
    for folder in [paths.get("purelib"), paths.get("platlib"), _system_gi_site()]:
        if folder and folder not in roots:
            roots.append(folder)
    return {"GST_PLUGIN_PATH": str(plugin_path()), "PYTHONPATH": os.pathsep.join(roots)}


def _system_gi_site() -> Optional[str]:
    """The folder holding the system's python3-gi, or None when it is not installed."""
    for site in _SYSTEM_SITES:
        if (Path(site) / "gi" / "__init__.py").is_file():
            return site
    return None


def loader_library() -> Optional[Path]:
    """libgstpython.so (gstreamer1.0-python3-plugin-loader), or None when it is not installed."""
    folders = [Path(p) for p in os.environ.get("GST_PLUGIN_SYSTEM_PATH", "").split(os.pathsep) if p]
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    folders += [Path("/usr/lib") / multiarch / "gstreamer-1.0", Path("/usr/lib/gstreamer-1.0"),
                Path("/usr/lib64/gstreamer-1.0"), Path("/usr/local/lib/gstreamer-1.0")]
    for folder in folders:
        if (folder / "libgstpython.so").is_file():
            return folder / "libgstpython.so"
    return None


def loader_python(library: Path) -> Optional[str]:
    """The Python version ("3.11") the plugin loader embeds, read from the library it links; None if unknown."""
    import re

    try:
        found = re.search(rb"libpython(\d+\.\d+)", library.read_bytes())
    except OSError:
        return None
    return found.group(1).decode() if found else None


def env_lines() -> List[str]:
    """``export`` lines prepending :func:`environment` to what the shell has, for ``eval``."""
    import shlex

    return [f'export {name}={shlex.quote(value)}"${{{name}:+:${name}}}"' for name, value in environment().items()]


def register() -> None:
    """Register the ``edgematte`` element in this process, for applications that build their pipelines
    in Python (``Gst.parse_launch("... ! edgematte ! ...")``). It replaces a factory the plugin loader
    registered, so that the loader (and the system's libpython it links) is never loaded into a Python
    process, which already has its interpreter. Calling it again changes nothing."""
    gst = import_gst()
    from .element import FACTORY_NAME, EdgematteFilter

    gst.Gst.Element.register(None, FACTORY_NAME, gst.Gst.Rank.NONE, EdgematteFilter)
