"""``grainseg ebsd-grains``: an EBSD map -> grain IDs, boundary classes, grain table, summary."""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

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


def _csv_text(table: dict) -> str:
    """The per-grain table as CSV text (floats with 6 significant digits)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(table)
    writer.writerow(keys)
    columns = [
        [f"{v:.6g}" if isinstance(v, float) else v for v in table[k].tolist()] for k in keys
    ]
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue()


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from grainseg import layout
    from grainseg.ebsd.boundaries import (
        BRANDON_S3_DEG,
        CLASS_NAMES,
        NONE,
        NOT_INDEXED,
        boundary_classes,
        boundary_lengths_by_phase_um,
        boundary_lengths_um,
        boundary_map,
    )
    from grainseg.ebsd.grains import DEFAULT_MAX_ISLAND_POINTS, grain_properties, reconstruct_grains
    from grainseg.ebsd.misorientation import neighbour_misorientation_deg
    from grainseg.errors import GrainsegError
    from grainseg.io.atomic import ensure_output_dir, write_json_atomic, write_text_atomic
    from grainseg.io.ebsd import read_ebsd
    from grainseg.io.manifest import write_manifest
    from grainseg.io.owner import claim_folder
    from grainseg.io.tiff import write_tiff

    high = args.threshold if args.high is None else args.high
    max_island = DEFAULT_MAX_ISLAND_POINTS if args.max_island is None else args.max_island
    if args.min_size < 0:
        raise GrainsegError(f"--min-size {args.min_size}: must not be negative")
    if max_island < 0:
        raise GrainsegError(f"--max-island {max_island}: must not be negative")

    claim_folder(args.out, "ebsd-grains")
    ebsd_map = read_ebsd(args.map, scan=args.scan)
    out = ensure_output_dir(args.out)
    misorientation = neighbour_misorientation_deg(ebsd_map)
    right, down = boundary_classes(ebsd_map, args.low, high, misorientation=misorientation)
    grain_ids = reconstruct_grains(
        ebsd_map, args.threshold, args.min_size, args.merge_twins, max_island,
        misorientation=misorientation, classes=(right, down),
    )
    table = grain_properties(ebsd_map, grain_ids)

    lengths = boundary_lengths_um(right, down, ebsd_map.step_um)
    boundary_names = [CLASS_NAMES[c] for c in CLASS_NAMES if c not in (NONE, NOT_INDEXED)]
    total = sum(lengths[name] for name in boundary_names)
    fractions = {name: (lengths[name] / total if total else 0.0) for name in boundary_names}
    by_phase = boundary_lengths_by_phase_um(ebsd_map, right, down)
    area = table["area_points"]
    per_phase = {
        ph.name: {
            "n_grains": int((table["phase"] == ph.name).sum()),
            "area_fraction": float((ebsd_map.phase_ids == k).mean()),
            "twin_fraction_of_high_angle_length": by_phase[ph.name]["twin_fraction_of_high_angle"],
            "boundary_length_um": {
                n: by_phase[ph.name][n] for n in boundary_names if n != "phase"
            },
        }
        for k, ph in enumerate(ebsd_map.phases)
    }
    summary = {
        "input": str(args.map),
        "grid_rows": ebsd_map.shape[0],
        "grid_cols": ebsd_map.shape[1],
        "step_um": ebsd_map.step_um,
        "indexed_fraction": float(ebsd_map.indexed.mean()),
        "n_grains": int(area.size),
        "mean_ecd_um": float(table["ecd_um"].mean()) if area.size else None,
        "unassigned_points": int((grain_ids == 0).sum()),
        "thresholds": {
            "grain_threshold_deg": args.threshold,
            "low_angle_deg": args.low,
            "high_angle_deg": high,
            "twin_s3_brandon_deg": BRANDON_S3_DEG,
        },
        "min_size_points": args.min_size,
        "merge_twins": args.merge_twins,
        "max_island_points": max_island,
        "boundary_length_um": {n: lengths[n] for n in boundary_names},
        "boundary_length_fraction": fractions,
        "phases": per_phase,
        "notes": ebsd_map.notes,
    }

    write_tiff(out / layout.GRAIN_IDS, grain_ids, pixel_size_um=ebsd_map.step_um)
    write_tiff(out / layout.EBSD_BOUNDARIES, boundary_map(right, down, ebsd_map.indexed),
               pixel_size_um=ebsd_map.step_um)
    write_text_atomic(out / layout.GRAINS_TABLE, _csv_text(table))
    write_json_atomic(out / layout.GRAINS_SUMMARY, summary)
    write_manifest(out, "ebsd-grains", [args.map],
                   {"scan": args.scan, **summary["thresholds"], "min_size_points": args.min_size,
                    "merge_twins": args.merge_twins, "max_island_points": max_island})

    rows, cols = ebsd_map.shape
    print(f"{args.map}: {rows} x {cols} points at {ebsd_map.step_um:g} µm, "
          f"{100 * ebsd_map.indexed.mean():.1f}% indexed, phases: "
          f"{', '.join(f'{p.name} ({p.laue})' for p in ebsd_map.phases)}")
    for note in ebsd_map.notes:
        print(f"  note: {note}")
    mean_ecd = f"{np.mean(table['ecd_um']):.3g} µm" if area.size else "n/a"
    print(f"  {area.size} grains at {args.threshold:g} deg (min size {args.min_size}, twins "
          f"{'merged' if args.merge_twins else 'kept'}), mean ECD {mean_ecd}")
    print("  boundary length: " + ", ".join(f"{n} {100 * f:.1f}%" for n, f in fractions.items()))
    for name, info in per_phase.items():
        twin = info["twin_fraction_of_high_angle_length"]
        if not np.isnan(twin):
            print(f"  {name}: twin fraction of high-angle boundary length {100 * twin:.1f}%")
    print(f"  wrote {out}/{layout.GRAIN_IDS}, {layout.EBSD_BOUNDARIES}, {layout.GRAINS_TABLE}, "
          f"{layout.GRAINS_SUMMARY}")
    return 0
