"""The paper's Table 2 on synthetic specimens: the five architectures at boundary weight 9,
each trained for the same few minutes on the CPU and scored on held-out specimens.

Uses the specimens and data sets of ``bench_train.py`` at its defaults (made here if missing):
the training specimens in patches, and the held-out test specimens' patches for scoring. Every
network at width 0.25 (the paper's at width 1.0 do not train in minutes on a CPU), batch 8,
lr 1e-3, early stopping with patience 10, ``--minutes`` each:

    grainseg compare DS --archs all --pos-weights none --table2-weight 9 --width 0.25 ...
        --test TEST

Writes benchmarks/results/table2.md. Run: ``.venv/bin/python benchmarks/bench_table2.py``
(about 25 minutes on a 2-core CPU; run it alone, the time budgets are wall-clock).
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
from bench_train import N_TEST, N_TRAIN, PATCH_PX, ROOT, SWEEP_SPECIMENS, prepare, step


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "bench_out" / "train",
                        help="bench_train.py's folder (specimens and data sets are reused)")
    parser.add_argument("--minutes", type=float, default=4.0,
                        help="training minutes per architecture")
    args = parser.parse_args()
    data = prepare(args.work, N_TRAIN, N_TEST, PATCH_PX, SWEEP_SPECIMENS)
    out = args.work / "table2"
    load_before = os.getloadavg()[0]
    step(["compare", str(data["ds"]), "--out", str(out), "--archs", "all", "--pos-weights",
          "none", "--table2-weight", "9", "--width", "0.25", "--batch", "8", "--lr", "1e-3",
          "--max-time", str(args.minutes), "--test", str(data["test_patches"])])
    with open(out / "table2.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    n_test_patches = json.loads((data["test_patches"] / "dataset.json").read_text())["counts"]
    n_test_patches = n_test_patches["train"]  # a --val-frac 0 data set: every patch is "train"
    lines = [
        "## The paper's Table 2: five architectures at boundary weight 9",
        "",
        "Command: `.venv/bin/python benchmarks/bench_table2.py`  ",
        f"Machine: 2-core CPU ({platform.machine()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; 1-min load average {load_before:.2f} before "
        "the first run  ",
        f"Date: {subprocess.run(['date'], capture_output=True, text=True).stdout.strip()}",
        "",
        f"Each network at width 0.25, trained on the {N_TRAIN} synthetic specimens of "
        f"`bench_train.py` ({PATCH_PX} px patches) for at most {args.minutes:g} min (batch 8, "
        "lr 1e-3 constant, early stopping with patience 10), scored on the "
        f"{n_test_patches} held-out test patches ({N_TEST} specimens). The paper's columns: "
        "its networks at width 1.0 on real 128 px patches.",
        "",
        "| architecture | parameters (M) | epochs | precision | recall | Dice | tolerance-F1 "
        "(2 px) | ARI | paper parameters (M) | paper Dice |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['arch']} | {r['params_M']} | {r['epochs']} | {r['precision']} | {r['recall']} "
        f"| {r['dice']} | {r['boundary_f1']} | {r['ari']} | {r['paper_params_M']} "
        f"| {r['paper_dice']} |"
        for r in rows
    ]
    text = "\n".join(lines) + "\n"
    (ROOT / "benchmarks" / "results" / "table2.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
