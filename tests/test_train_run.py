"""Training runs end to end on a tiny data set: files, resume after SIGKILL, fine-tuning,
evaluation, comparison tables and bad input. CPU only, width 0.125, 32 px patches."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.callbacks import Timer
from test_data_helpers import make_pair, make_pairs

from grainseg.cli import main
from grainseg.data import build_dataset, resolve_pair
from grainseg.io.manifest import read_manifest
from grainseg.models import load_model
from grainseg.train.callbacks import CosineDecay

TINY = ["--width", "0.125", "--batch", "4", "--epochs", "2", "--no-progress"]


def _rows(run: Path) -> list[dict]:
    with open(run / "metrics.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("train")
    prefixes = make_pairs(folder, n=4, shape=(64, 64))
    build_dataset([resolve_pair(p) for p in prefixes], folder / "ds", patch=32, val_frac=0.25)
    return folder / "ds"


@pytest.fixture(scope="module")
def full_run(dataset) -> Path:
    run = dataset.parent / "full"
    assert main(["train", str(dataset), "--out", str(run), "--arch", "unet", *TINY]) == 0
    return run


def test_run_directory_contents(full_run, dataset):
    for name in ("config.json", "versions.json", "metrics.csv", "model.pt",
                 "train_summary.json", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (full_run / name).is_file(), name
    config = json.loads((full_run / "config.json").read_text())
    assert config["config"]["arch"] == "unet" and config["config"]["pos_weight"] == 9.0
    assert config["dataset"]["path"] == str(dataset.resolve())
    assert len(config["dataset"]["dataset_json_sha256"]) == 64
    assert "torch" in json.loads((full_run / "versions.json").read_text())
    manifest = read_manifest(full_run)
    assert manifest["stage"] == "train" and manifest["inputs"] == [str(dataset.resolve())]
    assert manifest["settings"]["arch"] == "unet"
    rows = _rows(full_run)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert json.loads((full_run / "train_summary.json").read_text())["stopped_by"] == "epochs"
    assert all(float(r["val_loss"]) > 0 for r in rows)
    model, meta = load_model(full_run / "model.pt")
    assert meta["arch"] == "unet" and meta["patch"] == 32 and meta["median_px"] == 3
    assert meta["pos_weight"] == 9.0
    best = min(float(r["val_loss"]) for r in rows)
    assert meta["val_loss"] == pytest.approx(best, rel=1e-4)
    assert torch.load(full_run / "model.pt", weights_only=True)["arch"] == "unet"


def test_evaluate_writes_scores(full_run, dataset, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(full_run), str(dataset), "--json", str(out)]) == 0
    scores = json.loads(out.read_text())
    assert scores["n_patches"] == 4 and scores["split"] == "val"
    for key in ("tpr", "tnr", "precision", "recall", "dice", "ari", "boundary_f1"):
        assert scores[key] is None or 0 <= scores[key] <= 1, key  # None: undefined
    counts = scores["counts"]["pixel"]
    assert sum(counts.values()) == 4 * 32 * 32
    assert scores["recall"] == pytest.approx(counts["tp"] / (counts["tp"] + counts["fn"]))
    assert "boundary_f1" in capsys.readouterr().out


@pytest.mark.parametrize("option, value", [("--tol", "nan"), ("--tol", "-1.5"), ("--tol", "inf"),
                                           ("--threshold", "nan"), ("--batch", "0")])
def test_evaluate_bad_numbers_are_one_line_errors(full_run, dataset, tmp_path, capsys, option,
                                                  value):
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(full_run), str(dataset), "--json", str(out), option,
                 value]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{option} {value}: must be" in err
    assert not out.exists()


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import lightning as L
    from grainseg.train.config import TrainConfig
    from grainseg.train.run import train

    class Kill(L.Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 4:  # mid-epoch 1 (3 steps per epoch)
                os.kill(os.getpid(), signal.SIGKILL)

    config = TrainConfig(dataset=sys.argv[1], width=0.125, batch=4, epochs=2,
                         save_every_steps=1)
    train(config, sys.argv[2], progress=False, callbacks=[Kill()])
    """
)


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted(full_run, dataset):
    run = dataset.parent / "killed"
    proc = subprocess.run([sys.executable, "-c", KILLER, str(dataset), str(run)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert not (run / "model.pt").exists()
    assert [int(r["epoch"]) for r in _rows(run)] == [0]
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert last["global_step"] == 4
    assert main(["train", str(dataset), "--out", str(run), "--resume", "--no-progress"]) == 0
    resumed, full = _rows(run), _rows(full_run)
    assert [int(r["epoch"]) for r in resumed] == [0, 1]
    for a, b in zip(resumed, full, strict=True):
        assert int(a["step"]) == int(b["step"])
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), rel=1e-4)
    model_a, _ = load_model(run)
    model_b, _ = load_model(full_run)
    pairs = zip(model_a.state_dict().items(), model_b.state_dict().values(), strict=True)
    for (name, a), b in pairs:
        assert torch.allclose(a.float(), b.float(), atol=1e-4), name


