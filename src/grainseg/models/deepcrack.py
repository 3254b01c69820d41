"""DeepCrack (Zou et al. 2018): a SegNet-like encoder-decoder with fused multi-scale side outputs.

Encoder: the 13 convolutions of VGG16 in five stages, each stage followed by 2x2 max pooling that
remembers where each maximum came from. Decoder: five stages mirroring the encoder, each starting
with max-unpooling to those positions (SegNet), with 512-512-512, 512-512-256, 256-256-128,
128-64 and 64-64 channels. At each of the five scales the encoder stage output and the decoder
stage output are concatenated and reduced by a 3x3 convolution to 64 channels (ReLU) and a 3x3
convolution to one channel; the five side outputs are bilinearly up-sampled to the input size
and fused by a 3x3 convolution. 30.90 M parameters with one input channel, as in the authors'
PyTorch release (no batch norm).

The side convolutions run at their own scale and only their one-channel result is up-sampled
(the reference up-samples the concatenated features first); the parameters are the same, the
cost at full resolution much lower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grainseg.models.layers import (
    VGG16_STAGES,
    check_build_args,
    conv3x3_relu,
    fuse_and_crop,
    init_fuse,
    init_weights,
    pad_to_multiple,
    scale_channels,
    upsample_to,
    vgg16_stages,
)

# Decoder stage channels at width 1.0, deepest first (each list: output of every convolution).
DECODER_STAGES = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64, 64))


class DeepCrack(nn.Module):
    """DeepCrack with every channel count scaled by ``width``.

    Parameters
    ----------
    in_channels : int
        Channels of the input image.
    width : float
        Multiplier of every channel count.

    Notes
    -----
    ``forward(x)`` takes (B, in_channels, H, W) of any H, W (padded inside to a multiple of 32)
    and returns six (B, 1, H, W) logit maps: the side outputs of scales 1 to 1/16, then the fused
    prediction.
    """

    arch = "deepcrack"
    size_multiple = 32

    def __init__(self, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        check_build_args(in_channels, width)
        self.in_channels = in_channels
        self.width = float(width)
        self.encoder = vgg16_stages(in_channels, width)
        self.decoder = nn.ModuleList()
        channels = scale_channels(VGG16_STAGES[-1][0], width)
        for stage in DECODER_STAGES:
            layers = []
            for c in stage:
                out = scale_channels(c, width)
                layers.append(conv3x3_relu(channels, out))
                channels = out
            self.decoder.append(nn.Sequential(*layers))
        side_mid = scale_channels(64, width)
        enc_channels = [scale_channels(c, width) for c, _ in VGG16_STAGES]
        dec_channels = [scale_channels(s[-1], width) for s in reversed(DECODER_STAGES)]
        self.side = nn.ModuleList(
            nn.Sequential(conv3x3_relu(e + d, side_mid), nn.Conv2d(side_mid, 1, 3, padding=1))
            for e, d in zip(enc_channels, dec_channels, strict=True)
        )
        self.fuse = nn.Conv2d(len(self.side), 1, 3, padding=1)
        init_weights(self)
        init_fuse(self.fuse)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        y = pad_to_multiple(x, self.size_multiple)
        size = y.shape[-2:]
        enc_feats, indices = [], []
        for stage in self.encoder:
            for layer in stage:
                y = layer(y)
            enc_feats.append(y)
            y, idx = F.max_pool2d(y, 2, return_indices=True)
            indices.append(idx)
        dec_feats = []
        for stage, enc, idx in zip(
            self.decoder, reversed(enc_feats), reversed(indices), strict=True
        ):
            y = stage(F.max_unpool2d(y, idx, 2, output_size=enc.shape[-2:]))
            dec_feats.append(y)
        sides = [
            upsample_to(side(torch.cat([enc, dec], dim=1)), size)
            for side, enc, dec in zip(self.side, enc_feats, reversed(dec_feats), strict=True)
        ]
        return fuse_and_crop(sides, self.fuse, h, w)
