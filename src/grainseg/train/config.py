"""Typed training configuration: filled by the CLI, recorded in the run directory."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from grainseg.errors import ParameterError

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
        """Check value ranges; returns self.

        Every float must be finite (argparse reads "inf" and "nan" as floats).

        Raises
        ------
        ParameterError
            Naming the field: ``"width must be > 0"`` (the CLI shows ``--width``).
        """
        for name in ("width", "pos_weight", "lr", "dropout", "weight_decay", "max_time_min",
                     "topo_lambda"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ParameterError(name, f"must be a finite number, got {value}")
        checks = [
            ("width", self.width > 0, "must be > 0"),
            ("pos_weight", self.pos_weight > 0, "must be > 0"),
            ("lr", self.lr > 0, "must be > 0"),
            ("batch", self.batch >= 1, "must be >= 1"),
            ("epochs", self.epochs >= 1, "must be >= 1"),
            ("patience", self.patience >= 1, "must be >= 1"),
            ("dropout", 0 <= self.dropout < 1, "must be in [0, 1)"),
            ("weight_decay", self.weight_decay >= 0, "must be >= 0"),
            ("max_time_min", self.max_time_min is None or self.max_time_min > 0, "must be > 0"),
            ("topo_lambda", self.topo_lambda >= 0, "must be >= 0"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, f"must be one of {LR_SCHEDULES}"),
            ("topo_loss", self.topo_loss in TOPO_LOSSES, f"must be one of {TOPO_LOSSES}"),
            ("precision", self.precision in PRECISIONS, f"must be one of {PRECISIONS}"),
            ("workers", self.workers is None or self.workers >= 0, "must be >= 0"),
            ("save_every_steps", self.save_every_steps >= 1, "must be >= 1"),
            ("seed", 0 <= self.seed <= SEED_MAX, f"{self.seed}: must be between 0 and {SEED_MAX}"),
            ("devices",
             self.devices == "auto" or (self.devices.isdigit() and int(self.devices) >= 1),
             "must be 'auto' or a positive number"),
        ]
        for name, ok, problem in checks:
            if not ok:
                raise ParameterError(name, problem)
        return self

    def to_dict(self) -> dict:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """Inverse of `to_dict`; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