def test_topological_fine_tuning_from_init(full_run, dataset):
    run = dataset.parent / "topo"
    args = ["train", str(dataset), "--out", str(run), "--init", str(full_run),
            "--topo-lambda", "0.04", "--topo-loss", "cldice", "--lr", "1e-5", *TINY[:4],
            "--epochs", "1", "--no-progress"]
    assert main(args) == 0
    row = _rows(run)[0]
    assert float(row["train_topo"]) > 0 and float(row["val_topo"]) > 0
    _, meta = load_model(run)
    assert meta["topo_lambda"] == 0.04 and meta["topo_loss"] == "cldice"


def test_bad_inputs_are_one_line_errors(full_run, dataset, tmp_path, capsys):
    def error(args: list[str]) -> str:
        assert main(args) == 2
        return capsys.readouterr().err

    assert "not a grainseg data set" in error(["train", str(tmp_path), "--out",
                                               str(tmp_path / "r")])
    assert "already holds a training run" in error(["train", str(dataset), "--out",
                                                    str(full_run), *TINY])
    assert "no checkpoints/last.ckpt" in error(["train", str(dataset), "--out",
                                                str(tmp_path / "r2"), "--resume"])
    assert "holds a unet model, not hed" in error(["train", str(dataset), "--out",
                                                   str(tmp_path / "r3"), "--arch", "hed",
                                                   "--init", str(full_run), *TINY])
    assert "weights do not fit unet" in error(["train", str(dataset), "--out",
                                               str(tmp_path / "r4"), "--init", str(full_run),
                                               "--width", "0.25"])
    assert not any((tmp_path / name).exists() for name in ("r", "r3", "r4"))
    assert "cannot resume with width" in error(["train", str(dataset), "--out", str(full_run),
                                                "--resume", "--width", "0.5"])
    ds_no_val = tmp_path / "ds_no_val"
    prefixes = make_pairs(tmp_path, n=1, shape=(64, 64))
    build_dataset([resolve_pair(prefixes[0])], ds_no_val, patch=32, val_frac=0)
    assert "'val' split of this data set is empty" in error(
        ["train", str(ds_no_val), "--out", str(tmp_path / "r5"), *TINY])
    assert "--pos-weight must be > 0" in error(["train", str(dataset), "--out",
                                                 str(tmp_path / "r6"), "--pos-weight", "0"])


@pytest.mark.slow
def test_compare_writes_tables_and_reuses_runs(dataset, tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", str(dataset), "--out", str(out), "--archs", "unet", "--pos-weights",
            "4,9", "--width", "0.125", "--epochs", "1", "--batch", "4"]
    assert main(args) == 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["unet_w4", "unet_w9"]
    assert read_manifest(out)["stage"] == "compare"
    assert read_manifest(out / "runs" / "unet_w4")["stage"] == "train"
    with open(out / "table3.csv", newline="") as handle:
        table3 = list(csv.DictReader(handle))
    assert [float(r["pos_weight"]) for r in table3] == [4.0, 9.0]
    assert float(table3[1]["paper_recall"]) == 0.794
    table2 = (out / "table2.md").read_text()
    assert table2.startswith("| arch | params_M |") and "| unet |" in table2
    stamp = os.stat(out / "runs" / "unet_w9" / "model.pt").st_mtime_ns
    capsys.readouterr()
    assert main(args) == 0
    assert os.stat(out / "runs" / "unet_w9" / "model.pt").st_mtime_ns == stamp
    printed = capsys.readouterr().out
    assert "| 9 |" in printed and printed.count("| unet |") == 1


