"""Train the model that ships with grainseg (the default of ``grainseg segment``).

Recipe (recorded in docs/model-card.md): synthetic specimens with widely randomised appearance
and grain size, their exact truth boundaries as labels, 256 px patches, a quarter-width U-Net
trained with class-weighted BCE on the CPU for a fixed time budget, then a short topological
fine-tune. The best network is copied to ``src/grainseg/models/weights/default.pt``.

    .venv/bin/python benchmarks/train_default_model.py --out runs/default --minutes 40

Every step is a ``grainseg`` command, printed before it runs.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from grainseg.cli import main as grainseg

ROOT = Path(__file__).resolve().parents[1]

# (grain size um, pixel size um, appearance): the synthetic look is drawn at random per specimen
# ("random"), with a share of specimens in the look measured on the real images ("default").
GROUPS = [(3.0, 0.05, "random"), (8.0, 0.05, "random"), (15.0, 0.08, "random"),
          (25.0, 0.08, "default"), (6.0, 0.05, "default")]


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
    parser.add_argument("--specimens", type=int, default=200, help="in all, over the groups")
    parser.add_argument("--size", default="512x512")
    parser.add_argument("--minutes", type=float, default=40.0, help="BCE training budget")
    parser.add_argument("--topo-minutes", type=float, default=5.0)
    parser.add_argument("--width", default="0.25")
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
    common = ["--arch", "unet", "--width", args.width, "--batch", "8", "--pos-weight", "4",
              "--no-progress"]
    step(["train", str(args.out / "dataset"), "--out", str(args.out / "run_bce"), *common,
          "--epochs", "1000", "--patience", "1000", "--max-time", str(args.minutes),
          "--lr", "1e-3", *resume_flag(args.out / "run_bce")])
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
