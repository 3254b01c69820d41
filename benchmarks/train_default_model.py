"""Train the model that ships with grainseg (the default of ``grainseg segment``).

Recipe (recorded in docs/model-card.md): synthetic specimens with widely randomised appearance
and grain size, a third of them in the "hard" look (faint steps below the pixel noise, partial
twins, wavy grains, pits with bright rims, contamination rings), their exact truth boundaries as
labels, 256 px patches, class-weighted BCE with a cosine-decaying rate over a fixed time budget,
then an optional topological fine-tune. The best network can be copied to
``src/grainseg/models/weights/default.pt``.

On the 2-core CPU (what this project had), fine-tuning the shipped quarter-width U-Net:

    .venv/bin/python benchmarks/train_default_model.py --out runs/default_v2 --width 0.25 \
        --init src/grainseg/models/weights/default.pt --lr 5e-4 --minutes 75 --topo-minutes 0

On one H100/H200-class GPU, the full-width U-Net from scratch (bf16, batch 32; the budget is
the training time, the specimens take about a minute more to make):

    python benchmarks/train_default_model.py --out runs/default_gpu --device cuda --width 1.0 \
        --batch 32 --lr 1e-3 --minutes 8 --topo-minutes 0

Every step is a ``grainseg`` command, printed before it runs; an interrupted run is continued by
running the same command again (made specimens and data sets are reused, training resumes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from grainseg.cli import main as grainseg

ROOT = Path(__file__).resolve().parents[1]

# (grain size um, pixel size um, appearance): the synthetic look is drawn at random per specimen
# ("random", "hard"), with a share of specimens in the look measured on the real images
# ("default"). Seeds 10000 + 1000 * group + i; held-out benchmarks use seeds >= 900000.
GROUPS = [(3.0, 0.05, "random"), (8.0, 0.05, "random"), (15.0, 0.08, "random"),
          (25.0, 0.08, "default"), (6.0, 0.05, "default"),
          (4.0, 0.05, "hard"), (10.0, 0.05, "hard"), (20.0, 0.08, "hard")]


def step(argv: list[str]) -> None:
    print(f"$ grainseg {' '.join(argv)}", flush=True)
    code = grainseg(argv)
    if code:
        sys.exit(f"step failed with exit code {code}")


def resume_flag(run: Path) -> list[str]:
    """``--resume`` when an interrupted run of this script left a checkpoint behind."""
    return ["--resume"] if (run / "checkpoints" / "last.ckpt").exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "default")
    parser.add_argument("--specimens", type=int, default=240, help="in all, over the groups")
    parser.add_argument("--size", default="512x512")
    parser.add_argument("--minutes", type=float, default=40.0, help="BCE training budget")
    parser.add_argument("--topo-minutes", type=float, default=5.0)
    parser.add_argument("--width", default="0.25")
    parser.add_argument("--batch", default="8")
    parser.add_argument("--lr", default="1e-3", help="Adam rate at the start of the cosine decay")
    parser.add_argument("--init", help="start from this model.pt or run (fine-tuning)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="cuda trains on one GPU in bf16; cpu hides any GPU")
    parser.add_argument("--install", action="store_true",
                        help="copy the result to src/grainseg/models/weights/default.pt")
    args = parser.parse_args()
    start = time.perf_counter()
    per_group = max(1, args.specimens // len(GROUPS))
    prefixes = []
    for g, (grain_um, pixel_um, look) in enumerate(GROUPS):
        folder = args.out / "specimens" / f"group{g}"
        if not (folder / f"specimen_{per_group - 1:03d}_sem.tif").exists():
            step(["synth", str(folder), "--n", str(per_group), "--size", args.size,
                  "--seed", str(10_000 + 1000 * g), "--grain-size-um", str(grain_um),
                  "--pixel-size-um", str(pixel_um), "--appearance", look,
                  "--max-drift-px", "10"])
        prefixes += [str(folder / f"specimen_{i:03d}") for i in range(per_group)]
    if not (args.out / "dataset" / "dataset.json").exists():
        step(["dataset", *prefixes, "--out", str(args.out / "dataset"), "--patch", "256",
              "--val-frac", "0.1", "--seed", "0"])
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    common = ["--arch", "unet", "--width", args.width, "--batch", args.batch, "--pos-weight", "4",
              "--no-progress", "--devices", "1"]
    if args.device == "cuda":
        common += ["--precision", "bf16-mixed", "--workers", "8"]
    init = ["--init", args.init] if args.init else []
    step(["train", str(args.out / "dataset"), "--out", str(args.out / "run_bce"), *common,
          "--epochs", "1000", "--patience", "1000", "--max-time", str(args.minutes),
          "--lr", args.lr, "--lr-schedule", "cosine", *init,
          *resume_flag(args.out / "run_bce")])
    if args.topo_minutes > 0:
        step(["train", str(args.out / "dataset"), "--out", str(args.out / "run_topo"), *common,
              "--init", str(args.out / "run_bce"), "--topo-lambda", "0.04", "--topo-loss", "hu",
              "--lr", "1e-5", "--epochs", "1000", "--patience", "1000",
              "--max-time", str(args.topo_minutes), *resume_flag(args.out / "run_topo")])
    best = args.out / ("run_topo" if args.topo_minutes > 0 else "run_bce") / "model.pt"
    if args.install:
        target = ROOT / "src" / "grainseg" / "models" / "weights" / "default.pt"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, target)
        print(f"installed {best} -> {target}")
    print(f"done in {(time.perf_counter() - start) / 60:.1f} min: {best}")


if __name__ == "__main__":
    main()
