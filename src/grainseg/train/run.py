"""A training run directory, start to finish.

``RUN/`` holds ``config.json`` (the `TrainConfig`, the data set path and hash),
``versions.json``, ``checkpoints/best.ckpt`` (lowest validation loss), ``checkpoints/last.ckpt``
(for ``--resume``), ``metrics.csv`` (one row per epoch), ``model.pt`` (the best network,
exported with `grainseg.models.save_model`) and ``train_summary.json`` (time, epochs, best loss,
parameter count).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import platform
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.plugins import TorchCheckpointIO
from torch.utils.data import DataLoader

from grainseg import __version__, layout
from grainseg.data.dataset import EpochSampler, PatchDataset, ResumableLoader, open_dataset
from grainseg.errors import GrainsegError, ParameterError, input_error
from grainseg.io.atomic import USER_ERRNOS, check_output_dir, ensure_output_dir, write_json_atomic
from grainseg.io.manifest import write_manifest
from grainseg.io.owner import claim_folder
from grainseg.models import (
    count_parameters,
    default_model_path,
    load_model,
    read_torch_file,
    save_model,
)
from grainseg.progress import bars_shown
from grainseg.train.callbacks import (
    CosineDecay,
    CsvLog,
    FiniteLoss,
    LastCheckpoint,
    read_metrics_csv,
)
from grainseg.train.config import TrainConfig
from grainseg.train.module import BoundaryModule

# Options that define the network or its data: a resumed run must keep them.
_FIXED_ON_RESUME = ("dataset", "arch", "width", "seed")


class PatchDataModule(L.LightningDataModule):
    """Train (shuffled, flipped) and val (in order) loaders over a data set, DDP-aware."""

    def __init__(self, config: TrainConfig) -> None:
        super().__init__()
        self.config = config
        self.train_set = PatchDataset(config.dataset, "train")
        self.val_set = PatchDataset(config.dataset, "val")
        if config.workers is not None:
            self.workers = config.workers
        else:
            self.workers = 4 if torch.cuda.is_available() else 0

    def _loader(self, dataset: PatchDataset, train: bool) -> DataLoader:
        sampler = EpochSampler(
            dataset.positions.size,
            seed=self.config.seed,
            shuffle=train,
            flips=train,
            rank=self.trainer.global_rank,
            world_size=self.trainer.world_size,
        )
        options = dict(
            batch_size=self.config.batch,
            sampler=sampler,
            num_workers=self.workers,
            persistent_workers=self.workers > 0,
            pin_memory=torch.cuda.is_available(),
        )
        if not train:
            return DataLoader(dataset, **options)
        progress = self.trainer.fit_loop.epoch_loop.batch_progress.current
        return ResumableLoader(dataset, batches_done=lambda: progress.processed, **options)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def versions() -> dict:
    """Versions of Python, the libraries and the accelerator a run used."""
    import lightning
    import scipy
    import skimage

    return {
        "grainseg": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-image": skimage.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
    }


def _init_model(config: TrainConfig, explicit: set[str] | None) -> torch.nn.Module:
    """The network ``config.init`` names (``"default"``: the shipped model); fills in
    ``config.arch`` / ``config.width`` from it unless they were given explicitly."""
    if config.init == "default":
        config.init = str(default_model_path())
    if explicit is None:
        return load_model(config.init, expect_arch=config.arch)[0]
    start, _ = load_model(config.init)
    if "arch" not in explicit:
        config.arch = start.arch
    if "width" not in explicit:
        config.width = float(start.width)
    if start.arch != config.arch:
        raise input_error(config.init, f"holds a {start.arch} model, not {config.arch}")
    return start


def _resumed_config(run: Path, given: TrainConfig, explicit: set[str]) -> TrainConfig:
    """The stored config of ``run``, with the explicitly given options that may change."""
    try:
        stored = TrainConfig.from_dict(json.loads((run / "config.json").read_text())["config"])
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        raise input_error(run / "config.json", "missing or unreadable; cannot resume") from None
    for name in explicit:
        value = getattr(given, name)
        if name in _FIXED_ON_RESUME:
            if name == "dataset":
                value = str(Path(value).resolve())
            if value != getattr(stored, name):
                raise GrainsegError(
                    f"{run}: was trained with {name}={getattr(stored, name)!r}; cannot resume "
                    f"with {name}={value!r}"
                )
        else:
            setattr(stored, name, value)
    return stored


def _check_checkpoint(path: Path) -> None:
    """GrainsegError naming ``path`` unless it is a Lightning checkpoint of plain data.

    Read once more by ``trainer.fit`` (through `SafeCheckpointIO`); checked here first so that a
    damaged or crafted file is refused before anything is written.
    """
    checkpoint = read_torch_file(path)
    if not isinstance(checkpoint, dict) or not {"state_dict", "epoch"} <= checkpoint.keys():
        raise input_error(path, "not a Lightning checkpoint of a training run; cannot resume")


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint reader and writer for a run: reads through `read_torch_file` (no
    code runs), and a write that fails for lack of space (or permission) stops training with one
    line saying which checkpoint is kept.

    Parameters
    ----------
    last : Path
        The run's ``checkpoints/last.ckpt``, always complete (written by `LastCheckpoint`
        through a temporary file and a rename).
    """

    def __init__(self, last: Path) -> None:
        super().__init__()
        self.last = last

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return read_torch_file(path, map_location if map_location is not None else "cpu")

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        try:
            super().save_checkpoint(checkpoint, path, storage_options)
        except OSError as exc:
            if exc.errno not in USER_ERRNOS:
                raise
            kept = (
                f"{self.last} holds the last complete checkpoint: free space, then continue "
                "with --resume"
                if self.last.is_file()
                else "no checkpoint was complete yet: free space and start again"
            )
            raise GrainsegError(
                f"{path}: cannot write checkpoint ({exc.strerror}); training stopped; {kept}"
            ) from None


