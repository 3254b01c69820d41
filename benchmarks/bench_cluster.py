"""Batch segmentation throughput: in one process against 1 and 2 local Dask workers.

The same batch (the real 1024 x 954 micrographs of ../shared/data/sem, copied ``--repeat``
times under distinct names) goes through `grainseg.infer.batch.segment_batch` with the shipped
model and the default tiling: in this process with all CPU threads, then with ``--cluster
local:1`` (one worker, all threads) and ``local:2`` (two workers, half the threads each: the same
total). Times are wall-clock for the whole batch, cluster start-up included (measured
separately too). Each run's outputs are compared byte for byte with the in-process run's; with
fewer torch threads per process the float32 probabilities may differ in the last bits (the
convolutions sum in another order), which the "identical" column then shows.

Writes benchmarks/results/cluster.md. Run on an idle machine:
``.venv/bin/python benchmarks/bench_cluster.py``
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from grainseg.infer.batch import segment_batch
from grainseg.layout import SEGMENT_SUFFIXES
from grainseg.models import default_model_path

ROOT = Path(__file__).resolve().parents[1]
SEM = ROOT.parent / "shared" / "data" / "sem"


def cluster_start_seconds(n_workers: int) -> float:
    """Time to start and stop a LocalCluster of ``n_workers`` processes (no work)."""
    from grainseg.cluster import dask_client

    start = time.perf_counter()
    with dask_client(f"local:{n_workers}") as client:
        client.wait_for_workers(n_workers)
    return time.perf_counter() - start


def outputs_of(folder: Path, images: list[Path]) -> dict[str, bytes]:
    return {f"{p.stem}{s}": (folder / f"{p.stem}{s}").read_bytes()
            for p in images for s in SEGMENT_SUFFIXES.values()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=4,
                        help="copies of each real image in the batch (default 4: 20 images)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cluster.md")
    args = parser.parse_args()
    sources = sorted(SEM.glob("*.tif"))
    if not sources:
        sys.exit(f"no real micrographs in {SEM}")
    settings = dict(tile_px=None, overlap=None, batch=None, threshold=0.5, min_grain_px=20)
    rows, reference = [], None
    with tempfile.TemporaryDirectory(dir=ROOT) as folder:
        folder = Path(folder)
        (folder / "in").mkdir()
        images = []
        for copy in range(args.repeat):
            for src in sources:
                images.append(folder / "in" / f"{src.stem}_{copy}.tif")
                shutil.copyfile(src, images[-1])
        for label, cluster in (("in this process", None), ("local:1", "local:1"),
                               ("local:2", "local:2")):
            out = folder / label.replace(" ", "_").replace(":", "")
            out.mkdir()
            start_s = cluster_start_seconds(int(cluster[-1])) if cluster else 0.0
            load = os.getloadavg()[0]
            start = time.perf_counter()
            result = segment_batch(images, out, default_model_path(), device="cpu",
                                   settings=settings, cluster=cluster)
            seconds = time.perf_counter() - start
            assert not result["failed"], result["failed"]
            files = outputs_of(out, images)
            reference = reference or files
            identical = files == reference
            rows.append((label, seconds, len(images) / seconds, start_s, identical, load))
            print(f"{label}: {seconds:.1f} s, {len(images) / seconds:.2f} images/s, "
                  f"cluster start {start_s:.1f} s, identical {identical}, load {load:.1f}",
                  flush=True)
    command = " ".join([".venv/bin/python benchmarks/bench_cluster.py", *sys.argv[1:]])
    page = [
        "## Batch segmentation: one process against 1 and 2 local Dask workers",
        "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}), torch {torch.__version__}"
        f"  ",
        f"Date: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}",
        "",
        f"{len(images)} real 1024 x 954 micrographs (the {len(sources)} of ../shared/data/sem, "
        f"{args.repeat} copies each), shipped model, default tiling, `segment_batch` wall time "
        "including the cluster start; the threads are shared evenly between workers "
        f"({os.cpu_count()} in all).",
        "",
        "| run | seconds | images/s | cluster start alone (s) | outputs identical | load (1 min) |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {label} | {s:.1f} | {rate:.2f} | {start_s:.1f} | {'yes' if same else 'NO'} | "
          f"{load:.1f} |" for label, s, rate, start_s, same, load in rows],
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".md.part")
    tmp.write_text("\n".join(page) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
