"""U-2-Net and U2NetP (Qin et al., Pattern Recognition 2020) in PyTorch.

Written for edgematte; the ``state_dict`` keys and shapes equal the official
``u2net.pth``, ``u2net_human_seg.pth`` (both :class:`U2Net` "full") and ``u2netp.pth``
(:class:`U2Net` "lite"). Inference only: the forward returns the fused map d0.

Contract: ``forward(src)``, src RGB float32 [N,3,H,W] in 0..1 -> alpha float32 [N,1,H,W]
in 0..1. The ImageNet mean/std normalisation is part of the module (and of the exported
graph). Any H, W work (pooling uses ``ceil_mode``, upsampling goes to the skip's size);
the weights were trained at 320x320.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["U2Net", "build_u2net", "build_u2netp"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvBnRelu(nn.Module):
    """3x3 conv (dilated) + BatchNorm + ReLU; attribute names follow the checkpoints."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)
        self.bn_s1 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn_s1(self.conv_s1(x)))


def _resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` to the spatial size of ``like`` (half-pixel centres)."""
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block of ``depth`` levels (RSU-4 ... RSU-7).

    Encoder ``rebnconv1 .. rebnconv{depth}``: a 2x max-pool after each of the first
    ``depth - 2``, the last one dilated by 2. Decoder ``rebnconv{depth-1}d .. rebnconv1d``
    concatenates the matching encoder level, upsampling between levels.
    """

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depth = depth
        self.rebnconvin = ConvBnRelu(in_ch, out_ch)
        self.rebnconv1 = ConvBnRelu(out_ch, mid_ch)
        for level in range(2, depth):
            setattr(self, f"rebnconv{level}", ConvBnRelu(mid_ch, mid_ch))
        setattr(self, f"rebnconv{depth}", ConvBnRelu(mid_ch, mid_ch, dilation=2))
        for level in range(depth - 1, 1, -1):
            setattr(self, f"rebnconv{level}d", ConvBnRelu(2 * mid_ch, mid_ch))
        self.rebnconv1d = ConvBnRelu(2 * mid_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.rebnconvin(x)
        skips: List[torch.Tensor] = []
        h = x_in
        for level in range(1, self.depth):
            h = getattr(self, f"rebnconv{level}")(h)
            skips.append(h)
            if level < self.depth - 1:
                h = _pool(h)
        h = getattr(self, f"rebnconv{self.depth}")(h)
        for level in range(self.depth - 1, 0, -1):
            skip = skips[level - 1]
            if level < self.depth - 1:  # every level below the bottom one was pooled
                h = _resize_to(h, skip)
            h = getattr(self, f"rebnconv{level}d")(torch.cat((h, skip), 1))
        return h + x_in


class RSU4F(nn.Module):
    """RSU-4 with dilations 1, 2, 4, 8 instead of pooling (the resolution never changes)."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.rebnconvin = ConvBnRelu(in_ch, out_ch)
        self.rebnconv1 = ConvBnRelu(out_ch, mid_ch)
        self.rebnconv2 = ConvBnRelu(mid_ch, mid_ch, dilation=2)
        self.rebnconv3 = ConvBnRelu(mid_ch, mid_ch, dilation=4)
        self.rebnconv4 = ConvBnRelu(mid_ch, mid_ch, dilation=8)
        self.rebnconv3d = ConvBnRelu(2 * mid_ch, mid_ch, dilation=4)
        self.rebnconv2d = ConvBnRelu(2 * mid_ch, mid_ch, dilation=2)
        self.rebnconv1d = ConvBnRelu(2 * mid_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.rebnconvin(x)
        h1 = self.rebnconv1(x_in)
        h2 = self.rebnconv2(h1)
        h3 = self.rebnconv3(h2)
        h4 = self.rebnconv4(h3)
        d3 = self.rebnconv3d(torch.cat((h4, h3), 1))
        d2 = self.rebnconv2d(torch.cat((d3, h2), 1))
        return self.rebnconv1d(torch.cat((d2, h1), 1)) + x_in


def _block(depth: int, in_ch: int, mid_ch: int, out_ch: int) -> nn.Module:
    return RSU4F(in_ch, mid_ch, out_ch) if depth == 0 else RSU(depth, in_ch, mid_ch, out_ch)


#: (depth, in, mid, out) per stage; depth 0 means RSU-4F.
_FULL_ENCODER = ((7, 3, 32, 64), (6, 64, 32, 128), (5, 128, 64, 256), (4, 256, 128, 512), (0, 512, 256, 512),
                 (0, 512, 256, 512))
_FULL_DECODER = ((0, 1024, 256, 512), (4, 1024, 128, 256), (5, 512, 64, 128), (6, 256, 32, 64), (7, 128, 16, 64))
_LITE_ENCODER = ((7, 3, 16, 64), (6, 64, 16, 64), (5, 64, 16, 64), (4, 64, 16, 64), (0, 64, 16, 64), (0, 64, 16, 64))
_LITE_DECODER = ((0, 128, 16, 64), (4, 128, 16, 64), (5, 128, 16, 64), (6, 128, 16, 64), (7, 128, 16, 64))

Stage = Tuple[int, int, int, int]


class U2Net(nn.Module):
    """Six encoder stages, five decoder stages, six side heads fused by a 1x1 conv.

    Keys: ``stage1..stage6``, ``stage5d..stage1d``, ``side1..side6``, ``outconv``.
    """

    def __init__(self, encoder: Sequence[Stage], decoder: Sequence[Stage]) -> None:
        super().__init__()
        for i, stage in enumerate(encoder, start=1):
            setattr(self, f"stage{i}", _block(*stage))
        for i, stage in zip(range(5, 0, -1), decoder):
            setattr(self, f"stage{i}d", _block(*stage))
        side_channels = [decoder[-1][3]] + [stage[3] for stage in reversed(decoder[:-1])] + [encoder[-1][3]]
        for i, channels in enumerate(side_channels, start=1):
            setattr(self, f"side{i}", nn.Conv2d(channels, 1, 3, padding=1))
        self.outconv = nn.Conv2d(6, 1, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        """src [N,3,H,W] float32 RGB 0..1 -> alpha [N,1,H,W] float32 0..1 (sigmoid of d0)."""
        h = (src - self.mean) / self.std
        encoded: List[torch.Tensor] = []
        for i in range(1, 7):
            if i > 1:
                h = _pool(h)
            h = getattr(self, f"stage{i}")(h)
            encoded.append(h)
        decoded = [h]  # hx6, then hx5d ... hx1d
        for i in range(5, 0, -1):
            skip = encoded[i - 1]
            h = getattr(self, f"stage{i}d")(torch.cat((_resize_to(h, skip), skip), 1))
            decoded.append(h)
        full = decoded[-1]
        sides = []
        for i in range(1, 7):
            side = getattr(self, f"side{i}")(decoded[6 - i])
            sides.append(side if i == 1 else _resize_to(side, full))
        return torch.sigmoid(self.outconv(torch.cat(sides, 1)))


def build_u2net() -> U2Net:
    """U-2-Net "full" (44.0 M parameters): u2net.pth, u2net_human_seg.pth."""
    return U2Net(_FULL_ENCODER, _FULL_DECODER)


def build_u2netp() -> U2Net:
    """U2NetP "lite" (1.1 M parameters): u2netp.pth."""
    return U2Net(_LITE_ENCODER, _LITE_DECODER)
