"""The architectures by name: `build_model`, `ARCHITECTURES`, the paper's parameter counts."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from grainseg.errors import GrainsegError
from grainseg.models.deepcrack import DeepCrack
from grainseg.models.defectsegnet import DefectSegNet
from grainseg.models.hed import HED
from grainseg.models.rcf import RCF
from grainseg.models.unet import UNet

# Name -> class.
ARCHITECTURES: dict[str, type[nn.Module]] = {
    "unet": UNet,
    "defectsegnet": DefectSegNet,
    "hed": HED,
    "rcf": RCF,
    "deepcrack": DeepCrack,
}

# Parameter counts (millions) the paper reports for one input and one output channel.
PAPER_PARAMETERS_M = {
    "unet": 17.26,
    "defectsegnet": 0.35,
    "hed": 14.72,
    "rcf": 14.803,
    "deepcrack": 30.903,
}

# Input sides that are multiples of this need no internal padding in any architecture.
SIZE_MULTIPLE = 32


def build_model(
    name: str, in_channels: int = 1, width: float = 1.0, *, seed: int | None = None
) -> nn.Module:
    """Build an untrained network by name.

    Parameters
    ----------
    name : str
        One of `ARCHITECTURES`: ``unet``, ``defectsegnet``, ``hed``, ``rcf``, ``deepcrack``.
    in_channels : int
        Input channels (1 for a preprocessed SEM micrograph).
    width : float
        Multiplier of every channel count; 1.0 is the paper's network, 0.25 trains on a CPU.
    seed : int or None
        Seed of the weight initialisation; None draws from torch's global generator. With a seed
        the global generator is left as it was.

    Returns
    -------
    nn.Module
        With attributes ``arch``, ``in_channels``, ``width`` and ``size_multiple``.

    Raises
    ------
    GrainsegError
        For an unknown name (the message lists the valid ones) or a bad ``in_channels``/``width``.
    """
    try:
        cls = ARCHITECTURES[name]
    except (KeyError, TypeError):
        valid = ", ".join(ARCHITECTURES)
        raise GrainsegError(f"unknown architecture {name!r}; choose one of: {valid}") from None
    rng = contextlib.nullcontext() if seed is None else torch.random.fork_rng(devices=[])
    with rng:
        if seed is not None:
            torch.manual_seed(seed)
        return cls(in_channels=in_channels, width=width)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (batch-norm running statistics not included)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
