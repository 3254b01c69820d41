"""A longer fuzzing run of the file readers than `make test` does.

Runs tests/test_fuzz_readers.py with many random (not derandomised) hypothesis examples per
reader and writes benchmarks/results/fuzz.md: examples per reader, wall time, outcome.

Usage: .venv/bin/python benchmarks/fuzz_readers.py [--examples N]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = {
    ".ang": "test_fuzz_text_ebsd[ang]",
    ".ang (hexagonal grid)": "test_fuzz_text_ebsd[hex.ang]",
    ".ctf": "test_fuzz_text_ebsd[ctf]",
    ".cpr + .crc": "test_fuzz_cpr_crc",
    "TIFF": "test_fuzz_tiff",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=3000, help="examples per reader")
    args = parser.parse_args()
    env = {**os.environ, "GRAINSEG_FUZZ_EXAMPLES": str(args.examples), "GRAINSEG_FUZZ_RANDOM": "1"}
    rows = []
    for reader, test in TESTS.items():
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:logging", "-p", "no:cacheprovider",
             f"tests/test_fuzz_readers.py::{test}"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        seconds = time.perf_counter() - t0
        outcome = "passed" if proc.returncode == 0 else "FAILED"
        rows.append((reader, args.examples, seconds, outcome))
        print(f"{reader:22s} {args.examples:6d} examples {seconds:7.1f} s  {outcome}", flush=True)
        if proc.returncode:
            print(proc.stdout[-4000:])
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Fuzzing the readers",
        "",
        f"Command: `.venv/bin/python benchmarks/fuzz_readers.py --examples {args.examples}` "
        f"({stamp}; 2-core CPU, shared with other jobs, so times are loose; "
        f"Python {platform.python_version()}).",
        "",
        "Each example mutates a small valid seed (truncation, byte flips, number tokens replaced "
        "by odd values, lines dropped or duplicated) and checks that only `GrainsegError` "
        "escapes `read_ebsd` / `read_micrograph` and that what they return is sane.",
        "",
        "| reader | examples | wall time (s) | outcome |",
        "|---|---:|---:|---|",
        *(f"| {r} | {n} | {s:.1f} | {o} |" for r, n, s, o in rows),
        "",
    ]
    out = ROOT / "benchmarks" / "results" / "fuzz.md"
    out.write_text("\n".join(lines) + FINDINGS)
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
  it was stopped); now refused when the stored bytes cannot hold it. This run is made under
  `ulimit -v 4000000` so that any such case fails instead of exhausting the machine.
- TIFF: a header cut after two bytes (struct.error) and a damaged zlib stream (zlib.error)
  escaped; tifffile's own log lines about skipped damaged tags reached stderr (now notes).
"""


if __name__ == "__main__":
    sys.exit(main())