def _trainer_options(config: TrainConfig) -> dict:
    """Lightning Trainer accelerator, devices, strategy and precision of ``config``.

    Raises GrainsegError for a precision this machine cannot train with, or more devices than
    it has (CUDA GPUs, or CPU cores for DDP on the CPU).
    """
    cuda = torch.cuda.is_available()
    precision = config.precision
    if precision == "16-mixed" and not cuda:
        raise ParameterError(
            "precision", "16-mixed needs a CUDA GPU and none is available; use 32-true or "
            "bf16-mixed on the CPU"
        )
    if precision == "auto":
        precision = "bf16-mixed" if cuda and torch.cuda.is_bf16_supported() else "32-true"
    devices = config.devices if config.devices == "auto" else int(config.devices)
    if devices != "auto":
        # Lightning waits forever for processes that cannot start: refuse before any work.
        available = torch.cuda.device_count() if cuda else os.cpu_count() or 1
        if devices > available:
            what = f"{available} CUDA GPU(s)" if cuda else f"{available} CPU cores and no CUDA GPU"
            raise ParameterError("devices", f"{devices}: this machine has {what}")
    many = isinstance(devices, int) and devices > 1
    return {
        "accelerator": "auto",
        "devices": devices,
        "strategy": "ddp" if many else "auto",
        "precision": precision,
    }


def _stop_reason(trainer: L.Trainer, early: EarlyStopping, config: TrainConfig,
                 epochs_run: int) -> str:
    """Why training ended: "epochs", "early stopping", "time limit" or "interrupted"."""
    if early.stopped_epoch > 0:
        return "early stopping"
    if epochs_run >= config.epochs:
        return "epochs"
    return "time limit" if trainer.should_stop and config.max_time_min else "interrupted"


def export_best(run: Path, config: TrainConfig, info: dict) -> Path:
    """Write ``RUN/model.pt`` from ``checkpoints/best.ckpt`` (or last.ckpt if no best)."""
    ckpt_dir = run / "checkpoints"
    source = ckpt_dir / "best.ckpt"
    if not source.is_file():
        source = ckpt_dir / "last.ckpt"
    model, _ = load_model(source, expect_arch=config.arch)
    checkpoint = read_torch_file(source)
    best = checkpoint.get("callbacks", {})
    score = next(
        (v.get("best_model_score") for k, v in best.items() if k.startswith("ModelCheckpoint")),
        None,
    )
    meta = {
        "arch": config.arch,
        "width": config.width,
        "median_px": int(info.get("median_px", 3)),
        "patch": int(info["patch_px"]),
        "pos_weight": float(config.pos_weight),
        "topo_lambda": float(config.topo_lambda),
        "topo_loss": config.topo_loss if config.topo_lambda > 0 else None,
        "epoch": int(checkpoint.get("epoch", -1)),
        "val_loss": float(score) if score is not None else None,
        "dataset": str(Path(config.dataset).resolve()),
        "threshold": 0.5,
        "grainseg_version": __version__,
    }
    return save_model(run / "model.pt", model, meta)


