"""U-Net (Ronneberger et al. 2015) in the common PyTorch form with bilinear up-sampling.

Layout at width 1.0: an encoder of double convolutions (3x3 conv without bias, batch norm, ReLU,
twice) with 64, 128, 256, 512 and 512 channels (the bottleneck halved, as usual when the decoder
up-samples bilinearly instead of with transposed convolutions), four max-pool steps, and a decoder
that up-samples by 2, concatenates the encoder features of the same scale and applies a double
convolution whose middle width is half its input; a 1x1 convolution gives the logit map.
17.26 M parameters with one input and one output channel, the paper's count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from grainseg.models.layers import check_build_args, init_weights, pad_to_multiple, scale_channels


def double_conv(in_channels: int, out_channels: int, mid_channels: int) -> nn.Sequential:
    """(3x3 conv, no bias -> batch norm -> ReLU) twice."""
    return nn.Sequential(
        nn.Conv2d(in_channels, mid_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net with bilinear up-sampling and base width 64 (scaled by ``width``).

    Parameters
    ----------
    in_channels : int
        Channels of the input image (1 for a preprocessed SEM micrograph).
    width : float
        Multiplier of every channel count (1.0 = the paper's network).

    Notes
    -----
    ``forward(x)`` takes (B, in_channels, H, W) float32 of any H, W and returns a one-element list
    holding the (B, 1, H, W) boundary logits.
    """

    arch = "unet"
    size_multiple = 16

    def __init__(self, in_channels: int = 1, width: float = 1.0) -> None:
        super().__init__()
        check_build_args(in_channels, width)
        self.in_channels = in_channels
        self.width = float(width)
        c1, c2, c3, c4, c5 = (scale_channels(c, width) for c in (64, 128, 256, 512, 1024))
        bottleneck = max(1, c5 // 2)
        self.enc = nn.ModuleList(
            [
                double_conv(in_channels, c1, c1),
                double_conv(c1, c2, c2),
                double_conv(c2, c3, c3),
                double_conv(c3, c4, c4),
                double_conv(c4, bottleneck, bottleneck),
            ]
        )
        # Decoder step k: up-sampled deeper features + skip -> out channels (half the skip's,
        # except the last, which keeps c1); the middle width is half the concatenation.
        dec = []
        deeper = bottleneck
        for skip, out in ((c4, max(1, c4 // 2)), (c3, max(1, c3 // 2)), (c2, c1), (c1, c1)):
            cat = deeper + skip
            dec.append(double_conv(cat, out, max(1, cat // 2)))
            deeper = out
        self.dec = nn.ModuleList(dec)
        self.head = nn.Conv2d(c1, 1, 1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        y = pad_to_multiple(x, self.size_multiple)
        skips = []
        for i, block in enumerate(self.enc):
            if i > 0:
                y = F.max_pool2d(y, 2)
            y = block(y)
            skips.append(y)
        skips.pop()  # the bottleneck output is y itself
        for block in self.dec:
            skip = skips.pop()
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=True)
            y = block(torch.cat([skip, y], dim=1))
        return [self.head(y)[..., :h, :w]]
