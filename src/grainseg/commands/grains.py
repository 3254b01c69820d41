"""``grainseg grains``: grain size and shape statistics, ASTM E112 numbers, fits and figures."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 80


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grains",
        help="grain statistics (ECD, aspect ratio, fits, ASTM E112 G) from boundary maps",
        description=(
            "Measure every grain of a boundary mask (uint8, 255 = boundary) or a grain-ID image "
            "(uint16/uint32, 0 = boundary): size (ECD), aspect ratio, orientation; beta, "
            "exponential and log-normal fits; ASTM E112 mean lineal intercept (Heyn) and "
            "planimetric count (Jeffries) with G numbers; boundary width. Writes grains.csv, "
            "summary.json and PNG figures (one sub-folder per input when several are given, "
            "plus combined tables; a bad input among several is reported and skipped, and the "
            "exit code is then 2)."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", type=Path,
                        help="boundary mask or grain-ID TIFF")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder")
    parser.add_argument("--pixel-size-um", type=float, default=None, metavar="X",
                        help="pixel size in µm of the inputs (default: from each file's "
                             "metadata); never applied to --reference")
    parser.add_argument("--min-diameter-px", type=float, default=3.0, metavar="D",
                        help="leave grains with ECD below D pixels out of the distributions "
                             "(default 3; the paper also used 7 and 11)")
    parser.add_argument("--exclude-border", action="store_true",
                        help="leave grains cut by the image edge out of the distributions")
    parser.add_argument("--reference", type=Path, default=None, metavar="OTHER",
                        help="reference map (e.g. EBSD or label) for Jensen-Shannon distances "
                             "and the boundary width difference")
    parser.add_argument("--reference-pixel-size-um", type=float, default=None, metavar="X",
                        help="pixel size in µm of --reference (default: from its metadata; "
                             "a map from another instrument has its own)")
    parser.add_argument("--cluster", default=None, metavar="SPEC",
                        help="one Dask task per map: local:N or tcp://HOST:PORT, as in "
                             "segment (docs/cluster.md); default: in this process")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from grainseg import layout
    from grainseg.cluster import check_cluster, run_tasks
    from grainseg.errors import GrainsegError
    from grainseg.grains.analysis import load_grain_map
    from grainseg.grains.batch import measure_file_task
    from grainseg.grains.outputs import table_csv
    from grainseg.io.atomic import ensure_output_dir, write_json_atomic, write_text_atomic
    from grainseg.io.manifest import write_manifest
    from grainseg.io.names import output_stems
    from grainseg.io.owner import claim_folder
    from grainseg.pixel_size import check_pixel_size_um

    for option in ("pixel_size_um", "reference_pixel_size_um"):
        value = getattr(args, option)
        if value is not None:
            check_pixel_size_um(value, f"--{option.replace('_', '-')} {value:g}")
    claim_folder(args.out, "grains")
    out = ensure_output_dir(args.out)
    options = {"min_diameter_px": args.min_diameter_px, "exclude_border": args.exclude_border}

    if args.reference is not None:  # a bad reference fails once, here
        load_grain_map(args.reference, args.reference_pixel_size_um)

    stems = output_stems(args.inputs)
    several = len(args.inputs) > 1
    # One sub-folder per input, named by its stem (with its folder when stems repeat).
    items = [(path, out / stem if several else out)
             for path, stem in zip(args.inputs, stems, strict=True)]
    results = dict(run_tasks(
        measure_file_task, items, cluster=check_cluster(args.cluster), desc="grains",
        unit="map", progress=several, pixel_size_um=args.pixel_size_um, options=options,
        reference_path=None if args.reference is None else str(args.reference),
        reference_pixel_size_um=args.reference_pixel_size_um))
    summaries, tables = [], []
    failed = []
    for path, target in items:
        result = results[(path, target)]
        if result["status"] == "failed":
            if not several:
                raise GrainsegError(result["error"])
            print(f"skipped: {result['error']}", file=sys.stderr)
            failed.append(str(path))
            continue
        summary = result["summary"]
        unit = "um" if result["pixel_size_um"] is not None else "px"
        print(f"{path}: {result['kind']}; {summary['n_grains']} grains "
              f"(of {summary['n_grains_total']}); mean ECD "
              f"{_fmt(summary[f'mean_ecd_{unit}'], '.3g')} {unit}; mean intercept "
              f"{_fmt(summary[f'mean_intercept_{unit}'], '.3g')} {unit}; ASTM G "
              f"{_fmt(summary['astm_g_intercept'], '.2f')} (intercept), "
              f"{_fmt(summary['astm_g_planimetric'], '.2f')} (planimetric)"
              + ("" if result["pixel_size_um"] else " (no pixel size)") + f" -> {target}")
        summaries.append({"input": str(path), **{k: summary[k] for k in (
            "input_kind", "pixel_size_um", "n_grains", f"mean_ecd_{unit}",
            f"mean_intercept_{unit}", "astm_g_intercept", "astm_g_planimetric")}})
        tables.append((str(path), result["table"]))

    if several and tables:
        parts = [table_csv(t, {"input": name}) for name, t in tables]
        text = parts[0] + "".join(p.split("\n", 1)[1] for p in parts[1:])
        write_text_atomic(out / layout.GRAINS_TABLE_ALL, text)
        write_json_atomic(out / layout.GRAINS_SUMMARY_ALL, summaries)
        write_manifest(out, "grains", [*args.inputs, *([args.reference] if args.reference else [])],
                       {**options, "pixel_size_um": args.pixel_size_um,
                        "reference_pixel_size_um": args.reference_pixel_size_um})
        total = sum(s["n_grains"] for s in summaries)
        print(f"{len(summaries)} maps, {total} grains; combined table "
              f"{out / layout.GRAINS_TABLE_ALL}")
    if failed:
        raise GrainsegError(f"{len(failed)} of {len(args.inputs)} inputs skipped: "
                            + ", ".join(failed))
    return 0


def _fmt(value: float | None, spec: str) -> str:
    """A number for the one-line summary; '-' when missing."""
    return "-" if value is None else format(value, spec)