def test_time_limit_stops_mid_epoch_validates_and_exports(dataset, tmp_path):
    run = tmp_path / "short"
    assert main(["train", str(dataset), "--out", str(run), "--max-time", "0.0001", *TINY]) == 0
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["steps"] == 1 and summary["epochs_run"] == 1  # of 3 steps per epoch
    assert summary["stopped_by"] == "time limit"
    assert summary["best_val_loss"] > 0
    assert (run / "checkpoints" / "last.ckpt").is_file()
    _, meta = load_model(run / "model.pt")
    assert meta["val_loss"] == pytest.approx(summary["best_val_loss"], rel=1e-4)


@pytest.mark.parametrize("option, value, message", [
    ("--lr", "inf", "--lr must be a finite number, got inf"),
    ("--lr", "nan", "--lr must be a finite number, got nan"),
    ("--lr", "-0.001", "--lr must be > 0"),
    ("--pos-weight", "inf", "--pos-weight must be a finite number, got inf"),
    ("--pos-weight", "nan", "--pos-weight must be a finite number, got nan"),
    ("--weight-decay", "inf", "--weight-decay must be a finite number, got inf"),
    ("--max-time", "inf", "--max-time must be a finite number, got inf"),
    ("--precision", "16-mixed", "--precision 16-mixed needs a CUDA GPU"),
])
def test_bad_numbers_and_precision_are_one_line_errors(dataset, tmp_path, capsys, option,
                                                       value, message):
    if option == "--precision" and torch.cuda.is_available():
        pytest.skip("16-mixed is valid where CUDA is available")
    out = tmp_path / "r"
    assert main(["train", str(dataset), "--out", str(out), *TINY, option, value]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in err
    assert not out.exists()


def test_diverged_training_stops_with_an_error_and_exports_nothing(dataset, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", str(dataset), "--out", str(out), *TINY, "--lr", "1e30"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"{out}: training diverged, train_loss is nan at epoch 0; no model exported" in err
    assert not (out / "model.pt").exists() and not (out / "train_summary.json").exists()
    assert _rows(out)[-1]["train_loss"] == "nan"


def test_cosine_schedule_decays_over_the_epochs(dataset, tmp_path):
    run = tmp_path / "cos"
    assert main(["train", str(dataset), "--out", str(run), *TINY, "--lr", "0.01",
                 "--lr-schedule", "cosine"]) == 0
    # 3 steps an epoch, 6 in all; the rate logged is the one set before the epoch's last step
    lrs = [float(r["lr"]) for r in _rows(run)]
    assert lrs == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * s / 6)) for s in (2, 5)],
                                rel=1e-2)
    assert json.loads((run / "config.json").read_text())["config"]["lr_schedule"] == "cosine"


def test_cosine_schedule_follows_the_time_budget_when_it_ends_first():
    class FixedTimer(Timer):
        def time_elapsed(self, stage="train"):
            return 45.0

    trainer = SimpleNamespace(global_step=10, estimated_stepping_batches=100,
                              callbacks=[FixedTimer()])

    def started(max_time_s):
        decay = CosineDecay(1e-3, max_time_s=max_time_s)
        decay.on_train_start(trainer, None)
        return decay

    assert started(60.0).progress(trainer) == pytest.approx(0.75)
    assert started(None).progress(trainer) == pytest.approx(0.1)
    assert started(30.0).progress(trainer) == 1.0


def test_compare_scores_a_held_out_test_set(dataset, tmp_path, capsys):
    held_out = tmp_path / "held_out"
    prefixes = make_pair(tmp_path, "other", (64, 64), seed=99)[:1]
    build_dataset([resolve_pair(p) for p in prefixes], held_out, patch=32, val_frac=0)
    out = tmp_path / "cmp"
    args = ["compare", str(dataset), "--out", str(out), "--archs", "none", "--pos-weights", "4",
            "--width", "0.125", "--epochs", "1", "--batch", "4"]
    assert main([*args, "--test", str(tmp_path / "nowhere")]) == 2
    assert "not a grainseg data set" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--test", str(held_out)]) == 0
    scores = json.loads((out / "runs" / "unet_w4" / "eval_test.json").read_text())
    assert scores["n_patches"] == 4 and scores["dataset"] == str(held_out)
    assert not (out / "runs" / "unet_w4" / "eval_val.json").exists()
    with open(out / "table3.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["dice"]) == pytest.approx(scores["dice"], abs=5e-4)
