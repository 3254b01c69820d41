"""Callbacks of a training run: resumable last checkpoint and the per-epoch CSV log."""

from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Timer

from grainseg.errors import GrainsegError
from grainseg.io.atomic import write_text_atomic


class LastCheckpoint(L.Callback):
    """Write ``last.ckpt`` atomically every ``every_steps`` optimiser steps, at each epoch end
    and at the end of training if none was written yet.

    Lightning's own ``ModelCheckpoint`` writes in place, so a kill during the write would leave a
    broken file; here the checkpoint goes to a temporary name and is renamed. The epoch-end save
    runs in ``on_train_epoch_end``, after validation, best-checkpoint and early-stopping updates,
    so their state is in the file.
    """

    def __init__(self, path: str | os.PathLike, every_steps: int) -> None:
        self.path = Path(path)
        self.every_steps = every_steps

    def _save(self, trainer: L.Trainer) -> None:
        tmp = self.path.with_name(f".{self.path.name}.part")
        try:
            trainer.save_checkpoint(tmp, weights_only=False)  # full state, for --resume
        except BaseException:
            tmp.unlink(missing_ok=True)  # the previous last.ckpt stays complete
            raise
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
        trainer.strategy.barrier()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        # Not after an epoch's last batch: resumed from there, Lightning would skip that
        # epoch's validation and end (its metrics.csv row); the epoch-end save follows.
        if (trainer.global_step % self.every_steps == 0
                and batch_idx + 1 < trainer.num_training_batches):
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        # A time limit can stop training mid-epoch, before any other checkpoint was written.
        if not self.path.is_file():
            self._save(trainer)


class CsvLog(L.Callback):
    """One row per epoch in ``metrics.csv``: losses, validation scores, learning rate, time.

    The file is rewritten atomically each epoch. On resume, rows of epochs at or after the
    resumed epoch (written before the interruption but not covered by the checkpoint) are
    dropped.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.rows: list[dict] = []
        self._epoch_start = 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self._epoch_start = time.monotonic()  # a mid-epoch resume skips on_train_epoch_start
        if self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as handle:
                self.rows = [
                    row for row in csv.DictReader(handle) if int(row["epoch"]) < trainer.current_epoch
                ]

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_start = time.monotonic()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        for key in ("train_loss_epoch", "val_loss", "val_precision", "val_recall", "val_dice",
                    "train_bce", "train_topo", "val_bce", "val_topo"):
            value = trainer.callback_metrics.get(key)
            row[key.removesuffix("_epoch")] = "" if value is None else f"{float(value):.6g}"
        row["lr"] = f"{trainer.optimizers[0].param_groups[0]['lr']:.3g}"
        row["epoch_time_s"] = f"{time.monotonic() - self._epoch_start:.2f}"
        self.rows.append(row)
        columns = list(dict.fromkeys(k for r in self.rows for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomic(self.path, buffer.getvalue())


class CosineDecay(L.Callback):
    """Cosine learning-rate decay from the configured rate to 0 over the run's budget.

    The budget is ``--epochs`` (Lightning's ``estimated_stepping_batches``) or ``--max-time``,
    whichever runs out first: progress is the larger of the step fraction and the time fraction
    (the time Lightning's ``Timer`` has counted, which a checkpoint keeps), so a time-limited run
    ends at a low rate instead of being cut off at full rate. Set before every optimiser step.
    """

    def __init__(self, lr: float, max_time_s: float | None) -> None:
        self.lr = lr
        self.max_time_s = max_time_s
        self._timer: Timer | None = None

    def on_train_start(self, trainer, pl_module) -> None:
        self._timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)

    def progress(self, trainer: L.Trainer) -> float:
        """Fraction of the budget used, in [0, 1]."""
        done = trainer.global_step / max(1.0, float(trainer.estimated_stepping_batches))
        if self.max_time_s and self._timer is not None:
            done = max(done, self._timer.time_elapsed("train") / self.max_time_s)
        return min(1.0, done)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        lr = 0.5 * self.lr * (1.0 + math.cos(math.pi * self.progress(trainer)))
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr


class FiniteLoss(L.Callback):
    """Stop a diverged training: GrainsegError when an epoch's train or val loss is not finite.

    Checked once per epoch on the epoch means (a NaN or infinity in any step makes the mean
    non-finite), so no step waits on the device. Put it after `CsvLog`, so the bad epoch is in
    ``metrics.csv``. The exception ends ``trainer.fit``: no model is exported.
    """

    def __init__(self, run: str | os.PathLike) -> None:
        self.run = Path(run)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        for key in ("train_loss_epoch", "val_loss"):
            value = trainer.callback_metrics.get(key)
            if value is not None and not math.isfinite(float(value)):
                lr = trainer.optimizers[0].param_groups[0]["lr"]
                raise GrainsegError(
                    f"{self.run}: training diverged, {key.removesuffix('_epoch')} is "
                    f"{float(value)} at epoch {trainer.current_epoch}; no model exported (try a "
                    f"lower --lr than {lr:g} or a lower --pos-weight)"
                )


def read_metrics_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a run's ``metrics.csv`` with numbers as floats (NaN for empty cells)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [
            {k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
            for row in csv.DictReader(handle)
        ]
