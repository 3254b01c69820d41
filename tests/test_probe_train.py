"""The new-user probe of `grainseg train` (issue 19): Ctrl-C, --resume, run folders, noise.

Tiny runs: four 64 x 64 pairs, 32 px patches, width 0.125, three steps per epoch.
"""

from __future__ import annotations

import csv
import json
import signal

import pytest
from test_data_helpers import make_pairs

from grainseg.cli import main
from grainseg.data import build_dataset, resolve_pair
from grainseg.train.callbacks import CsvLog
from tests.helpers.cli import one_error_line

TINY = ["--width", "0.125", "--batch", "4", "--epochs", "2", "--save-every", "1"]

# What Lightning and torch print that says nothing about the run.
NOISE = ("GPU available", "TPU available", "Tip:", "deprecated", "`Trainer.fit` stopped",
         "Detected KeyboardInterrupt", "Checkpoint directory")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe_train")
    prefixes = make_pairs(folder, n=4, shape=(64, 64))
    build_dataset([resolve_pair(p) for p in prefixes], folder / "ds", patch=32, val_frac=0.25)
    return folder / "ds"


def _epochs(run):
    with open(run / "metrics.csv", newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def _ctrl_c(monkeypatch, hook, when):
    """Ctrl-C from inside training: ``hook`` of the CSV log callback raises when ``when``."""
    def interrupt(self, trainer, *args):
        if when(trainer, *args):
            raise KeyboardInterrupt

    monkeypatch.setattr(CsvLog, hook, interrupt, raising=False)


def test_ctrl_c_in_train_is_interrupted_130_and_resume_keeps_every_epoch(dataset, tmp_path,
                                                                         capfd, monkeypatch):
    """Ctrl-C in the last batch of epoch 0 (its checkpoint would skip that epoch's end on
    resume): "interrupted", exit 130, Ctrl-C works again; --resume writes both epochs' rows."""
    run = tmp_path / "run"
    # The handler before the run (default_int_handler, or SIG_IGN in a background job) is the
    # one that must be back afterwards.
    handler_before = signal.getsignal(signal.SIGINT)

    def last_batch_of_epoch_0(trainer, module, outputs, batch, batch_idx):
        return trainer.current_epoch == 0 and batch_idx + 1 == trainer.num_training_batches

    with monkeypatch.context() as patch:
        _ctrl_c(patch, "on_train_batch_end", last_batch_of_epoch_0)
        assert main(["train", str(dataset), "--out", str(run), *TINY]) == 130
    err = capfd.readouterr().err
    assert "grainseg train: interrupted" in err
    assert signal.getsignal(signal.SIGINT) is handler_before
    assert main(["train", str(dataset), "--out", str(run), "--resume"]) == 0
    err += capfd.readouterr().err
    assert _epochs(run) == [0, 1]
    assert json.loads((run / "train_summary.json").read_text())["epochs_run"] == 2
    assert not [noise for noise in NOISE if noise in err], err


def test_a_run_stopped_before_its_first_checkpoint_starts_again(dataset, tmp_path, capfd,
                                                                monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        _ctrl_c(patch, "on_train_start", lambda trainer, module: True)
        assert main(["train", str(dataset), "--out", str(run), *TINY]) == 130
    assert (run / "config.json").is_file() and not (run / "checkpoints" / "last.ckpt").exists()
    capfd.readouterr()
    assert main(["train", str(dataset), "--out", str(run), "--resume"]) == 2
    line = one_error_line(capfd)
    assert "stopped before its first checkpoint" in line and "without --resume" in line
    assert main(["train", str(dataset), "--out", str(run), *TINY]) == 0
    assert "starting it again" in capfd.readouterr().err
    assert (run / "model.pt").is_file() and _epochs(run) == [0, 1]
