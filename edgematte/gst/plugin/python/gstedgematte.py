"""Imported by GStreamer's Python plugin loader (gstreamer1.0-python3-plugin-loader): registers ``edgematte``.

This folder's parent goes on GST_PLUGIN_PATH, and the installation on PYTHONPATH:
``eval "$(edgematte gst --env)"``. When edgematte cannot be imported, one line says why and the
element stays unregistered.
"""

import sys

# gst-python's loader holds the sys.path list while it imports this file, and writes to it after: keep
# that list alive even if an import rebinds sys.path (OpenCV's __init__ does), or the loader corrupts its heap
_LOADER_SYS_PATH = sys.path

try:
    from edgematte.gst.element import FACTORY_NAME, EdgematteFilter
except Exception as exc:  # not importable here: one line instead of the loader's traceback
    sys.stderr.write(f"edgematte: the GStreamer element is not registered: {type(exc).__name__}: {exc} "
                     '(run: eval "$(edgematte gst --env)")\n')
else:
    from gi.repository import Gst

    __gstelementfactory__ = (FACTORY_NAME, Gst.Rank.NONE, EdgematteFilter)
