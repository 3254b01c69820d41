"""``grainseg train``: train a boundary network on a data set (PyTorch Lightning)."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 50

# CLI option -> TrainConfig field; defaults live in TrainConfig so --resume can tell which
# options were given explicitly.
_OPTIONS = {
    "arch": str, "width": float, "pos_weight": float, "lr": float, "lr_schedule": str,
    "batch": int, "epochs": int, "patience": int, "devices": str, "precision": str, "seed": int,
    "dropout": float, "weight_decay": float, "max_time_min": float, "init": str,
    "topo_lambda": float, "topo_loss": str, "workers": int, "save_every_steps": int,
}


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a boundary network on a data set",
        description=(
            "Train a network with class-weighted BCE (summed over side outputs; ignore mask "
            "honoured), Adam and early stopping on the validation loss, on CPU, one GPU (bf16) "
            "or several GPUs (DDP). The run folder gets config.json, versions.json, metrics.csv "
            "(one row per epoch), checkpoints/best.ckpt and last.ckpt (written every "
            "--save-every steps and each epoch, so --resume continues an interrupted run), "
            "model.pt (the best network, for `grainseg segment` and `grainseg evaluate`) and "
            "train_summary.json. Topological fine-tuning: --init RUN --topo-lambda 0.04 "
            "--lr 1e-5 adds lambda * topological loss on the fused output."
        ),
    )
    parser.add_argument("dataset", type=Path, metavar="DS", help="data set folder")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    parser.add_argument("--arch", help="unet (default), defectsegnet, hed, rcf or deepcrack")
    parser.add_argument("--width", type=float, help="channel multiplier (default 1.0)")
    parser.add_argument("--pos-weight", dest="pos_weight", type=float,
                        help="BCE weight of boundary pixels (default 9)")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 3e-4)")
    parser.add_argument("--lr-schedule", dest="lr_schedule", choices=("constant", "cosine"),
                        help="constant (default) or cosine: decay to 0 over --epochs or "
                        "--max-time, whichever ends first")
    parser.add_argument("--batch", type=int, help="patches per batch and device (default 128)")
    parser.add_argument("--epochs", type=int, help="most epochs (default 100)")
    parser.add_argument("--patience", type=int,
                        help="epochs without a better val loss before stopping (default 10)")
    parser.add_argument("--devices", help="'auto' (default) or a number; > 1 uses DDP")
    parser.add_argument("--precision", choices=("auto", "32-true", "bf16-mixed", "16-mixed"),
                        help="auto (default): bf16-mixed on CUDA, 32-true on CPU")
    parser.add_argument("--seed", type=int, help="seed of weights, order and flips (default 0)")
    parser.add_argument("--dropout", type=float, help="spatial dropout after convs (default 0)")
    parser.add_argument("--weight-decay", dest="weight_decay", type=float,
                        help="Adam weight decay (default 0)")
    parser.add_argument("--max-time", dest="max_time_min", type=float, metavar="MIN",
                        help="stop after this many minutes (best model kept)")
    parser.add_argument("--init", metavar="CKPT",
                        help="start from these weights: model.pt, run folder, .ckpt, or "
                             "'default' for the shipped model (fine-tuning, e.g. on reviewed "
                             "labels); --arch and --width default to the init model's")
    parser.add_argument("--topo-lambda", dest="topo_lambda", type=float,
                        help="weight of the topological loss (default 0 = off; paper 0.04)")
    parser.add_argument("--topo-loss", dest="topo_loss",
                        choices=("hu", "cldice", "skeleton-recall"),
                        help="topological loss (default hu)")
    parser.add_argument("--workers", type=int,
                        help="data loader processes (default 0 on CPU, 4 on CUDA)")
    parser.add_argument("--save-every", dest="save_every_steps", type=int, metavar="STEPS",
                        help="write last.ckpt every this many steps (default 100)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from checkpoints/last.ckpt")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grainseg.train.config import TrainConfig
    from grainseg.train.run import train

    explicit = {name for name in _OPTIONS if getattr(args, name) is not None}
    config = TrainConfig(
        dataset=str(args.dataset), **{name: getattr(args, name) for name in explicit}
    )
    if args.resume:
        explicit.add("dataset")
    summary = train(config, args.out, resume=args.resume, explicit=explicit,
                    progress=args.progress)
    if summary:
        loss = summary["best_val_loss"]
        print(f"{summary['arch']} ({summary['parameters'] / 1e6:.2f} M parameters): "
              f"{summary['epochs_run']} epochs in {summary['train_time_s']:.0f} s, best val loss "
              f"{'n/a' if loss is None else f'{loss:.4f}'} at epoch {summary['best_epoch']} "
              f"-> {args.out / 'model.pt'}")
    return 0
