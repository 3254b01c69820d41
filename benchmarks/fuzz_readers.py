"""A longer fuzzing run of the file readers than `make test` does.

Runs tests/test_fuzz_readers.py with many random (not derandomised) hypothesis examples per
reader and writes benchmarks/results/fuzz.md: examples per reader, wall time, outcome.

Usage: .venv/bin/python benchmarks/fuzz_readers.py [--examples N] [--only READER ...]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from grainseg.io.atomic import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
TESTS = {
    ".ang": "test_fuzz_text_ebsd[ang]",
    ".ang (hexagonal grid)": "test_fuzz_text_ebsd[hex.ang]",
    ".ctf": "test_fuzz_text_ebsd[ctf]",
    ".cpr + .crc": "test_fuzz_cpr_crc",
    ".osc": "test_fuzz_osc",
    "EDAX OIM .h5": "test_fuzz_hdf5_ebsd[oim.h5]",
    ".h5oina (map and electron image)": "test_fuzz_hdf5_ebsd[h5oina]",
    "Bruker .h5 (orix)": "test_fuzz_hdf5_ebsd[bruker.h5]",
    "TIFF": "test_fuzz_micrograph[tif]",
    "PNG": "test_fuzz_micrograph[png]",
    "JPEG": "test_fuzz_micrograph[jpg]",
    "BMP": "test_fuzz_micrograph[bmp]",
}
FILE = "tests/test_fuzz_readers.py"


def collected() -> list[str]:
    """The test IDs of the fuzz file, so that a reader added there is not left out here."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", FILE],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    return [line.split("::", 1)[1] for line in proc.stdout.splitlines() if "::" in line]


def limit_memory(gigabytes: float):
    """A pre-exec function capping the address space, so that a reader asked by a damaged file
    for a huge array fails with MemoryError (a finding) instead of exhausting the machine."""
    import resource

    def apply() -> None:
        limit = int(gigabytes * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def earlier_rows(page: Path, rerun: set[str]) -> list[tuple]:
    """Table rows of the page for readers not in ``rerun``: (reader, examples, seconds,
    outcome, run date); the date of a row without one is that of the page's command line."""
    if not page.is_file():
        return []
    text = page.read_text(encoding="utf-8")
    stamp = re.search(r"\((\d{4}-\d\d-\d\d \d\d:\d\d UTC)", text)
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) in (4, 5) and cells[0] in TESTS and cells[0] not in rerun:
            date = cells[4] if len(cells) == 5 else (stamp.group(1) if stamp else "?")
            rows.append((cells[0], int(cells[1]), float(cells[2]), cells[3], date))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000, help="examples per reader")
    parser.add_argument("--memory-gb", type=float, default=4.0,
                        help="address-space limit of each run (default 4)")
    parser.add_argument("--only", nargs="+", metavar="READER", choices=list(TESTS),
                        help="fuzz only these readers (names as in the table)")
    args = parser.parse_args()
    missing = sorted(set(collected()) - set(TESTS.values()))
    if missing:
        sys.exit(f"{FILE} has fuzz tests this script does not run: {', '.join(missing)}")
    env = {**os.environ, "GRAINSEG_FUZZ_EXAMPLES": str(args.examples), "GRAINSEG_FUZZ_RANDOM": "1"}
    rows = []
    for reader, test in TESTS.items():
        if args.only and reader not in args.only:
            continue
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:logging", "-p", "no:cacheprovider",
             f"{FILE}::{test}"],
            cwd=ROOT, env=env, capture_output=True, text=True,
            preexec_fn=limit_memory(args.memory_gb),
        )
        seconds = time.perf_counter() - t0
        outcome = "passed" if proc.returncode == 0 else "FAILED"
        rows.append((reader, args.examples, seconds, outcome))
        print(f"{reader:22s} {args.examples:6d} examples {seconds:7.1f} s  {outcome}", flush=True)
        if proc.returncode:
            print(proc.stdout[-4000:])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ROOT / "benchmarks" / "results" / "fuzz.md"
    kept = earlier_rows(out, {r[0] for r in rows})
    rows = [(*row, stamp) for row in rows]
    rows = sorted(rows + kept, key=lambda row: list(TESTS).index(row[0]))
    lines = [
        "# Fuzzing the readers",
        "",
        f"Last command: `.venv/bin/python benchmarks/fuzz_readers.py --examples {args.examples}"
        f"{' --only ' + shlex.join(args.only) if args.only else ''}` "
        f"({stamp}; 2-core CPU, shared with other jobs, so times are loose; "
        f"Python {platform.python_version()}).",
        "",
        "Each example mutates a small valid seed (truncation, byte flips, number tokens replaced "
        "by odd values, lines dropped or duplicated) and checks that only `GrainsegError` "
        "escapes `read_ebsd` / `read_micrograph` / `read_electron_image` and that what they "
        "return is sane. HDF5 seeds are also changed structurally (datasets removed, shortened "
        "or given odd values, scan groups renamed). Rows of readers left out by `--only` are "
        "those of the run on their date.",
        "",
        "| reader | examples | wall time (s) | outcome | run |",
        "|---|---:|---:|---|---|",
        *(f"| {r} | {n} | {t:.1f} | {o} | {d} |" for r, n, t, o, d in rows),
        "",
    ]
    write_text_atomic(out, "\n".join(lines) + FINDINGS)
    print(f"-> {out}")
    return 0 if all(row[3] == "passed" for row in rows) else 1


FINDINGS = """
Found and fixed while building the fuzzer (each pinned by a case in
tests/test_robustness_readers.py):

- `.ang`: a `# Phase` line without a number, and `NCOLS_ODD` / `NROWS` that are not whole
  numbers or not positive (negative rows x negative columns matched the point count), escaped as
  ValueError.
- `.ctf`: a `Phases` line without a count or cut off before its phase lines (ValueError,
  IndexError); negative `XCells` / `YCells`.
- `.cpr`: a field ID listed twice in `[Fields]` (NumPy ValueError); a non-numeric
  `[EDX Windows] Count`; negative `xCells` / `yCells`.
- hexagonal-grid `.ang`: one far-off x coordinate (4294967297 µm) made the resampling ask for a
  64 GiB square grid (MemoryError).
- all EBSD formats: infinite grid steps were accepted.
- TIFF: a damaged header declaring a huge image made tifffile allocate it (10 GB resident before
  it was stopped); now refused when the stored bytes cannot hold it. Each run is made under a
  4 GiB address-space limit (`--memory-gb`) so that any such case fails instead of exhausting
  the machine.
- TIFF: a header cut after two bytes (struct.error) and a damaged zlib stream (zlib.error)
  escaped; tifffile's own log lines about skipped damaged tags reached stderr (now notes).
"""


if __name__ == "__main__":
    sys.exit(main())
