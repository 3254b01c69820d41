"""``grainseg synth``: synthetic SEM + EBSD specimens with exact truth."""

from __future__ import annotations

import argparse
import re

from grainseg.errors import GrainsegError

ORDER = 10


def _size(text: str) -> tuple[int, int]:
    """Parse ``WIDTHxHEIGHT`` (pixels) into (width, height)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 2048x1536")
    return int(match.group(1)), int(match.group(2))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``grainseg synth``."""
    parser = subparsers.add_parser(
        "synth",
        help="make synthetic SEM + EBSD specimens with exact truth",
        description=(
            "Write N synthetic specimens into OUT_DIR: an SEM image (NAME_sem.tif, 16-bit, with "
            "its pixel size), the EBSD map of the same area in its own drifted frame "
            "(NAME_ebsd.ctf or .ang), and the truth: grain IDs, boundaries, twin boundaries "
            "(TIFFs on the SEM grid), the SEM -> EBSD coordinate mapping (NAME_truth_drift.npz) "
            "and every parameter and grain orientation (NAME_truth.json). Same seed, same files."
        ),
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write into (created)")
    parser.add_argument("--n", type=int, default=4, help="number of specimens (default 4)")
    parser.add_argument(
        "--size",
        type=_size,
        default=(2048, 1536),
        help="WIDTHxHEIGHT in pixels (default 2048x1536)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the first specimen (default 0)"
    )
    parser.add_argument("--grain-size-um", type=float, default=15.0, help="mean grain ECD, um")
    parser.add_argument("--pixel-size-um", type=float, default=0.05, help="SEM pixel size, um")
    parser.add_argument("--ebsd-step-px", type=float, default=3.0, help="EBSD step, SEM pixels")
    parser.add_argument(
        "--max-drift-px", type=float, default=40.0, help="bound on SEM-EBSD drift, SEM pixels"
    )
    parser.add_argument(
        "--twin-fraction", type=float, default=0.4, help="fraction of grains with twins (0..1)"
    )
    parser.add_argument("--ebsd-format", choices=("ctf", "ang"), default="ctf")
    parser.add_argument(
        "--appearance",
        default="default",
        help="default | random | hard: 'default' looks like the real images; 'random' varies "
        "the look widely (training); 'hard' is 'random' with faint steps, pits, rings and wavy "
        "grains made common",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate and write the specimens; returns 0."""
    from tqdm import tqdm

    from grainseg.io.atomic import ensure_output_dir
    from grainseg.io.manifest import write_manifest
    from grainseg.progress import progress_bar
    from grainseg.synth import generate_specimen, write_specimen
    from grainseg.synth.specimen import check_specimen_args

    width, height = args.size
    if args.n < 1:
        raise GrainsegError(f"--n {args.n}: must be at least 1")
    options = {
        "grain_size_um": args.grain_size_um,
        "pixel_size_um": args.pixel_size_um,
        "ebsd_step_px": args.ebsd_step_px,
        "max_drift_px": args.max_drift_px,
        "twin_fraction": args.twin_fraction,
        "appearance": args.appearance,
    }
    # Every argument is checked before anything is created on disk.
    check_specimen_args(height, width, args.seed, **options)
    out = ensure_output_dir(args.out_dir)
    for k in progress_bar(range(args.n), desc="synth", unit="specimen", show=args.n > 1):
        name = f"specimen_{k:03d}"
        specimen = generate_specimen(
            height,
            width,
            args.seed + k,
            **options,
        )
        paths = write_specimen(specimen, out, name, ebsd_format=args.ebsd_format)
        tqdm.write(
            f"{paths['sem'].name}: {specimen.grain_ids.max()} grains "
            f"({int(specimen.is_twin.sum())} twin lamellae), EBSD {specimen.ebsd.shape[1]}x"
            f"{specimen.ebsd.shape[0]} points"
        )
    write_manifest(out, "synth", settings={"n": args.n, "size": [width, height], "seed": args.seed,
                                           "ebsd_format": args.ebsd_format, **options})
    print(f"wrote {args.n} specimen(s) to {out}")
    return 0
