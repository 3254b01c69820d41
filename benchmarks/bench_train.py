"""Training on synthetic specimens: the class-weight trend (paper's Table 3) and a small U-Net
trained on the CPU within 15 minutes, scored against the exact truth of held-out specimens.

Stages (each a ``grainseg`` command, printed before it runs; finished stages are reused):

1. ``grainseg synth``: training specimens (seeds 0..) and held-out test specimens (seeds 1000..),
   512 x 512 px, 2.5 um grains at 0.05 um/px, the look measured on real images.
2. ``grainseg dataset``: 64 px patches, whole images held out for validation; the test
   specimens form their own data set (all patches, never seen in training or early stopping).
3. ``grainseg train`` U-Net width 0.25, boundary weight 4 (the paper's best-Dice weight, and
   thinner predicted lines), for at most 15 minutes (lr 1e-3, batch 8: many steps in a short
   budget) on all training specimens (whole images held out for validation), then
   ``grainseg evaluate`` on the test data set.
4. ``grainseg compare --archs none --pos-weights 4,6,9,11``: U-Net (width 0.125, lr 1e-3) per
   boundary weight, a few minutes each on a smaller data set (the first 4 training specimens,
   so that several epochs fit), scored on its validation image (Table 3).

Writes benchmarks/results/train.md. Run: ``.venv/bin/python benchmarks/bench_train.py``
(about 35 minutes on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

from grainseg.cli import main as grainseg

ROOT = Path(__file__).resolve().parents[1]
SYNTH = ["--size", "512x512", "--grain-size-um", "2.5", "--pixel-size-um", "0.05"]


def step(args: list[str]) -> None:
    """Run one grainseg command (printed first); stop on failure."""
    print("$ grainseg " + " ".join(args), flush=True)
    code = grainseg(args)
    if code != 0:
        raise SystemExit(f"grainseg {args[0]} failed with exit code {code}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "bench_out" / "train",
                        help="folder for specimens, data sets and runs")
    parser.add_argument("--n-train", type=int, default=20, help="training specimens")
    parser.add_argument("--n-test", type=int, default=4, help="held-out test specimens")
    parser.add_argument("--sweep-minutes", type=float, default=4.0,
                        help="training minutes per class weight")
    parser.add_argument("--minutes", type=float, default=15.0,
                        help="training minutes of the small U-Net")
    args = parser.parse_args()
    work = args.work
    data, ds, test = work / "specimens", work / "ds", work / "test_ds"
    small = work / "ds_small"

    if not (ds / "dataset.json").is_file():
        step(["synth", str(data / "train"), "--n", str(args.n_train), "--seed", "0", *SYNTH])
        step(["synth", str(data / "test"), "--n", str(args.n_test), "--seed", "1000", *SYNTH])
        train_pairs = sorted(str(p)[: -len("_sem.tif")] for p in (data / "train").glob("*_sem.tif"))
        test_pairs = sorted(str(p)[: -len("_sem.tif")] for p in (data / "test").glob("*_sem.tif"))
        step(["dataset", *train_pairs, "--patch", "64", "--val-frac", "0.15", "--out", str(ds)])
        step(["dataset", *test_pairs, "--patch", "64", "--val-frac", "0", "--out", str(test)])
    first = sorted(str(p)[: -len("_sem.tif")] for p in (data / "train").glob("*_sem.tif"))
    if not (small / "dataset.json").is_file():
        step(["dataset", *first[:4], "--patch", "64", "--val-frac", "0.250", "--out", str(small)])

    best_w = "4"
    run = work / f"unet025_w{best_w}"
    if not (run / "model.pt").is_file():
        step(["train", str(ds), "--out", str(run), "--arch", "unet", "--width", "0.25",
              "--batch", "8", "--lr", "1e-3", "--pos-weight", best_w,
              "--max-time", str(args.minutes),
              "--epochs", "1000", "--patience", "1000", "--no-progress"])
    scores_file = work / "test_scores.json"
    step(["evaluate", str(run), str(test), "--split", "all", "--json", str(scores_file)])
    scores = json.loads(scores_file.read_text())

    sweep = work / "sweep"
    t0 = time.monotonic()
    step(["compare", str(small), "--out", str(sweep), "--archs", "none", "--pos-weights",
          "4,6,9,11", "--width", "0.125", "--batch", "8", "--lr", "1e-3", "--max-time",
          str(args.sweep_minutes)])
    sweep_s = time.monotonic() - t0
    with open(sweep / "table3.csv", newline="") as handle:
        table3 = list(csv.DictReader(handle))

    summary = json.loads((run / "train_summary.json").read_text())
    dataset = json.loads((ds / "dataset.json").read_text())

    lines = [
        "## Training: class weights and a small U-Net on the CPU",
        "",
        "Command: `.venv/bin/python benchmarks/bench_train.py`  ",
        f"Machine: 2-core CPU ({platform.machine()}), shared with other jobs, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads  ",
        f"Date: {subprocess.run(['date'], capture_output=True, text=True).stdout.strip()}",
        "",
        f"Data: synthetic specimens (`grainseg synth {' '.join(SYNTH)}`), 64 px patches; the "
        f"U-Net below used {dataset['counts']['train']} train and {dataset['counts']['val']} "
        f"val patches ({args.n_train} specimens, whole images); test: {args.n_test} further specimens "
        "(seeds 1000+), all "
        f"{scores['n_patches']} patches, never used in training or model selection. Labels are "
        "the exact truth boundaries.",
        "",
        f"### Class weight (paper's Table 3), U-Net width 0.125, {args.sweep_minutes:g} min each "
        "(batch 8, lr 1e-3), trained on 3 specimens, scored on a 4th",
        "",
        "| boundary weight | epochs | precision | recall | Dice | tolerance-F1 (2 px) | ARI | "
        "paper precision | paper recall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['pos_weight']} | {r['epochs']} | {r['precision']} | {r['recall']} | {r['dice']} "
        f"| {r['boundary_f1']} | {r['ari']} | {r['paper_precision']} | {r['paper_recall']} |"
        for r in table3
    ]
    lines += [
        "",
        f"Sweep wall time {sweep_s / 60:.1f} min (shared CPU).",
        "",
        f"### Small U-Net (width 0.25, {summary['parameters'] / 1e6:.2f} M parameters), weight "
        f"{best_w}, at most {args.minutes:g} min on the CPU",
        "",
        f"Trained {summary['train_time_s'] / 60:.1f} min, {summary['epochs_run']} epochs, "
        f"{summary['steps']} steps of 8 patches (lr 1e-3); best epoch {summary['best_epoch']}.",
        "",
        "| on held-out test specimens | value |",
        "|---|---|",
    ]
    for key in ("boundary_f1", "boundary_precision", "boundary_recall", "precision", "recall",
                "dice", "ari", "width_pred_px", "width_true_px", "betti0_grains_error"):
        if key in scores:
            lines.append(f"| {key} | {scores[key]:.3f} |")
    text = "\n".join(lines) + "\n"
    out = ROOT / "benchmarks" / "results" / "train.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
