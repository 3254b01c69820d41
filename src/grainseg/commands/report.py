"""``grainseg report``: one self-contained HTML page with the paper's figures from real outputs."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 90


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="HTML report with the paper's figures made from grainseg outputs",
        description=(
            "Search the given folders for grainseg outputs and write one self-contained HTML "
            "file (images inlined): micrograph with labels and patch grid (Fig. 1), prediction "
            "vs truth coloured TN black / TP cyan / FP yellow / FN red (Fig. 2), the same image "
            "from several models (Fig. 3), registration drift (Fig. 4), boundary widths "
            "(Fig. 5), aspect ratio and size with fits and Jensen-Shannon distances (Figs. 6, "
            "7), grain statistics, evaluation metrics and training curves. Uses whatever exists."
        ),
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="RUN_OR_DIR",
                        help="run, output or demo folder (searched recursively)")
    parser.add_argument("--out", required=True, type=Path, metavar="REPORT.html",
                        help="the HTML file to write")
    parser.add_argument("--title", default="grainseg report", help="page title")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grainseg.io.atomic import ensure_output_dir
    from grainseg.report.collect import report_from_folders

    ensure_output_dir(args.out.parent if str(args.out.parent) else Path("."))
    path, sections, notes = report_from_folders(args.inputs, args.out, args.title)
    for section in sections:
        print(f"  {section.title}: {len(section.items)} item(s)")
    for note in notes:
        print(f"  note: {note}")
    size_kb = path.stat().st_size / 1024
    print(f"report: {path} ({size_kb:.0f} KiB, {len(sections)} sections)")
    return 0
