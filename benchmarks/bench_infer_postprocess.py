"""Post-processing rule of `grainseg segment`: speed and grain ARI on held-out specimens.

- Speed: `probability_to_network` (defaults) on a probability map written by `grainseg segment`
  (``--probability``, e.g. of the real ``austenitic_steel_bse_002.tif``, 1024 x 884), best of 3.
- Accuracy: for each ``SEGDIR/NAME_sem_probability.tif`` with ``SYNTHDIR/NAME_truth_boundaries.tif``
  (specimens from ``grainseg synth``, probability maps from ``grainseg segment --model RUN``),
  the grain ARI (`grainseg.metrics.grains.grain_ari`) of the network against the true
  boundaries, over the rows above the data bar, for each ``merge_below`` in ``--merge-below``.

Prints Markdown. Run: ``.venv/bin/python benchmarks/bench_infer_postprocess.py --probability P
--synth SYNTHDIR --segmented SEGDIR``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tifffile

from grainseg.infer.postprocess import probability_to_network
from grainseg.metrics.grains import grain_ari


def speed(path: Path) -> str:
    prob = tifffile.imread(path).astype(np.float32)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        _, grain_ids = probability_to_network(prob)
        times.append(time.perf_counter() - start)
    return (f"| {path.name} | {prob.shape[1]} x {prob.shape[0]} | {grain_ids.max()} | "
            f"{min(times):.2f} |")


def accuracy(synth: Path, segmented: Path, merge_below: list[float]) -> list[str]:
    rows = []
    for prob_path in sorted(segmented.glob("*_sem_probability.tif")):
        name = prob_path.name.removesuffix("_sem_probability.tif")
        prob = tifffile.imread(prob_path).astype(np.float32)
        truth = tifffile.imread(synth / f"{name}_truth_boundaries.tif")[: prob.shape[0]] > 0
        n_true = len(np.unique(tifffile.imread(synth / f"{name}_truth_grains.tif")[: len(prob)]))
        cells = []
        for value in merge_below:
            boundaries, grain_ids = probability_to_network(prob, merge_below=value)
            cells.append(f"{grain_ari(boundaries, truth):.3f} ({grain_ids.max()})")
        rows.append(f"| {name} | {n_true} | " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probability", type=Path, nargs="*", default=[])
    parser.add_argument("--synth", type=Path)
    parser.add_argument("--segmented", type=Path)
    parser.add_argument("--merge-below", type=float, nargs="+", default=[0.1, 0.15, 0.2, 0.3])
    args = parser.parse_args()
    if args.probability:
        print("| probability map | size | grains | probability_to_network (s, best of 3) |")
        print("| --- | --- | --- | --- |")
        for path in args.probability:
            print(speed(path))
    if args.synth and args.segmented:
        print()
        print("| specimen | true grains | " + " | ".join(
            f"ARI (grains), merge_below {v}" for v in args.merge_below) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in args.merge_below) + " |")
        print("\n".join(accuracy(args.synth, args.segmented, args.merge_below)))


if __name__ == "__main__":
    main()
