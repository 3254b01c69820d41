"""``grainseg dataset``: SEM/label pairs -> a patch data set for training."""

from __future__ import annotations

import argparse
from pathlib import Path

# Library parameters named otherwise than their option (see `grainseg.commands.error_message`).
FLAGS = {"median_px": "--median"}

ORDER = 40


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "dataset",
        help="cut SEM/label pairs into a patch data set for training",
        description=(
            "Build a training data set: each SEM image is cropped above its data bar, median "
            "filtered and normalised exactly as `grainseg segment` does, then cut with its "
            "label (and ignore mask) into non-overlapping square patches, stored as "
            "memory-mapped .npy arrays with dataset.json recording sources, settings, split and "
            "counts. A PAIR is a `grainseg labels` output folder, SEM.tif:LABEL.tif[:IGNORE.tif], "
            "or a synthetic specimen prefix DIR/NAME (NAME_sem.tif + NAME_truth_boundaries.tif); "
            "or give folders of images and hand-drawn masks (--images, --masks) paired by name. "
            "By default whole images go to validation (--split image), because neighbouring "
            "patches of one image share grains and label errors; --split patch is the paper's "
            "random per-patch split."
        ),
    )
    parser.add_argument("pairs", nargs="*", metavar="PAIR", help="labels folder, SEM:LABEL[:IGNORE]"
                        " or synthetic specimen prefix")
    parser.add_argument("--images", type=Path, default=None, metavar="DIR",
                        help="folder of SEM images (TIFF, PNG, JPEG, BMP) to pair by file name "
                             "with the masks in --masks")
    parser.add_argument("--masks", type=Path, default=None, metavar="DIR",
                        help="folder of hand-drawn masks or grain-ID label images, one per image "
                             "of --images, same name (a _mask / _label ending is allowed)")
    parser.add_argument("--mask-boundary", choices=("auto", "white", "black"), default="auto",
                        help="colour of the boundaries in two-level masks; auto (default) takes "
                             "the colour of the fewer pixels. JPEG grey levels are thresholded; "
                             "grain-ID label images need no colour")
    parser.add_argument("--out", type=Path, required=True, metavar="DS", help="data set folder")
    parser.add_argument("--patch", type=int, default=128, metavar="PX",
                        help="patch side in pixels (default 128; the paper used 128 and 512)")
    parser.add_argument("--split", choices=("image", "patch"), default="image",
                        help="validation by whole images (default) or random patches (paper)")
    parser.add_argument("--val-frac", type=float, default=0.1,
                        help="fraction of images (or patches) for validation (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--median", type=int, default=3, metavar="PX",
                        help="median filter size in pixels, 0 = off (default 3)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grainseg.data import build_dataset, pairs_from_folders, resolve_pair
    from grainseg.errors import GrainsegError

    if (args.images is None) != (args.masks is None):
        raise GrainsegError("--images and --masks go together (images paired with masks by name)")
    pairs = [resolve_pair(spec) for spec in args.pairs]
    if args.images is not None:
        pairs += pairs_from_folders(args.images, args.masks)
    if not pairs:
        raise GrainsegError("give PAIRs or --images DIR --masks DIR")
    info = build_dataset(pairs, args.out, patch=args.patch, split=args.split,
                         val_frac=args.val_frac, seed=args.seed, median_px=args.median,
                         mask_boundary=args.mask_boundary)
    fraction = info["boundary_fraction"]["train"]
    print(f"{info['n_patches']} patches of {info['patch_px']} px from {len(pairs)} image(s): "
          f"{info['counts']['train']} train, {info['counts']['val']} val "
          f"(split by {info['split']}); boundary fraction (train) "
          f"{'n/a' if fraction is None else f'{fraction:.3f}'} -> {args.out}")
    return 0
