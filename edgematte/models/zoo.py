"""Table rows of the PyTorch model zoo: MODNet, U-2-Net, U2NetP and their checkpoint variants.

One row per set of trained weights, so every row is a name that ``load``, ``edgematte export``
and the runtime accept: "modnet" / "modnet-webcam" share the ``modnet`` architecture,
"u2net" / "u2net-human-seg" share ``u2net``. Data only: torch is not imported here.

Checksums. The upstream projects publish their weights on Google Drive (and Baidu Pan) and
publish no sha256 or other checksum anywhere we could find (READMEs, release pages, issue
threads), so every ``sha256`` below is ``None``: edgematte does not download a file it cannot
verify. Download it by hand from the page in ``extra["download_page"]`` and pass its path, or
pin the sha256 of a copy you trust (see :func:`edgematte.models.checkpoint_path`).

``extra`` keys used here: ``download_page`` and ``upstream`` (links), ``size_multiple`` (height
and width must be multiples of it), ``key_prefix`` (prefix of every key in the official
checkpoint file, e.g. nn.DataParallel's ``module.``).
"""

from __future__ import annotations

from .table import MODELS, Checkpoint, ModelSpec

__all__ = ["ZOO_ROWS", "TORCH_ARCHITECTURES"]

#: architecture -> (module, builder) for the architectures written in PyTorch here.
TORCH_ARCHITECTURES = {
    "modnet": ("edgematte.models.modnet", "build_modnet"),
    "u2net": ("edgematte.models.u2net", "build_u2net"),
    "u2netp": ("edgematte.models.u2net", "build_u2netp"),
}

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

for _row in ZOO_ROWS:
    MODELS[_row.name] = _row
