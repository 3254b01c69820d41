"""Floating-point operations of one forward pass, counted by PyTorch's FlopCounterMode."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(model: nn.Module, shape: tuple[int, int, int, int] = (1, 1, 512, 512)) -> int:
    """FLOPs of one forward pass of ``model`` on a zero tensor of ``shape`` (B, C, H, W).

    Counts matrix multiplications and convolutions (a multiply-add = 2 FLOPs), as
    `torch.utils.flop_counter.FlopCounterMode` does; element-wise operations, pooling and
    interpolation are not counted. The model runs once under ``torch.no_grad`` on the device
    of its parameters, in its current train/eval mode.
    """
    device = next(model.parameters()).device
    x = torch.zeros(shape, device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return int(counter.get_total_flops())
