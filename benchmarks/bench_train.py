"""Training on synthetic specimens: a small U-Net trained on the CPU within 15 minutes, and the
class-weight trend (paper's Table 3), both scored against the exact truth of held-out specimens.

Stages (each a ``grainseg`` command, printed before it runs; finished stages are reused):

1. ``grainseg synth``: training specimens (seeds 0..) and held-out test specimens (seeds 1000..),
   512 x 512 px, 2.5 um grains at 0.05 um/px, the look measured on real images.
2. ``grainseg dataset``: ``--patch`` px patches with whole images held out for validation; the
   test specimens form two data sets never seen in training or model selection: the same
   patches, and whole images (448 px, the largest multiple of 16 above the data bar), which is
   how ``grainseg segment`` sees a micrograph (no patch edges cutting boundaries).
3. ``grainseg train`` U-Net width 0.25, boundary weight 4 (the paper's best-Dice weight), for at
   most ``--minutes`` (lr 1e-3 with cosine decay over the budget, batch 8: many steps in a short
   budget), then ``grainseg evaluate`` on both test data sets.
4. ``grainseg compare --archs none --pos-weights 4,6,9,11 --test``: U-Net (width 0.125, lr 1e-3,
   constant as in the paper) per boundary weight, ``--sweep-minutes`` each on the first
   ``--sweep-specimens`` training specimens, scored on the held-out test patches (Table 3).

Writes benchmarks/results/train.md. Run: ``.venv/bin/python benchmarks/bench_train.py``
(about 35 minutes on a 2-core CPU; run it alone, the time budgets are wall-clock).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
from pathlib import Path

import torch

from grainseg.cli import main as grainseg

ROOT = Path(__file__).resolve().parents[1]
SYNTH = ["--size", "512x512", "--grain-size-um", "2.5", "--pixel-size-um", "0.05"]
WHOLE_PX = 448
# Defaults of the data (bench_table2.py reuses the same specimens and data sets).
N_TRAIN, N_TEST, PATCH_PX, SWEEP_SPECIMENS = 200, 8, 64, 20
SCORES = ("boundary_f1", "boundary_precision", "boundary_recall", "precision", "recall", "dice",
          "ari", "width_pred_px", "width_true_px", "betti0_grains_error")


def step(args: list[str]) -> None:
    """Run one grainseg command (printed first); stop on failure."""
    print("$ grainseg " + " ".join(args), flush=True)
    code = grainseg(args)
    if code != 0:
        raise SystemExit(f"grainseg {args[0]} failed with exit code {code}")


def prefixes(folder: Path) -> list[str]:
    """Specimen prefixes (``DIR/NAME``) in ``folder``, sorted."""
    return sorted(str(p)[: -len("_sem.tif")] for p in folder.glob("*_sem.tif"))


def make_dataset(pairs: list[str], out: Path, patch: int, val_frac: float) -> None:
    if not (out / "dataset.json").is_file():
        step(["dataset", *pairs, "--patch", str(patch), "--val-frac", str(val_frac),
              "--out", str(out)])


def prepare(work: Path, n_train: int, n_test: int, patch: int, sweep_specimens: int) -> dict:
    """Specimens and data sets in ``work`` (made if missing); their paths by name."""
    data = work / "specimens"
    if not (data / "test").is_dir():
        step(["synth", str(data / "train"), "--n", str(n_train), "--seed", "0", *SYNTH])
        step(["synth", str(data / "test"), "--n", str(n_test), "--seed", "1000", *SYNTH])
    train_pairs, test_pairs = prefixes(data / "train"), prefixes(data / "test")
    paths = {name: work / name for name in ("ds", "ds_sweep", "test_patches", "test_whole")}
    make_dataset(train_pairs, paths["ds"], patch, 0.1)
    make_dataset(test_pairs, paths["test_patches"], patch, 0.0)
    make_dataset(test_pairs, paths["test_whole"], WHOLE_PX, 0.0)
    make_dataset(train_pairs[:sweep_specimens], paths["ds_sweep"], patch, 0.1)
    return paths


def scores_of(run: Path, test: Path, name: str) -> dict:
    """``grainseg evaluate`` of ``run`` on every patch of ``test`` (cached in RUN/name)."""
    out = run / name
    if not out.is_file():
        step(["evaluate", str(run), str(test), "--split", "all", "--json", str(out)])
    return json.loads(out.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "bench_out" / "train",
                        help="folder for specimens, data sets and runs")
    parser.add_argument("--n-train", type=int, default=N_TRAIN, help="training specimens")
    parser.add_argument("--n-test", type=int, default=N_TEST, help="held-out test specimens")
    parser.add_argument("--patch", type=int, default=PATCH_PX, help="training patch size, px")
    parser.add_argument("--minutes", type=float, default=15.0,
                        help="training minutes of the small U-Net")
    parser.add_argument("--sweep-minutes", type=float, default=4.0,
                        help="training minutes per class weight")
    parser.add_argument("--sweep-specimens", type=int, default=SWEEP_SPECIMENS,
                        help="training specimens of the class-weight sweep")
    args = parser.parse_args()
    work = args.work
    data = prepare(work, args.n_train, args.n_test, args.patch, args.sweep_specimens)
    ds, sweep_ds = data["ds"], data["ds_sweep"]
    test_patches, test_whole = data["test_patches"], data["test_whole"]

    weight = "4"
    run = work / f"unet025_w{weight}"
    load_before = os.getloadavg()[0]
    if not (run / "model.pt").is_file():
        step(["train", str(ds), "--out", str(run), "--arch", "unet", "--width", "0.25",
              "--batch", "8", "--lr", "1e-3", "--lr-schedule", "cosine", "--pos-weight", weight,
              "--max-time", str(args.minutes), "--epochs", "1000", "--patience", "1000",
              "--no-progress"])
    on_patches = scores_of(run, test_patches, "eval_test_patches.json")
    on_whole = scores_of(run, test_whole, "eval_test_whole.json")

    sweep = work / "sweep"
    step(["compare", str(sweep_ds), "--out", str(sweep), "--archs", "none", "--pos-weights",
          "4,6,9,11", "--width", "0.125", "--batch", "8", "--lr", "1e-3", "--max-time",
          str(args.sweep_minutes), "--test", str(test_patches)])
    with open(sweep / "table3.csv", newline="") as handle:
        table3 = list(csv.DictReader(handle))
    sweep_s = sum(float(r["train_time_s"]) for r in table3)

    summary = json.loads((run / "train_summary.json").read_text())
    counts = json.loads((ds / "dataset.json").read_text())["counts"]
    sweep_counts = json.loads((sweep_ds / "dataset.json").read_text())["counts"]
    lines = [
        "## Training: a small U-Net on the CPU in 15 minutes, and the class weights",
        "",
        "Command: `.venv/bin/python benchmarks/bench_train.py`  ",
        f"Machine: 2-core CPU ({platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; 1-min load average {load_before:.2f} before "
        "training (from this script's own data preparation; nothing else ran)  ",
        f"Date: {subprocess.run(['date'], capture_output=True, text=True).stdout.strip()}",
        "",
        f"Data: synthetic specimens (`grainseg synth {' '.join(SYNTH)}`); labels are their exact "
        f"truth boundaries. Training: {args.n_train} specimens (seeds 0+), {args.patch} px "
        f"patches, {counts['train']} train and {counts['val']} val patches (whole images held "
        f"out). Test: {args.n_test} further specimens (seeds 1000+), never used in training or "
        f"model selection, scored as {on_patches['n_patches']} patches of {args.patch} px and as "
        f"{on_whole['n_patches']} whole images ({WHOLE_PX} x {WHOLE_PX} px above the data bar). "
        "Threshold 0.5, tolerance 2 px.",
        "",
        f"### Small U-Net (width 0.25, {summary['parameters'] / 1e6:.2f} M parameters), weight "
        f"{weight}, at most {args.minutes:g} min on the CPU",
        "",
        f"Trained {summary['train_time_s'] / 60:.1f} min, {summary['epochs_run']} epochs, "
        f"{summary['steps']} steps of 8 patches (lr 1e-3, cosine decay over the budget); best "
        f"epoch {summary['best_epoch']}.",
        "",
        f"| on held-out test specimens | {args.patch} px patches | whole images |",
        "|---|---|---|",
    ]
    lines += [f"| {key} | {on_patches[key]:.3f} | {on_whole[key]:.3f} |"
              for key in SCORES if on_patches.get(key) is not None]
    lines += [
        "",
        f"### Class weight (paper's Table 3), U-Net width 0.125, {args.sweep_minutes:g} min each "
        "(batch 8, lr 1e-3 constant, early stopping with compare's patience of 10 epochs), "
        f"{args.sweep_specimens} specimens ({sweep_counts['train']} train patches), scored on "
        f"the {on_patches['n_patches']} held-out test patches",
        "",
        "| boundary weight | epochs | precision | recall | Dice | tolerance-F1 (2 px) | ARI | "
        "paper precision | paper recall | paper Dice |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['pos_weight']} | {r['epochs']} | {r['precision']} | {r['recall']} | {r['dice']} "
        f"| {r['boundary_f1']} | {r['ari']} | {r['paper_precision']} | {r['paper_recall']} "
        f"| {r['paper_dice']} |"
        for r in table3
    ]
    lines += ["", f"Sweep training time {sweep_s / 60:.1f} min in all."]
    text = "\n".join(lines) + "\n"
    out = ROOT / "benchmarks" / "results" / "train.md"
    out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
