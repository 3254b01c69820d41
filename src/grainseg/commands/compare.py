"""``grainseg compare``: architectures and class weights, the paper's Tables 2 and 3."""

from __future__ import annotations

import argparse
from pathlib import Path

# Library parameters named otherwise than their option (see `grainseg.commands.error_message`).
FLAGS = {"max_time_min": "--max-time"}

ORDER = 65


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="train and evaluate architectures and class weights (paper's Tables 2, 3)",
        description=(
            "Train every architecture in --archs at boundary weight --table2-weight (Table 2) "
            "and U-Net at every weight in --pos-weights (Table 3), evaluate each on the "
            "validation split (or on every patch of the held-out data set --test) and write "
            "DIR/table2.{md,csv} and DIR/table3.{md,csv} with parameter counts, training time "
            "and the paper's figures beside ours. Runs live in "
            "DIR/runs/ARCH_wWEIGHT; running the command again reuses finished runs and resumes "
            "unfinished ones."
        ),
    )
    parser.add_argument("dataset", type=Path, metavar="DS", help="data set folder")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--archs", default="all",
                        help="comma-separated architectures, 'all' (default) or 'none'")
    parser.add_argument("--pos-weights", default="4,6,9,11",
                        help="comma-separated boundary weights for Table 3, or 'none'")
    parser.add_argument("--table2-weight", type=float, default=9.0,
                        help="boundary weight of Table 2 (default 9)")
    parser.add_argument("--width", type=float, default=1.0, help="channel multiplier")
    parser.add_argument("--epochs", type=int, default=100, help="most epochs per run")
    parser.add_argument("--patience", type=int, default=10, help="early-stopping patience")
    parser.add_argument("--max-time", type=float, default=None, metavar="MIN",
                        help="minutes per run")
    parser.add_argument("--batch", type=int, default=128, help="patches per batch")
    parser.add_argument("--lr", type=float, default=3e-4, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of every run")
    parser.add_argument("--devices", default="auto", help="'auto' or a number of devices")
    parser.add_argument("--workers", type=int, default=None, help="data loader processes")
    parser.add_argument("--test", type=Path, metavar="TEST_DS",
                        help="held-out data set to score every run on (all its patches; "
                        "default: the val split of DS)")
    parser.set_defaults(func=run)


def _list(text: str, convert, what: str) -> list:
    from grainseg.errors import GrainsegError

    if text.strip().lower() == "none":
        return []
    try:
        items = [convert(item.strip()) for item in text.split(",") if item.strip()]
    except ValueError:
        raise GrainsegError(f"{what}: cannot read {text!r} as a comma-separated list") from None
    if not items:
        raise GrainsegError(f"{what} {text!r}: no item given (write 'none' to leave it out)")
    return items


def run(args: argparse.Namespace) -> int:
    from grainseg.models import ARCHITECTURES
    from grainseg.train.compare import compare
    from grainseg.train.config import TrainConfig

    archs = list(ARCHITECTURES) if args.archs == "all" else _list(args.archs, str, "--archs")
    weights = _list(args.pos_weights, float, "--pos-weights")
    base = TrainConfig(dataset=str(args.dataset), width=args.width, epochs=args.epochs,
                       patience=args.patience, max_time_min=args.max_time, batch=args.batch,
                       lr=args.lr, seed=args.seed, devices=args.devices, workers=args.workers)
    base.validate()
    tables = compare(base, args.out, archs, weights, table2_weight=args.table2_weight,
                     test=args.test)
    for name in ("table2", "table3"):
        if tables[name]:
            print((args.out / f"{name}.md").read_text(encoding="utf-8"))
    return 0
