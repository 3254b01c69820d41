"""HED, holistically-nested edge detection (Xie & Tu 2015), trained from scratch.

The 13 convolutions of VGG16 (conv1_1 to conv5_3, 2x2 max pooling between the five stages, no
fully connected layers, no pool5). The last convolution of each stage feeds a 1x1 convolution to
one channel (a side output), bilinearly up-sampled to the input size with fixed weights; a 1x1
convolution over the five side outputs gives the fused map. 14.72 M parameters with one input
channel.
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
    upsample_to,
    vgg16_stages,
)


class HED(nn.Module):
    """HED on the VGG16 layout with every channel count scaled by ``width``.

    Parameters
    ----------
    in_channels : int
        Channels of the input image.
    width : float
        Multiplier of every channel count (1.0 = VGG16's 64 to 512).

    Notes
    -----
    ``forward(x)`` takes (B, in_channels, H, W) of any H, W and returns six (B, 1, H, W) logit
    maps: the side outputs of stages 1 to 5, then the fused prediction.
    """

    arch = "hed"
    size_multiple = 16

    def __init__(self, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        check_build_args(in_channels, width)
        self.in_channels = in_channels
        self.width = float(width)
        self.stages = vgg16_stages(in_channels, width)
        self.side = nn.ModuleList(
            nn.Conv2d(stage[-1][0].out_channels, 1, 1) for stage in self.stages
        )
        self.fuse = nn.Conv2d(len(self.stages), 1, 1)
        init_weights(self)
        init_fuse(self.fuse)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        y = pad_to_multiple(x, self.size_multiple)
        size = y.shape[-2:]
        sides = []
        for i, (stage, side) in enumerate(zip(self.stages, self.side, strict=True)):
            if i > 0:
                y = F.max_pool2d(y, 2)
            for layer in stage:
                y = layer(y)
            sides.append(upsample_to(side(y), size))
        return fuse_and_crop(sides, self.fuse, h, w)
