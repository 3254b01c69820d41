"""Run every benchmark script, then assemble BENCHMARKS.md from their result pages.

Each ``benchmarks/bench_*.py`` measures one figure and writes ``benchmarks/results/<topic>.md``
(command, machine, date, numbers). This script runs them one after another (``make bench``) and
joins the pages into ``BENCHMARKS.md``. ``--assemble-only`` skips the runs.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["synth", "ebsd", "register", "models", "train", "train_ablation", "table2", "topology",
         "topology_finetune", "infer", "infer_defaults", "cluster", "infer_postprocess", "accuracy",
         "accuracy_dev", "accuracy_quick",
         "finetune_corrections", "grains", "model", "fuzz"]

HEADER = """# Benchmarks

Every figure below was measured by a script in `benchmarks/` (`make bench` runs them all and
rebuilds this page from `benchmarks/results/*.md`). Each section names its command, the machine
and the date. Figures marked "shared" were measured while other jobs used the same 2-core CPU:
they are upper bounds on the time an idle machine needs.
"""


def assemble() -> None:
    pages = sorted((ROOT / "benchmarks" / "results").glob("*.md"))
    rank = {name: i for i, name in enumerate(ORDER)}
    pages.sort(key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))
    body = "\n\n".join(p.read_text(encoding="utf-8").strip() for p in pages)
    target = ROOT / "BENCHMARKS.md"
    tmp = target.with_suffix(".md.part")
    tmp.write_text(HEADER + "\n" + body + "\n", encoding="utf-8")
    tmp.replace(target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assemble-only", action="store_true")
    args = parser.parse_args()
    failed = []
    if not args.assemble_only:
        for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
            start = time.perf_counter()
            print(f"== {script.name}", flush=True)
            code = subprocess.call([sys.executable, str(script)], cwd=ROOT)
            print(f"== {script.name}: exit {code} in {time.perf_counter() - start:.0f} s", flush=True)
            if code:
                failed.append(script.name)
    assemble()
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
