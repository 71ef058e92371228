"""MediaPipe selfie segmentation: the default model (Apache-2.0, ~250 KB, real time on any CPU).

Two rows: "selfie" (general, 256x256) and "selfie-landscape" (144x256). The .tflite files
ship inside the pinned ``mediapipe==0.10.14`` wheel on PyPI; :func:`fetch_tflite` finds them
(explicit path > ``$EDGEMATTE_WEIGHTS/mediapipe_selfie/`` > user cache > download of the wheel,
sha256-checked, then extraction of the member, sha256-checked). :func:`onnx_for` converts
them once with :mod:`edgematte.export.tflite` and caches the ONNX keyed by the tflite sha256.
onnx, tflite and the converter are imported only when a conversion runs.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Optional, Union

from ..errors import InputError, ModelError
from ..files import atomic_path, write_atomic
from ..weights import cache_dir, download, resolve_weights, sha256_of
from .table import MODELS, Checkpoint, ModelSpec, get_spec

__all__ = ["SELFIE_MODELS", "WEIGHTS_SUBDIR", "fetch_tflite", "fetch_from_archive", "extract_member", "onnx_for"]

PathLike = Union[str, "os.PathLike[str]"]

WEIGHTS_SUBDIR = "mediapipe_selfie"
# One pinned wheel (any platform's wheel would do: only the data members are used).
_WHEEL_URL = (
    "https://files.pythonhosted.org/packages/2f/ee/2e9e730dc4d98c8a9541b57bad173bebddf0e4c78f179acc100248c58066/"
    "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
)
_WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
_MEMBER_DIR = "mediapipe/modules/selfie_segmentation/"


def _row(name: str, filename: str, member_sha256: str, size: tuple, notes: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        architecture="mediapipe-selfie-segmentation",
        task="segmentation",
        input_size=size,
        size_rule="fixed",
        normalization="none: RGB 0..1 goes straight in",
        licence="Apache-2.0 (Google MediaPipe)",
        weights_subdir=WEIGHTS_SUBDIR,
        checkpoints=(Checkpoint(filename=filename, url=_WHEEL_URL, sha256=_WHEEL_SHA256,
                                member=_MEMBER_DIR + filename, member_sha256=member_sha256),),
        notes=notes,
    )


SELFIE_MODELS = {
    "selfie": _row("selfie", "selfie_segmentation.tflite",
                   "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c", (256, 256),
                   "MediaPipe selfie segmentation, general model; person probability mask"),
    "selfie-landscape": _row("selfie-landscape", "selfie_segmentation_landscape.tflite",
                             "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd", (144, 256),
                             "MediaPipe selfie segmentation, landscape model (16:9 video); person probability mask"),
}
MODELS.update(SELFIE_MODELS)


def _selfie_spec(name: str) -> ModelSpec:
    spec = get_spec(name)
    if spec.architecture != "mediapipe-selfie-segmentation":
        raise InputError(f"received model name {name!r}; expected one of {sorted(SELFIE_MODELS)}")
    return spec


def extract_member(archive: PathLike, member: str, sha256: str, destination: PathLike) -> Path:
    """Copy ``member`` out of the zip ``archive`` to ``destination`` if its sha256 matches.

    Atomic: a mismatch or a broken archive raises ModelError and leaves nothing at ``destination``.
    """
    destination = Path(destination)
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


def fetch_from_archive(checkpoint: Checkpoint, *, subdir: str, progress: bool = True) -> Path:
    """Download ``checkpoint.url`` (an archive, sha256-checked), extract its member into the cache.

    The archive is deleted afterwards; every other checkpoint of the model table that lives in
    the same archive is extracted too, so one download serves all of them.
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
        siblings = [c for spec in MODELS.values() if spec.weights_subdir == subdir for c in spec.checkpoints
                    if c.url == checkpoint.url and c.member and c.member_sha256 and c != checkpoint]
        for other in siblings:
            extract_member(archive, other.member, other.member_sha256, folder / other.filename)
    finally:
        archive.unlink()
    return target


def fetch_tflite(name: str, *, weights: Optional[PathLike] = None, progress: bool = True) -> Path:
    """The .tflite file of a selfie row: ``weights`` > ``$EDGEMATTE_WEIGHTS`` > cache > pinned wheel."""
    spec = _selfie_spec(name)
    checkpoint = spec.checkpoints[0]
    if weights is not None or os.environ.get("EDGEMATTE_WEIGHTS"):
        return resolve_weights(checkpoint.filename, subdir=spec.weights_subdir, path=weights)
    cached = cache_dir() / spec.weights_subdir / checkpoint.filename
    if cached.is_file() and sha256_of(cached) == checkpoint.member_sha256:
        return cached
    return fetch_from_archive(checkpoint, subdir=spec.weights_subdir, progress=progress)


def onnx_for(name: str, *, weights: Optional[PathLike] = None, progress: bool = True) -> Path:
    """A ready ONNX file for a selfie row, converted once and cached by the tflite sha256.

    Input ``src`` float32 [1,3,H,W] RGB 0..1, output ``alpha`` float32 [1,1,H,W] 0..1, with
    (H, W) the row's ``input_size``.
    """
    from ..export.tflite import CONVERTER_VERSION, export_selfie

    _selfie_spec(name)
    tflite_path = fetch_tflite(name, weights=weights, progress=progress)
    digest = sha256_of(tflite_path)
    target = cache_dir() / WEIGHTS_SUBDIR / "onnx" / f"{name}-{digest[:16]}-c{CONVERTER_VERSION}.onnx"
    if target.is_file():
        return target
    with atomic_path(target) as tmp:
        export_selfie(name, tmp, weights=tflite_path)
    return target
