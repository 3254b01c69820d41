"""``grainseg ebsd-grains``: an EBSD map -> grain IDs, boundary classes, grain table, summary."""

from __future__ import annotations

import argparse
from pathlib import Path

# Library parameters named otherwise than their option (see `grainseg.commands.error_message`).
FLAGS = {"min_size_points": "--min-size", "max_island_points": "--max-island"}

ORDER = 20


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "ebsd-grains",
        help="grain and boundary maps from an EBSD map (.ang, .osc, .ctf, .cpr/.crc, .h5oina, "
             ".h5)",
        description=(
            "Reconstruct grains on an EBSD map: 4-neighbours whose disorientation (with the "
            "crystal symmetry) is below --threshold belong to one grain. Writes, on the EBSD "
            "grid and row-major as in the file, DIR/grain_ids.tif (uint32, 0 = unassigned), "
            "DIR/boundaries.tif (uint8: 0 none, 1 low-angle, 2 high-angle, 3 Sigma-3 twin, "
            "4 phase boundary, 5 not indexed), DIR/grains.csv (one row per grain) and "
            "DIR/summary.json. A hexagonal .ang grid is resampled to a square grid first."
        ),
    )
    parser.add_argument("map", type=Path, metavar="MAP",
                        help="EBSD map: .ang, .osc, .ctf, .cpr (with its .crc), Oxford .h5oina, EDAX "
                             "OIM .h5 or other HDF5 read by orix (Bruker Esprit)")
    parser.add_argument("--threshold", type=float, default=10.0, metavar="DEG",
                        help="grain boundary disorientation, degrees (default 10)")
    parser.add_argument("--low", type=float, default=2.0, metavar="DEG",
                        help="smallest low-angle boundary, degrees (default 2)")
    parser.add_argument("--high", type=float, default=None, metavar="DEG",
                        help="smallest high-angle boundary, degrees (default: --threshold)")
    parser.add_argument("--min-size", type=int, default=0, metavar="N",
                        help="grains of fewer points are dissolved into neighbours (default 0)")
    parser.add_argument("--merge-twins", action="store_true",
                        help="merge Sigma-3 twins into their parent grain")
    parser.add_argument("--max-island", type=int, default=None, metavar="N",
                        help="not-indexed islands of at most N points take the surrounding "
                             "grain; larger areas stay unassigned (default 8)")
    parser.add_argument("--scan", default=None, metavar="NAME",
                        help="scan (EDAX .h5) or slice (.h5oina) to read from a file holding "
                             "several; default the first")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from grainseg.ebsd.stage import EbsdGrainsOptions, ebsd_grains, write_ebsd_grains
    from grainseg.io.ebsd import read_ebsd
    from grainseg.io.owner import claim_folder

    options = EbsdGrainsOptions(args.threshold, args.low, args.high, args.min_size,
                                args.merge_twins, args.max_island).validate()
    claim_folder(args.out, "ebsd-grains")
    ebsd_map = read_ebsd(args.map, scan=args.scan)
    result = ebsd_grains(ebsd_map, options, source=args.map)
    written = write_ebsd_grains(args.out, result, ebsd_map.step_um, scan=args.scan)

    summary, table = result.summary, result.table
    rows, cols = ebsd_map.shape
    print(f"{args.map}: {rows} x {cols} points at {ebsd_map.step_um:g} µm, "
          f"{100 * ebsd_map.indexed.mean():.1f}% indexed, phases: "
          f"{', '.join(f'{p.name} ({p.laue})' for p in ebsd_map.phases)}")
    for note in ebsd_map.notes:
        print(f"  note: {note}")
    mean_ecd = f"{np.mean(table['ecd_um']):.3g} µm" if summary["n_grains"] else "n/a"
    print(f"  {summary['n_grains']} grains at {args.threshold:g} deg (min size {args.min_size}, twins "
          f"{'merged' if args.merge_twins else 'kept'}), mean ECD {mean_ecd}")
    fractions = summary["boundary_length_fraction"]
    print("  boundary length: " + ", ".join(f"{n} {100 * f:.1f}%" for n, f in fractions.items()))
    for name, info in summary["phases"].items():
        twin = info["twin_fraction_of_high_angle_length"]
        if not np.isnan(twin):
            print(f"  {name}: twin fraction of high-angle boundary length {100 * twin:.1f}%")
    print(f"  wrote {written[0].parent}/" + ", ".join(p.name for p in written))
    return 0
