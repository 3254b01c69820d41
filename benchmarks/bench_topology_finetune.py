"""Topological fine-tuning on held-out synthetic images: the same model before and after.

Runs the paper's two-stage recipe with the grainseg CLI, small enough for a CPU:

1. ``grainseg synth``: 10 specimens of 512 x 512 px (grain size 3 um = 60 px, twins);
2. ``grainseg dataset``: 128 px patches, split by image (8 train, 2 held out);
3. ``grainseg train``: U-Net width 0.25, weighted BCE (the "before" model);
4. ``grainseg train --init BEFORE --topo-lambda 0.04 --topo-loss hu --lr 1e-5``: the fine-tune;
5. the same continuation with ``--topo-lambda 0`` (BCE only, same learning rate and epochs): the
   control that separates the effect of the topological term from that of more training;
6. ``grainseg evaluate`` of each on the held-out split (Dice, ARI, Betti errors, tolerance F1).

Finished steps are reused (their output folder exists), so an interrupted run continues.
Writes benchmarks/results/topology_finetune.md.

Run: ``.venv/bin/python benchmarks/bench_topology_finetune.py --work /tmp/topo_ft``.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRAINSEG = str(Path(sys.executable).parent / "grainseg")

SCORES = [
    ("dice", "Dice"),
    ("precision", "precision"),
    ("recall", "recall"),
    ("ari", "ARI"),
    ("boundary_f1", "F1 (2 px)"),
    ("betti0_grains_error", "Betti grains err"),
    ("betti_fragments_error", "Betti fragments err"),
    ("betti0_grains_error_per_window", "grains err / 64 px window"),
]


def _train_seconds(run_dir: Path) -> float:
    """Training time of a run: the sum of the epoch times in its metrics.csv."""
    with open(run_dir / "metrics.csv", newline="") as handle:
        return sum(float(row["epoch_time_s"] or 0) for row in csv.DictReader(handle))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/topo_ft"))
    parser.add_argument("--bce-minutes", type=float, default=15)
    parser.add_argument("--finetune-epochs", type=int, default=8)
    parser.add_argument("--finetune-lr", type=float, default=1e-5)
    parser.add_argument("--tag", default="", help="suffix of the fine-tune run folders")
    args = parser.parse_args()

    from grainseg.io.atomic import write_text_atomic

    work, ds = args.work, args.work / "ds"
    common = ["--arch", "unet", "--width", "0.25", "--batch", "16", "--seed", "0", "--no-progress"]
    finetune = [
        "--init",
        str(work / "run_bce"),
        "--lr",
        str(args.finetune_lr),
        "--epochs",
        str(args.finetune_epochs),
        "--patience",
        str(args.finetune_epochs),
    ]
    runs = {
        "before (BCE)": work / "run_bce",
        "BCE + 0.04 hu (fine-tune)": work / f"run_hu{args.tag}",
        "BCE only (control)": work / f"run_ctl{args.tag}",
    }
    steps = [
        (
            work / "spec",
            [
                "synth",
                str(work / "spec"),
                "--n",
                "10",
                "--size",
                "512x512",
                "--seed",
                "100",
                "--grain-size-um",
                "3.0",
            ],
        ),
        (
            ds,
            [
                "dataset",
                *[str(work / "spec" / f"specimen_{i:03d}") for i in range(10)],
                "--patch",
                "128",
                "--out",
                str(ds),
                "--val-frac",
                "0.2",
                "--seed",
                "0",
            ],
        ),
        (
            runs["before (BCE)"],
            [
                "train",
                str(ds),
                *common,
                "--epochs",
                "300",
                "--patience",
                "30",
                "--max-time",
                str(args.bce_minutes),
                "--out",
                str(runs["before (BCE)"]),
            ],
        ),
        (
            runs["BCE + 0.04 hu (fine-tune)"],
            [
                "train",
                str(ds),
                *common,
                *finetune,
                "--topo-lambda",
                "0.04",
                "--topo-loss",
                "hu",
                "--out",
                str(runs["BCE + 0.04 hu (fine-tune)"]),
            ],
        ),
        (
            runs["BCE only (control)"],
            [
                "train",
                str(ds),
                *common,
                *finetune,
                "--topo-lambda",
                "0",
                "--out",
                str(runs["BCE only (control)"]),
            ],
        ),
    ]
    steps += [
        (
            folder / "eval_val.json",
            [
                "evaluate",
                str(folder),
                str(ds),
                "--split",
                "val",
                "--json",
                str(folder / "eval_val.json"),
            ],
        )
        for folder in runs.values()
    ]
    for output, command in steps:
        print("$ grainseg", shlex.join(command), flush=True)
        if not output.exists():
            subprocess.run([GRAINSEG, *command], check=True, cwd=ROOT)
    commands = ["grainseg " + shlex.join(command) for _, command in steps]
    scores = {
        name: json.loads((folder / "eval_val.json").read_text()) for name, folder in runs.items()
    }
    seconds = {name: _train_seconds(folder) for name, folder in runs.items()}

    header = "| model | " + " | ".join(label for _, label in SCORES) + " | train time s |"
    rows = [header, "|---" * (len(SCORES) + 2) + "|"]
    for name, result in scores.items():
        cells = " | ".join(f"{result[key]:.3f}" for key, _ in SCORES)
        rows.append(f"| {name} | {cells} | {seconds[name]:.0f} |")
    print("\n".join(rows))
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    n_val = next(iter(scores.values()))["n_patches"]
    page = [
        f"## Topological fine-tuning (issue 6): before vs after{' (' + args.tag.strip('-') + ')' if args.tag else ''}",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_topology_finetune.py --work {work} "
        f"--finetune-lr {args.finetune_lr} --finetune-epochs {args.finetune_epochs}"
        f"{' --tag=' + args.tag if args.tag else ''}` "
        f"(machine: {platform.machine()} 2-core CPU, shared with other jobs; {date}). "
        f"Held-out split: {n_val} patches of 128 px from 2 of 10 synthetic images; scores "
        "per patch averaged (ARI, Betti) or pooled (Dice, F1), threshold 0.5. Steps run:",
        "",
        *[f"    {line}" for line in commands],
        "",
        *rows,
    ]
    name = "topology_finetune" + args.tag.replace("-", "_")
    write_text_atomic(ROOT / "benchmarks" / "results" / f"{name}.md", "\n".join(page) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
