"""The model table: every model edgematte knows, as data, in this one module.

One :class:`ModelSpec` row per name (one row per set of trained weights). Adding a model is
adding a row here, never a subclass or a registration elsewhere. Single-output graphs share one
contract: input ``src`` RGB float32 [N,3,H,W] in [0, 1] (the model's own normalisation lives
inside the graph), output ``alpha`` float32 [N,1,H,W] in [0, 1]. Recurrent matting rows
(``architecture="rvm"``) have RobustVideoMatting's signature instead (see
:mod:`edgematte.models.rvm`).

Checksums. MODNet, U-2-Net and RobustVideoMatting publish no sha256 or other checksum anywhere
we could find (READMEs, release pages, issue threads), so their ``sha256`` is ``None``:
edgematte does not download a file it cannot verify. Download it by hand from the page in
``extra["download_page"]`` and pass its path, or pin the sha256 of a copy you trust (see
:func:`edgematte.models.checkpoint_path`). The MediaPipe files come from a pinned PyPI wheel
whose sha256 PyPI publishes.

``extra`` keys used here: ``download_page`` and ``upstream`` (links), ``size_multiple`` (height
and width must be multiples of it), ``key_prefix`` (prefix of every key in the official
checkpoint file, e.g. nn.DataParallel's ``module.``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from ..errors import InputError
from ..weights import Checkpoint

__all__ = ["ModelSpec", "Checkpoint", "MODELS", "get_spec"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything the toolchain and runtime need to know about one model."""

    name: str
    architecture: str
    #: "segmentation": probability mask that goes through trimap + refinement;
    #: "matting": the output is already an alpha matte.
    task: str
    #: default (height, width) of the exported graph; None: any frame size (RVM)
    input_size: Optional[Tuple[int, int]]
    #: how other sizes are allowed, in words (e.g. "fixed", "sides multiple of 32")
    size_rule: str
    #: normalisation done inside the graph, in words
    normalization: str
    licence: str
    #: folder name under EDGEMATTE_WEIGHTS / the cache
    weights_subdir: str
    checkpoints: Tuple[Checkpoint, ...] = ()
    color_order: str = "RGB"
    outputs: Tuple[str, ...] = ("alpha",)
    notes: str = ""
    extra: Dict[str, str] = field(default_factory=dict)


# -- MediaPipe selfie segmentation (the default): .tflite members of a pinned wheel --------
# One pinned wheel (any platform's wheel would do: only the data members are used).
_WHEEL_URL = (
    "https://files.pythonhosted.org/packages/2f/ee/2e9e730dc4d98c8a9541b57bad173bebddf0e4c78f179acc100248c58066/"
    "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
)
_WHEEL_SHA256 = "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4"
_MEMBER_DIR = "mediapipe/modules/selfie_segmentation/"


def _selfie(name: str, filename: str, member_sha256: str, size: tuple, notes: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        architecture="mediapipe-selfie-segmentation",
        task="segmentation",
        input_size=size,
        size_rule="fixed",
        normalization="none: RGB 0..1 goes straight in",
        licence="Apache-2.0 (Google MediaPipe)",
        weights_subdir="mediapipe_selfie",
        checkpoints=(Checkpoint(filename=filename, url=_WHEEL_URL, sha256=_WHEEL_SHA256,
                                member=_MEMBER_DIR + filename, member_sha256=member_sha256),),
        notes=notes,
    )


SELFIE_ROWS = (
    _selfie("selfie", "selfie_segmentation.tflite",
            "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c", (256, 256),
            "MediaPipe selfie segmentation, general model; person probability mask"),
    _selfie("selfie-landscape", "selfie_segmentation_landscape.tflite",
            "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd", (144, 256),
            "MediaPipe selfie segmentation, landscape model (16:9 video); person probability mask"),
)


# -- PyTorch zoo: MODNet, U-2-Net, U2NetP (architectures in modnet.py / u2net.py) --------
_MODNET_DRIVE = "https://drive.google.com/drive/folders/1umYmlCulvIFNaqPjwod1SayFmSRHziyR"
_MODNET_LICENCE = (
    "Apache-2.0 per the current upstream README (code and models); earlier revisions of that README "
    "said CC BY-NC-SA 4.0 (non-commercial): check which applies to the copy you use"
)
_U2NET_LICENCE = "Apache-2.0 (upstream repository licence; the weights carry no separate licence statement)"


