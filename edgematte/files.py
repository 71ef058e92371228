"""The one atomic file writer: an output file appears complete or not at all.

Every file edgematte writes (images, video, weights, engines, manifests, ONNX exports) is
filled under a temporary name beside its destination and renamed over the destination only
when writing succeeded. After an error or Ctrl-C the temporary file is deleted and any
earlier file at the destination is left untouched.

Temporary names are ``.<name>.<pid>.<random>.partial<suffix>`` (the suffix kept, since some
encoders pick the format by it): hidden, marked ``partial`` and carrying the writer's process
id, so a run killed with SIGKILL leaves a file that is visibly safe to delete and that
:func:`remove_stale_partials` recognises. An image sequence's temporary folder is named the same way
(``.frames.<pid>.<random>.partial``, see :class:`edgematte.io.ImageSequenceSink`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator, List, Union

__all__ = ["atomic_path", "write_atomic", "remove_stale_partials", "user_path", "PathLike"]

PathLike = Union[str, "os.PathLike[str]"]

_PARTIAL = re.compile(r"^\..+\.(\d+)\.[^.]+\.partial(\.[^.]*)?$")


@contextlib.contextmanager
def atomic_path(destination: PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a new empty temporary path beside ``destination``; rename it over ``destination`` on success.

    On an exception (KeyboardInterrupt included) the temporary file is removed and the
    exception propagates. The file gets the permissions ``open()`` would give it.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{destination.stem}.{os.getpid()}.", suffix=f".partial{destination.suffix}", dir=destination.parent
    )
    tmp = Path(name)
    try:
        os.close(fd)
        umask = os.umask(0)  # mkstemp makes 0600 files
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def user_path(path: PathLike) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; as written when that user does not exist."""
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "Could not determine home directory": a file may well be called "~0"
        return Path(path)


def write_atomic(path: PathLike, data: Union[bytes, bytearray, memoryview]) -> Path:
    """Write ``data`` (bytes-like) to ``path`` atomically; returns ``path`` as a Path."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


def remove_stale_partials(folder: PathLike) -> List[Path]:
    """Delete temporaries of :func:`atomic_path` (and the temporary folders of image sequences) in ``folder``
    whose writing process is gone; return them."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        found = _PARTIAL.match(entry.name)
        if not found or entry.is_symlink() or _alive(int(found.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):  # an image sequence's temporary folder
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
