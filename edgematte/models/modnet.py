"""MODNet (Ke et al., AAAI 2022): trimap-free portrait matting, in PyTorch.

Written for edgematte; the ``state_dict`` keys and shapes equal the official
``modnet_photographic_portrait_matting.ckpt`` / ``modnet_webcam_portrait_matting.ckpt``
once their ``module.`` prefix is stripped. Like the official model, the MobileNetV2
backbone is one module reachable twice (``backbone.*`` and ``lr_branch.backbone.*``), so
its tensors appear under both names. The training-only heads (``lr_branch.conv_lr``,
``hr_branch.conv_hr``) exist so that the checkpoints load, and never run.

Contract: ``forward(src)``, src RGB float32 [N,3,H,W] in 0..1 with H and W multiples of
32 -> fused alpha matte float32 [N,1,H,W] in 0..1. The scaling to [-1, 1] is part of the
module (and of the exported graph).
"""

from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MODNet", "build_modnet"]

HR_CHANNELS = 32
#: encoder outputs used by the branches: 2x, 4x, 8x, 16x, 32x
ENC_CHANNELS = (16, 24, 32, 96, 1280)
#: MobileNetV2 inverted-residual stages: (expansion, out channels, repeats, first stride)
_MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                 (6, 320, 1, 1))
#: features[a:b] produce the 2x, 4x, 8x, 16x and 32x encoder outputs
_ENCODER_CUTS = (0, 2, 4, 7, 14, 19)


