"""Floating-point operations of one forward pass, counted by PyTorch's FlopCounterMode."""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_flops(model: nn.Module, shape: tuple[int, int, int, int] = (1, 1, 512, 512)) -> int:
    """FLOPs of one forward pass of ``model`` on an input of ``shape`` (B, C, H, W).

    Counts matrix multiplications and convolutions (a multiply-add = 2 FLOPs), as
    `torch.utils.flop_counter.FlopCounterMode` does; element-wise operations, pooling and
    interpolation are not counted. The pass runs on a copy of the model on PyTorch's "meta"
    device (shapes only, no arithmetic, no memory), so a 512 x 512 tile of the largest network
    is counted in about a second; ``model`` itself is not touched.
    """
    meta_model = copy.deepcopy(model).to("meta")
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        meta_model(torch.zeros(shape, device="meta"))
    return int(counter.get_total_flops())