class _SeesInterrupt(L.Callback):
    """Records that ``trainer.fit`` ended by Ctrl-C (Lightning reports it as ``exit(1)``)."""

    seen = False

    def on_exception(self, trainer, pl_module, exception) -> None:
        self.seen = self.seen or isinstance(exception, KeyboardInterrupt)


@contextlib.contextmanager
def _lightning_quiet() -> Iterator[None]:
    """Lightning's notices (accelerator lines, install tips, "`Trainer.fit` stopped") and the
    deprecation warnings of Lightning's and torch's internals, which a user can do nothing about,
    are kept off the screen; Lightning's warnings about the run itself still show."""
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for category in (DeprecationWarning, FutureWarning):
                warnings.filterwarnings("ignore", category=category,
                                        module=r"(lightning|torch)(\.|$)")
            # --resume writes into the run's own checkpoint folder, as it should
            warnings.filterwarnings("ignore", "Checkpoint directory .* exists and is not empty")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def train(
    config: TrainConfig,
    out: str | os.PathLike,
    resume: bool = False,
    explicit: set[str] | None = None,
    callbacks: list[L.Callback] | None = None,
    progress: bool = True,
) -> dict:
    """Train a network on a data set into the run directory ``out``.

    Parameters
    ----------
    config : TrainConfig
        What to train (validated here).
    out : path
        Run directory; must not hold a run unless ``resume``.
    resume : bool
        Continue from ``out/checkpoints/last.ckpt`` with the stored config; options named in
        ``explicit`` override it (epochs, patience, max time, workers...), except the data set,
        architecture, width and seed, which must match.
    explicit : set of str or None
        Config fields the user set explicitly. With ``resume``: the options that may change.
        With ``config.init``: architecture and width not in it are taken from the init model
        (None: they must match the config).
    callbacks : list of lightning Callback
        Extra callbacks (tests use one to kill the process mid-epoch).
    progress : bool
        Show Lightning's progress bar (on a terminal only, see `grainseg.progress`).

    Returns
    -------
    dict
        The content of ``train_summary.json``.
    """
    run = Path(out)
    ckpt_dir = run / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    started_only = (run / "config.json").is_file() and not any(
        p.exists() for p in (last, ckpt_dir / "best.ckpt", run / "model.pt"))
    if resume:
        if started_only:
            raise input_error(run, "the run there stopped before its first checkpoint: nothing "
                              "to resume; give the same command without --resume to start it "
                              "again there")
        if not last.is_file():
            raise input_error(run, "no checkpoints/last.ckpt to resume from")
        config = _resumed_config(run, config, explicit or set())
        _check_checkpoint(last)
    elif last.exists():
        raise input_error(run, "already holds a training run; continue it with --resume or "
                          "choose another --out")
    elif (run / "config.json").exists() and not started_only:
        raise input_error(run, "already holds a trained run (no checkpoints/last.ckpt to "
                          "resume from); choose another --out")
    else:
        if started_only:  # nothing of it to keep: its files are written afresh
            print(f"note: {run}: the run there stopped before its first checkpoint; starting "
                  "it again", file=sys.stderr)
        check_output_dir(run)
        claim_folder(run, "train", foreign_files=False)
    config.validate()
    trainer_options = _trainer_options(config)  # before anything is written
    config.dataset = str(Path(config.dataset).resolve())
    dataset = open_dataset(config.dataset)
    dataset.indices("train")
    dataset.indices("val")
    info = dataset.info
    if resume:
        recorded = json.loads((run / "config.json").read_text())["dataset"]["dataset_json_sha256"]
        if file_sha256(Path(config.dataset) / "dataset.json") != recorded:
            raise input_error(config.dataset, f"data set changed since {run} was started")
    start = None
    if config.init and not resume:
        start = _init_model(config, explicit)

    L.seed_everything(config.seed, workers=True, verbose=False)
    module = BoundaryModule(
        arch=config.arch,
        width=config.width,
        pos_weight=config.pos_weight,
        lr=config.lr,
        weight_decay=config.weight_decay,
        dropout=config.dropout,
        topo_lambda=config.topo_lambda,
        topo_loss=config.topo_loss,
        median_px=int(info["median_px"]),
        patch=int(info["patch_px"]),
        seed=config.seed,
    )
    if start is not None:
        try:
            module.model.load_state_dict(start.state_dict())
        except RuntimeError:
            raise input_error(
                config.init, f"weights do not fit {config.arch} at width {config.width:g}"
            ) from None

    ensure_output_dir(ckpt_dir)
    if not resume:
        write_json_atomic(
            run / "config.json",
            {
                "config": config.to_dict(),
                "dataset": {
                    "path": str(Path(config.dataset).resolve()),
                    "dataset_json_sha256": file_sha256(Path(config.dataset) / "dataset.json"),
                    "patch_px": info["patch_px"],
                    "median_px": info["median_px"],
                    "split": info["split"],
                    "counts": info["counts"],
                },
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
        )
    write_json_atomic(run / layout.TRAIN_VERSIONS, versions())
    write_manifest(run, "train", [config.dataset, *([config.init] if config.init else [])],
                   config.to_dict())

    best = ModelCheckpoint(
        dirpath=ckpt_dir,
        filename="best",
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        save_last=False,
        enable_version_counter=False,
        auto_insert_metric_name=False,
    )
    early = EarlyStopping(monitor="val_loss", mode="min", patience=config.patience)
    all_callbacks = [
        best,
        early,
        LastCheckpoint(last, config.save_every_steps),
        CsvLog(run / "metrics.csv"),
        FiniteLoss(run),
        *(callbacks or []),
    ]
    if config.lr_schedule == "cosine":
        max_time_s = config.max_time_min * 60 if config.max_time_min else None
        all_callbacks.append(CosineDecay(config.lr, max_time_s))
    progress = progress and bars_shown()
    if progress:
        all_callbacks.append(TQDMProgressBar())
    interrupt = _SeesInterrupt()
    with _lightning_quiet():
        trainer = L.Trainer(
            **trainer_options,
            max_epochs=config.epochs,
            max_time=timedelta(minutes=config.max_time_min) if config.max_time_min else None,
            callbacks=[*all_callbacks, interrupt],
            plugins=[SafeCheckpointIO(last)],
            logger=False,
            enable_checkpointing=True,
            enable_progress_bar=progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            use_distributed_sampler=False,
            default_root_dir=run,
        )
        started = time.monotonic()
        sigint = signal.getsignal(signal.SIGINT)
        try:
            trainer.fit(module, datamodule=PatchDataModule(config),
                        ckpt_path=last if resume else None)
        except SystemExit:
            if interrupt.seen:  # Lightning turns Ctrl-C into exit(1); grainseg says so, 130
                raise KeyboardInterrupt from None
            raise
        finally:
            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, sigint)  # Lightning ignores Ctrl-C from then on
    session_s = time.monotonic() - started
    if not trainer.is_global_zero:
        return {}
    export_best(run, config, info)
    rows = read_metrics_csv(run / "metrics.csv") if (run / "metrics.csv").is_file() else []
    val_losses = [r["val_loss"] for r in rows]
    best_row = int(np.nanargmin(val_losses)) if rows and not np.all(np.isnan(val_losses)) else None
    summary = {
        "arch": config.arch,
        "width": config.width,
        "pos_weight": config.pos_weight,
        "parameters": count_parameters(module.model),
        "epochs_run": len(rows),
        "steps": int(trainer.global_step),
        "train_time_s": float(sum(r["epoch_time_s"] for r in rows)),
        "last_session_s": session_s,
        "best_epoch": int(rows[best_row]["epoch"]) if best_row is not None else None,
        "best_val_loss": float(val_losses[best_row]) if best_row is not None else None,
        "stopped_by": _stop_reason(trainer, early, config, len(rows)),
    }
    write_json_atomic(run / "train_summary.json", summary)
    return summary