def _conv_bn(in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1, relu6: bool = True) -> List:
    layers = [nn.Conv2d(in_ch, out_ch, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(out_ch)]
    if relu6:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    """MobileNetV2 block: (1x1 expand) -> 3x3 depthwise -> 1x1 project, residual when shapes allow."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_ch * expansion
        self.use_residual = stride == 1 and in_ch == out_ch
        layers = [] if expansion == 1 else _conv_bn(in_ch, hidden, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += _conv_bn(hidden, out_ch, 1, relu6=False)
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Features(nn.Module):
    """``features.0 .. features.18`` of MobileNetV2 (width 1.0), without the classifier."""

    def __init__(self, in_ch: int = 3) -> None:
        super().__init__()
        layers: List[nn.Module] = [nn.Sequential(*_conv_bn(in_ch, 32, 3, stride=2))]
        channels = 32
        for expansion, out_ch, repeats, stride in _MOBILENET_V2:
            for i in range(repeats):
                layers.append(InvertedResidual(channels, out_ch, stride if i == 0 else 1, expansion))
                channels = out_ch
        layers.append(nn.Sequential(*_conv_bn(channels, ENC_CHANNELS[-1], 1)))
        self.features = nn.Sequential(*layers)


class Backbone(nn.Module):
    """Holds the MobileNetV2 as ``model`` (checkpoint keys ``backbone.model.features.*``)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = MobileNetV2Features()

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """[enc2x, enc4x, enc8x, enc16x, enc32x]."""
        outputs = []
        for start, stop in zip(_ENCODER_CUTS[:-1], _ENCODER_CUTS[1:]):
            for index in range(start, stop):
                x = self.model.features[index](x)
            outputs.append(x)
        return outputs


class IBNorm(nn.Module):
    """BatchNorm on the first half of the channels, InstanceNorm (no affine) on the second half."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        # the official split slices the second half from `channels - channels // 2`; with the
        # even channel counts MODNet uses, that is the same as slicing from `channels // 2`.
        assert channels % 2 == 0, channels
        self.bnorm_channels = channels // 2
        self.bnorm = nn.BatchNorm2d(self.bnorm_channels)
        self.inorm = nn.InstanceNorm2d(channels - self.bnorm_channels, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        split = self.bnorm_channels
        return torch.cat((self.bnorm(x[:, :split]), self.inorm(x[:, split:])), 1)


class ConvIBNormRelu(nn.Module):
    """Conv (with bias) -> optional IBNorm -> optional ReLU, as ``layers.0/1``."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, norm_relu: bool = True) -> None:
        super().__init__()
        layers: List[nn.Module] = [nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)]
        if norm_relu:
            layers += [IBNorm(out_ch), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _chain(*specs: Tuple[int, int, int]) -> nn.Sequential:
    """Sequential of ConvIBNormRelu(in, out, kernel); the last of a head has no norm/ReLU (out == 1)."""
    return nn.Sequential(*(ConvIBNormRelu(i, o, k, norm_relu=o != 1) for i, o, k in specs))


class SEBlock(nn.Module):
    """Squeeze-and-excitation: channel gates from a global average (``fc.0``, ``fc.2``)."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates = self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))
        return x * gates[:, :, None, None]


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def _down(x: torch.Tensor, factor: float) -> torch.Tensor:
    return F.interpolate(x, scale_factor=1.0 / factor, mode="bilinear", align_corners=False)


class LRBranch(nn.Module):
    """Low-resolution (semantic) branch: backbone -> SE -> 16x -> 8x features."""

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        c = ENC_CHANNELS
        self.backbone = backbone
        self.se_block = SEBlock(c[4], reduction=4)
        self.conv_lr16x = ConvIBNormRelu(c[4], c[3], 5)
        self.conv_lr8x = ConvIBNormRelu(c[3], c[2], 5)
        self.conv_lr = ConvIBNormRelu(c[2], 1, 3, stride=2, norm_relu=False)  # training-only semantic head

    def forward(self, img: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        enc2x, enc4x, _, _, enc32x = self.backbone(img)
        lr16x = self.conv_lr16x(_up2(self.se_block(enc32x)))
        lr8x = self.conv_lr8x(_up2(lr16x))
        return lr8x, enc2x, enc4x


class HRBranch(nn.Module):
    """High-resolution (detail) branch at 4x and 2x."""

    def __init__(self) -> None:
        super().__init__()
        hr, c = HR_CHANNELS, ENC_CHANNELS
        self.tohr_enc2x = ConvIBNormRelu(c[0], hr, 1)
        self.conv_enc2x = ConvIBNormRelu(hr + 3, hr, 3, stride=2)
        self.tohr_enc4x = ConvIBNormRelu(c[1], hr, 1)
        self.conv_enc4x = ConvIBNormRelu(2 * hr, 2 * hr, 3)
        self.conv_hr4x = _chain((3 * hr + 3, 2 * hr, 3), (2 * hr, 2 * hr, 3), (2 * hr, hr, 3))
        self.conv_hr2x = _chain((2 * hr, 2 * hr, 3), (2 * hr, hr, 3), (hr, hr, 3), (hr, hr, 3))
        self.conv_hr = _chain((hr + 3, hr, 3), (hr, 1, 1))  # training-only detail head

    def forward(self, img: torch.Tensor, enc2x: torch.Tensor, enc4x: torch.Tensor, lr8x: torch.Tensor) -> torch.Tensor:
        enc2x = self.tohr_enc2x(enc2x)
        hr4x = self.conv_enc2x(torch.cat((_down(img, 2), enc2x), 1))
        hr4x = self.conv_enc4x(torch.cat((hr4x, self.tohr_enc4x(enc4x)), 1))
        hr4x = self.conv_hr4x(torch.cat((hr4x, _up2(lr8x), _down(img, 4)), 1))
        return self.conv_hr2x(torch.cat((_up2(hr4x), enc2x), 1))


class FusionBranch(nn.Module):
    """Fuses the semantic and detail features into the alpha matte."""

    def __init__(self) -> None:
        super().__init__()
        hr, c = HR_CHANNELS, ENC_CHANNELS
        self.conv_lr4x = ConvIBNormRelu(c[2], hr, 5)
        self.conv_f2x = ConvIBNormRelu(2 * hr, hr, 3)
        self.conv_f = _chain((hr + 3, hr // 2, 3), (hr // 2, 1, 1))

    def forward(self, img: torch.Tensor, lr8x: torch.Tensor, hr2x: torch.Tensor) -> torch.Tensor:
        lr2x = _up2(self.conv_lr4x(_up2(lr8x)))
        f2x = self.conv_f2x(torch.cat((lr2x, hr2x), 1))
        return torch.sigmoid(self.conv_f(torch.cat((_up2(f2x), img), 1)))


class MODNet(nn.Module):
    """MODNet with a MobileNetV2 backbone and 32 high-resolution channels."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = Backbone()
        self.lr_branch = LRBranch(self.backbone)
        self.hr_branch = HRBranch()
        self.f_branch = FusionBranch()

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        """src [N,3,H,W] float32 RGB 0..1, H and W multiples of 32 -> alpha [N,1,H,W] float32 0..1."""
        img = src * 2.0 - 1.0  # the official (x - 0.5) / 0.5
        lr8x, enc2x, enc4x = self.lr_branch(img)
        hr2x = self.hr_branch(img, enc2x, enc4x, lr8x)
        return self.f_branch(img, lr8x, hr2x)


def build_modnet() -> MODNet:
    """MODNet for both official checkpoints (photographic, webcam); 6.5 M parameters."""
    return MODNet()

