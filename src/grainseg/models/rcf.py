"""RCF, richer convolutional features for edge detection (Liu et al. 2017), trained from scratch.

The VGG16 layout of HED with two changes: every one of the 13 convolutions (not only the last of
a stage) feeds a 1x1 convolution to 21 channels, and these are summed per stage before the 1x1
convolution to the side output; and pool4 has stride 1 with conv5 dilated by 2 (atrous), so the
fifth stage keeps 1/8 resolution. Side outputs are bilinearly up-sampled (fixed weights) and
fused by a 1x1 convolution. 14.80 M parameters with one input channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grainseg.models.layers import (
    check_build_args,
    fuse_and_crop,
    init_fuse,
    init_weights,
    pad_to_multiple,
    scale_channels,
    upsample_to,
    vgg16_stages,
)


class RCF(nn.Module):
    """RCF on the VGG16 layout with every channel count (including the 21) scaled by ``width``.

    Parameters
    ----------
    in_channels : int
        Channels of the input image.
    width : float
        Multiplier of every channel count.

    Notes
    -----
    ``forward(x)`` takes (B, in_channels, H, W) of any H, W and returns six (B, 1, H, W) logit
    maps: the side outputs of stages 1 to 5, then the fused prediction.
    """

    arch = "rcf"
    size_multiple = 8

    def __init__(self, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        check_build_args(in_channels, width)
        self.in_channels = in_channels
        self.width = float(width)
        reduced = scale_channels(21, width)
        self.stages = vgg16_stages(in_channels, width, last_dilation=2)
        self.reduce = nn.ModuleList(
            nn.ModuleList(nn.Conv2d(layer[0].out_channels, reduced, 1) for layer in stage)
            for stage in self.stages
        )
        self.side = nn.ModuleList(nn.Conv2d(reduced, 1, 1) for _ in self.stages)
        self.fuse = nn.Conv2d(len(self.stages), 1, 1)
        init_weights(self)
        init_fuse(self.fuse)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        y = pad_to_multiple(x, self.size_multiple)
        size = y.shape[-2:]
        sides = []
        for i, (stage, reduce, side) in enumerate(
            zip(self.stages, self.reduce, self.side, strict=True)
        ):
            if i in (1, 2, 3):
                y = F.max_pool2d(y, 2)
            elif i == 4:
                y = F.max_pool2d(y, 3, stride=1, padding=1)  # pool4 with stride 1
            summed = 0
            for layer, red in zip(stage, reduce, strict=True):
                y = layer(y)
                summed = summed + red(y)
            sides.append(upsample_to(side(summed), size))
        return fuse_and_crop(sides, self.fuse, h, w)
