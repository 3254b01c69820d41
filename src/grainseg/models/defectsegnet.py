"""DefectSegNet (Roberts et al. 2019): a small encoder-decoder built from dense blocks.

Each block has two 3x3 convolutions (batch norm, ReLU) with growth rate g; the second sees the
block input and the first one's output, and the block emits the concatenation of its input and
both outputs (DenseNet style). Encoder: three blocks (g = 4, 16, 32 at width 1.0), each followed by
2x2 max pooling. Decoder: three blocks (g = 64, 32, 16), each followed by a 2x2 stride-2
transposed convolution to g/2 channels (batch norm, ReLU). Besides the dense connections inside
blocks, the encoder features of a scale (the input and both convolution outputs of the encoder
block there) feed every decoder layer of that scale. Two final 3x3 convolutions (4
channels, then the logit) see the input image, the first block's convolutions and the up-sampled
decoder features. 0.35 M parameters with one input and one output channel.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grainseg.models.layers import check_build_args, init_weights, pad_to_multiple, scale_channels


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution with bias, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DenseBlock(nn.Module):
    """Two densely connected 3x3 convolutions of growth ``growth``.

    ``forward(x)`` returns (c1, c2): the two convolution outputs, each (B, growth, H, W); the
    block's full output is ``cat([x, c1, c2])``.
    """

    def __init__(self, in_channels: int, growth: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_relu(in_channels, growth)
        self.conv2 = conv_bn_relu(in_channels + growth, growth)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c1 = self.conv1(x)
        c2 = self.conv2(torch.cat([x, c1], dim=1))
        return c1, c2


class DefectSegNet(nn.Module):
    """DefectSegNet with all channel counts scaled by ``width``.

    Parameters
    ----------
    in_channels : int
        Channels of the input image.
    width : float
        Multiplier of every growth rate (1.0 = the published network).

    Notes
    -----
    ``forward(x)`` takes (B, in_channels, H, W) of any H, W and returns a one-element list holding
    the (B, 1, H, W) boundary logits.
    """

    arch = "defectsegnet"
    size_multiple = 8

    def __init__(self, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        check_build_args(in_channels, width)
        self.in_channels = in_channels
        self.width = float(width)
        g_enc = [scale_channels(g, width) for g in (4, 16, 32)]
        g_dec = [scale_channels(g, width) for g in (64, 32, 16)]
        g_up = [max(1, g // 2) for g in g_dec]
        g_final = scale_channels(4, width)

        self.encoder = nn.ModuleList()
        enc_out = []  # channels of cat([input, c1, c2]) per encoder block
        channels = in_channels
        for g in g_enc:
            self.encoder.append(DenseBlock(channels, g))
            channels += 2 * g
            enc_out.append(channels)

        # Decoder block k works at 1 / 2**(3 - k) of the input size: its input is the pooled last
        # encoder output (k = 0) or the up-sampled decoder features joined with the input and
        # both convolution outputs of encoder block 3 - k, which works at the same scale.
        dec_in = [enc_out[2], g_up[0] + enc_out[2], g_up[1] + enc_out[1]]
        self.decoder = nn.ModuleList()
        self.up = nn.ModuleList()
        for c_in, g, g_half in zip(dec_in, g_dec, g_up, strict=True):
            self.decoder.append(DenseBlock(c_in, g))
            self.up.append(
                nn.Sequential(
                    nn.ConvTranspose2d(c_in + 2 * g, g_half, 2, stride=2),
                    nn.BatchNorm2d(g_half),
                    nn.ReLU(inplace=True),
                )
            )
        final_in = g_up[2] + enc_out[0]
        self.final = nn.Sequential(
            nn.Conv2d(final_in, g_final, 3, padding=1), nn.ReLU(inplace=True)
        )
        self.head = nn.Conv2d(final_in + g_final, 1, 3, padding=1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        y = pad_to_multiple(x, self.size_multiple)
        scale_feats = []  # per encoder scale: [block input, c1, c2]
        for block in self.encoder:
            c1, c2 = block(y)
            scale_feats.append([y, c1, c2])
            y = F.max_pool2d(torch.cat([y, c1, c2], dim=1), 2)
        for k, (block, up) in enumerate(zip(self.decoder, self.up, strict=True)):
            if k > 0:
                y = torch.cat([y, *scale_feats[3 - k]], dim=1)
            d1, d2 = block(y)
            y = up(torch.cat([y, d1, d2], dim=1))
        skip = torch.cat([y, *scale_feats[0]], dim=1)
        f = self.final(skip)
        return [self.head(torch.cat([skip, f], dim=1))[..., :h, :w]]
