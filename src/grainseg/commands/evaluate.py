"""``grainseg evaluate``: score a trained model on a data set split."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

ORDER = 60


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a trained model on a data set split",
        description=(
            "Predict the patches of a data set split and score them against their labels: "
            "TPR, TNR, precision, recall and Dice pooled over all valid pixels (as in the "
            "paper); the adjusted Rand index of the grains (connected non-boundary regions) per "
            "patch, averaged; boundary precision, recall and F1 with a --tol px tolerance; the "
            "mean predicted-minus-true boundary width; Betti-number errors."
        ),
    )
    parser.add_argument("run", type=Path, metavar="RUN", help="run folder, model.pt or .ckpt")
    parser.add_argument("dataset", type=Path, metavar="DS", help="data set folder")
    parser.add_argument("--split", choices=("val", "train", "all"), default="val",
                        help="which patches (default val)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the scores here")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="probability threshold of a boundary pixel (default 0.5)")
    parser.add_argument("--tol", type=float, default=2.0, metavar="PX",
                        help="boundary matching tolerance in pixels (default 2)")
    parser.add_argument("--batch", type=int, default=64, help="patches per forward pass")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grainseg.errors import GrainsegError
    from grainseg.io.atomic import write_json_atomic
    from grainseg.train.evaluate import evaluate

    if not 0 < args.threshold < 1:
        raise GrainsegError(f"--threshold {args.threshold}: must be between 0 and 1")
    if not (math.isfinite(args.tol) and args.tol >= 0):  # also refuses nan
        raise GrainsegError(f"--tol {args.tol}: must be a finite number of pixels >= 0")
    if args.batch < 1:
        raise GrainsegError(f"--batch {args.batch}: must be >= 1")
    scores = evaluate(args.run, args.dataset, split=args.split, threshold=args.threshold,
                      tol_px=args.tol, batch=args.batch)
    if args.json:
        write_json_atomic(args.json, scores)
    print(f"{scores['n_patches']} {args.split} patches of {args.dataset}:")
    for key, value in scores.items():
        if isinstance(value, float):
            print(f"  {key:28s} {value:.4f}")
        elif value is None:
            print(f"  {key:28s} undefined")
    for note in scores["notes"]:
        print(f"  note: {note}")
    return 0
