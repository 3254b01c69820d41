"""Building blocks shared by the five architectures: channel scaling, padding, init, up-sampling.

Every network in this package takes any input size: it pads the input at the bottom and right
edges (replicating the last row and column) to a multiple of its total down-sampling factor,
runs, and crops every output back to the input size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from grainseg.errors import GrainsegError


def scale_channels(channels: int, width: float) -> int:
    """Channel count of a layer that has ``channels`` at width 1.0, scaled by ``width`` (>= 1)."""
    return max(1, int(round(channels * width)))


def check_build_args(in_channels: int, width: float) -> None:
    """Raise GrainsegError unless ``in_channels`` is a positive int and ``width`` a positive float."""
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise GrainsegError(f"in_channels must be a positive integer, not {in_channels!r}")
    if not isinstance(width, (int, float)) or not math.isfinite(width) or width <= 0:
        raise GrainsegError(f"width must be a positive number, not {width!r}")


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad a (B, C, H, W) tensor at the bottom and right so that H and W divide by ``multiple``.

    The edge rows and columns are replicated, so no artificial step (a false boundary) appears
    at the padded border. Returns ``x`` itself when no padding is needed.
    """
    h, w = x.shape[-2:]
    pad_h = -h % multiple
    pad_w = -w % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")


def upsample_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize a (B, C, h, w) tensor to ``size`` = (H, W); identity when equal.

    Fixed (not learnable) bilinear up-sampling of the side outputs, as in the HED and RCF
    reference implementations, which freeze their deconvolution kernels to bilinear weights.
    """
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def fuse_and_crop(
    sides: list[torch.Tensor], fuse: nn.Module, height: int, width: int
) -> list[torch.Tensor]:
    """The side outputs and their fusion, cropped to the unpadded input size.

    Parameters
    ----------
    sides : list of (B, 1, H, W) tensors
        Side-output logits at the padded input size.
    fuse : nn.Module
        Maps the side outputs stacked as (B, len(sides), H, W) to the (B, 1, H, W) fused logits.
    height, width : int
        Input size before `pad_to_multiple`.

    Returns
    -------
    list of (B, 1, height, width) tensors
        The side outputs, then the fused prediction.
    """
    outputs = [*sides, fuse(torch.cat(sides, dim=1))]
    return [o[..., :height, :width] for o in outputs]


def conv3x3_relu(in_channels: int, out_channels: int, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution with bias (same padding) followed by ReLU, the VGG16 unit."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation),
        nn.ReLU(inplace=True),
    )


def init_weights(model: nn.Module) -> None:
    """He-normal convolution weights, zero biases, unit/zero batch-norm affine parameters.

    Layers that produce a single output channel (logit maps) get a small normal init
    (std 0.01) so the initial predictions sit near probability 0.5 instead of saturating.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            if module.out_channels == 1:
                nn.init.normal_(module.weight, std=0.01)
            else:
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def init_fuse(conv: nn.Conv2d) -> None:
    """Initialise a fusion convolution over n side maps to their mean (weights 1/n, bias 0)."""
    if conv.kernel_size == (1, 1):
        nn.init.constant_(conv.weight, 1.0 / conv.in_channels)
    else:
        # A k x k fusion: the mean of the n maps taken at the centre tap only.
        nn.init.zeros_(conv.weight)
        with torch.no_grad():
            conv.weight[:, :, conv.kernel_size[0] // 2, conv.kernel_size[1] // 2] = (
                1.0 / conv.in_channels
            )
    nn.init.zeros_(conv.bias)


# VGG16's convolutional part: (channels, 3x3 conv layers) per stage, conv1_1 to conv5_3.
VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg16_stages(in_channels: int, width: float, last_dilation: int = 1) -> nn.ModuleList:
    """The 13 convolutions of VGG16 (with bias, ReLU), grouped by stage; no pooling, no BN.

    Returns a ModuleList of five ModuleLists of ``conv3x3_relu`` units, so callers can tap the
    output of every layer (RCF) or of every stage (HED, DeepCrack). ``last_dilation`` dilates the
    fifth stage (RCF's atrous conv5 after a stride-1 pool4).
    """
    stages = nn.ModuleList()
    channels = in_channels
    for i, (c, n) in enumerate(VGG16_STAGES):
        out = scale_channels(c, width)
        dilation = last_dilation if i == len(VGG16_STAGES) - 1 else 1
        stages.append(
            nn.ModuleList(
                [conv3x3_relu(channels if j == 0 else out, out, dilation) for j in range(n)]
            )
        )
        channels = out
    return stages
