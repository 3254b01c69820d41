"""Typed training configuration: filled by the CLI, recorded in the run directory."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from grainseg.errors import GrainsegError

PRECISIONS = ("auto", "32-true", "bf16-mixed", "16-mixed")
TOPO_LOSSES = ("hu", "cldice", "skeleton-recall")
LR_SCHEDULES = ("constant", "cosine")
SEED_MAX = 2**32 - 1  # NumPy's and Lightning's seeds are unsigned 32-bit


@dataclass
class TrainConfig:
    """Everything that decides a training run (the paper's defaults).

    Attributes
    ----------
    dataset : str
        Data set folder (`grainseg.data.build`).
    arch : str
        Architecture name for `grainseg.models.build_model`.
    width : float
        Channel multiplier (1.0 = the paper's networks).
    pos_weight : float
        BCE weight of boundary pixels (the paper: 4, 6, 9, 11).
    lr : float
        Adam learning rate (3e-4; 1e-5 for topological fine-tuning).
    lr_schedule : str
        "constant" (the paper) or "cosine": decay to 0 over ``epochs`` or ``max_time_min``,
        whichever ends first (`grainseg.train.callbacks.CosineDecay`).
    batch : int
        Patches per batch (per device under DDP).
    epochs : int
        Upper limit of epochs.
    patience : int
        Epochs without a lower validation loss before stopping.
    devices : str
        "auto" or a number of devices; more than 1 trains with DDP.
    precision : str
        "auto" (bf16-mixed on CUDA, 32-true on CPU) or a Lightning precision.
    seed : int
        Seeds weights, batch order and flips.
    dropout : float
        Spatial dropout after every convolution with more than one output channel (0 = off).
    weight_decay : float
        Adam weight decay.
    max_time_min : float or None
        Stop after this many minutes of training (the best model so far is kept).
    init : str or None
        Start from these weights (model.pt, run directory or .ckpt, or "default" for the shipped
        model) of the same architecture.
    topo_lambda : float
        Weight of the topological loss added to BCE (the paper: 0.04); 0 = BCE only.
    topo_loss : str
        "hu", "cldice" or "skeleton-recall" (`grainseg.losses.topology.build_topo_loss`).
    workers : int or None
        Data loader processes; None = 0 on CPU, 4 on CUDA.
    save_every_steps : int
        Write ``checkpoints/last.ckpt`` every this many optimiser steps (and each epoch end),
        so an interrupted run resumes mid-epoch.
    """

    dataset: str
    arch: str = "unet"
    width: float = 1.0
    pos_weight: float = 9.0
    lr: float = 3e-4
    lr_schedule: str = "constant"
    batch: int = 128
    epochs: int = 100
    patience: int = 10
    devices: str = "auto"
    precision: str = "auto"
    seed: int = 0
    dropout: float = 0.0
    weight_decay: float = 0.0
    max_time_min: float | None = None
    init: str | None = None
    topo_lambda: float = 0.0
    topo_loss: str = "hu"
    workers: int | None = None
    save_every_steps: int = 100

    def validate(self) -> TrainConfig:
        """Check value ranges; returns self. Raises GrainsegError naming the option.

        Every float option must be finite (argparse reads "inf" and "nan" as floats).
        """
        for option, value in (("--width", self.width), ("--pos-weight", self.pos_weight),
                              ("--lr", self.lr), ("--dropout", self.dropout),
                              ("--weight-decay", self.weight_decay),
                              ("--max-time", self.max_time_min),
                              ("--topo-lambda", self.topo_lambda)):
            if value is not None and not math.isfinite(value):
                raise GrainsegError(f"{option} must be a finite number, got {value}")
        checks = [
            (self.width > 0, "--width must be > 0"),
            (self.pos_weight > 0, "--pos-weight must be > 0"),
            (self.lr > 0, "--lr must be > 0"),
            (self.batch >= 1, "--batch must be >= 1"),
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.patience >= 1, "--patience must be >= 1"),
            (0 <= self.dropout < 1, "--dropout must be in [0, 1)"),
            (self.weight_decay >= 0, "--weight-decay must be >= 0"),
            (self.max_time_min is None or self.max_time_min > 0, "--max-time must be > 0"),
            (self.topo_lambda >= 0, "--topo-lambda must be >= 0"),
            (self.lr_schedule in LR_SCHEDULES, f"--lr-schedule must be one of {LR_SCHEDULES}"),
            (self.topo_loss in TOPO_LOSSES, f"--topo-loss must be one of {TOPO_LOSSES}"),
            (self.precision in PRECISIONS, f"--precision must be one of {PRECISIONS}"),
            (self.workers is None or self.workers >= 0, "--workers must be >= 0"),
            (self.save_every_steps >= 1, "--save-every must be >= 1"),
            (
                0 <= self.seed <= SEED_MAX,
                f"--seed {self.seed}: must be between 0 and {SEED_MAX}",
            ),
            (
                self.devices == "auto" or (self.devices.isdigit() and int(self.devices) >= 1),
                "--devices must be 'auto' or a positive number",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise GrainsegError(message)
        return self

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Inverse of `to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