def _drive_file(file_id: str) -> str:
    """Direct-download URL of a public Google Drive file (skips the large-file confirmation page)."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


def _modnet(name: str, filename: str, notes: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        architecture="modnet",
        task="matting",
        input_size=(512, 512),
        size_rule="height and width multiples of 32 (upstream resizes the short side to 512)",
        normalization="(x - 0.5) / 0.5 inside the graph: RGB 0..1 -> -1..1",
        licence=_MODNET_LICENCE,
        weights_subdir="modnet",
        # upstream shares these only as files in a Google Drive folder: no per-file URL, no checksum
        checkpoints=(Checkpoint(filename, url=None, sha256=None),),
        notes=notes + " Checkpoint keys carry nn.DataParallel's 'module.' prefix.",
        extra={
            "download_page": _MODNET_DRIVE,
            "upstream": "https://github.com/ZHKKKe/MODNet",
            "size_multiple": "32",
            "key_prefix": "module.",
        },
    )


def _u2net(name: str, architecture: str, filename: str, file_id: str, notes: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        architecture=architecture,
        task="segmentation",
        input_size=(320, 320),
        size_rule="any size works; trained and evaluated at 320x320",
        normalization="ImageNet mean (0.485, 0.456, 0.406) / std (0.229, 0.224, 0.225) inside the graph",
        licence=_U2NET_LICENCE,
        weights_subdir="u2net",
        # no sha256 is published for any U-2-Net checkpoint
        checkpoints=(Checkpoint(filename, url=_drive_file(file_id), sha256=None),),
        notes=notes + " Output: sigmoid of the fused map d0 (upstream's test script also min-max "
        "normalises it per image and scales the input by its max, not by 255; edgematte does neither).",
        extra={
            "download_page": f"https://drive.google.com/file/d/{file_id}/view",
            "upstream": "https://github.com/xuebinqin/U-2-Net",
            "size_multiple": "1",
            "key_prefix": "",
        },
    )


ZOO_ROWS = (
    _modnet("modnet", "modnet_photographic_portrait_matting.ckpt", "Portrait matting for photos (default)."),
    _modnet("modnet-webcam", "modnet_webcam_portrait_matting.ckpt", "Portrait matting tuned for webcam video."),
    _u2net("u2net", "u2net", "u2net.pth", "1ao1ovG1Qtx4b7EoskHXmi2E9rp5CHLcZ",
           "Salient-object segmentation (DUTS-TR), 44 M parameters, 176 MB."),
    _u2net("u2net-human-seg", "u2net", "u2net_human_seg.pth", "1m_Kgs91b21gayc2XLW0ou8yugAIadWVP",
           "Human segmentation (Supervisely Person), U-2-Net full architecture."),
    _u2net("u2netp", "u2netp", "u2netp.pth", "1rbSTGKAE-MTxBYHd-51l2hMOQPT_7EPy",
           "Small salient-object segmentation model, 1.1 M parameters, 4.7 MB."),
)


# -- RobustVideoMatting: official ONNX release assets --------------------------------
_RVM_RELEASE = "https://github.com/PeterL1n/RobustVideoMatting/releases/download/v1.0.0/"
_RVM_LICENCE = "GPL-3.0 (upstream code and weights): never shipped with edgematte; the user downloads them"


def _rvm(name: str, backbone: str, notes: str) -> ModelSpec:
    filename = f"rvm_{backbone}_fp32.onnx"
    return ModelSpec(
        name=name,
        architecture="rvm",
        task="matting",
        input_size=None,  # any frame size: the graph is dynamic and downsamples inside
        size_rule="any size; downsample_ratio sets the internal resolution (see edgematte.models.rvm)",
        normalization="none: RGB 0..1 goes straight in",
        licence=_RVM_LICENCE,
        weights_subdir="rvm",
        # a GitHub release asset: a stable URL, but no published checksum (pin one yourself)
        checkpoints=(Checkpoint(filename, url=_RVM_RELEASE + filename, sha256=None),),
        outputs=("fgr", "pha", "r1o", "r2o", "r3o", "r4o"),
        notes=notes + " Recurrent: frames must be served in order.",
        extra={
            "download_page": "https://github.com/PeterL1n/RobustVideoMatting/releases/tag/v1.0.0",
            "upstream": "https://github.com/PeterL1n/RobustVideoMatting",
        },
    )


RVM_ROWS = (
    _rvm("rvm", "mobilenetv3", "RobustVideoMatting, MobileNetV3 backbone: video matting with foreground colour."),
    _rvm("rvm-resnet50", "resnet50", "RobustVideoMatting, ResNet50 backbone: better edges, ~4x the compute."),
)


#: name -> spec, every row of the table.
MODELS: Dict[str, ModelSpec] = {row.name: row for row in SELFIE_ROWS + ZOO_ROWS + RVM_ROWS}


def get_spec(name: str) -> ModelSpec:
    """The table row for ``name``; InputError listing the known names otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise InputError(f"received model name {name!r}; expected one of {sorted(MODELS)}") from None
