"""Scores and speed of the shipped model (docs/model-card.md), and its figures on real images.

    .venv/bin/python benchmarks/bench_model.py [--model PATH] [--n 6]

Held-out synthetic specimens (seeds the training never used, default look and random look):
tolerance F1 (2 px) and grain ARI against the true boundaries, grain-size and aspect-ratio
Jensen-Shannon distances against the true grains. Real micrographs (../shared/data/sem, when
present): the time `segment_image` takes per 1024 x 954 image and the overlays
(docs/real_overlay*.png). Writes benchmarks/results/model.md.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from grainseg.grains.analysis import analyse_grains, compare_to_reference, grain_map_from_array  # noqa: E402
from grainseg.infer.segment import load_predictor, segment_image  # noqa: E402
from grainseg.io.tiff import read_micrograph  # noqa: E402
from grainseg.metrics.boundary import tolerance_counts, tolerance_scores  # noqa: E402
from grainseg.metrics.grains import grain_ari  # noqa: E402
from grainseg.models import default_model_path  # noqa: E402
from grainseg.overlay import overlay_rgb  # noqa: E402
from grainseg.preprocess import preprocess_sem  # noqa: E402
from grainseg.synth import generate_specimen  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "data" / "sem"


def synthetic_scores(predict, meta: dict, n: int) -> list[dict]:
    """Score the model on ``n`` held-out specimens of each look."""
    rows = []
    for look in ("default", "random"):
        for i in range(n):
            spec = generate_specimen(768, 1024, seed=900_000 + i, grain_size_um=4.0,
                                     pixel_size_um=0.05, appearance=look, max_drift_px=10)
            result = segment_image(spec.sem, predict, median_px=meta.get("median_px", 3))
            rows_kept = result.data_bar_row
            true_b = spec.boundaries[:rows_kept] > 0
            pred_b = result.boundaries > 0
            f1 = tolerance_scores(tolerance_counts(pred_b, true_b, 2.0))["boundary_f1"]
            ari = grain_ari(pred_b, true_b)
            pred = analyse_grains(grain_map_from_array(result.grain_ids, 0.05), 3.0)
            true = analyse_grains(grain_map_from_array(spec.grain_ids[:rows_kept], 0.05), 3.0)
            dist, _ = compare_to_reference(pred, true)
            rows.append({"look": look, "seed": 900_000 + i, "f1": f1, "ari": ari,
                         "js_size": dist.get("size_js_fit_lognormal"),
                         "js_aspect": dist.get("aspect_ratio_js_fit"),
                         "n_true": int(true.summary["n_grains"]),
                         "n_pred": int(pred.summary["n_grains"])})
            print(rows[-1], flush=True)
    return rows


def real_images(predict, meta: dict) -> tuple[list[tuple[str, float, int]], list[np.ndarray]]:
    """Segment every real micrograph; time each and return its overlay."""
    timings, overlays = [], []
    for path in sorted(REAL.glob("*.tif")):
        image = read_micrograph(path).image
        start = time.perf_counter()
        result = segment_image(image, predict, median_px=meta.get("median_px", 3))
        seconds = time.perf_counter() - start
        timings.append((path.name, seconds, int(result.grain_ids.max())))
        shown = preprocess_sem(image[: result.data_bar_row], 0)
        overlays.append(overlay_rgb(shown, result.boundaries > 0))
        print(path.name, f"{seconds:.2f} s", int(result.grain_ids.max()), "grains", flush=True)
    return timings, overlays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model_path())
    parser.add_argument("--n", type=int, default=3, help="held-out specimens per look")
    args = parser.parse_args()
    torch.set_num_threads(2)
    predict, meta = load_predictor(args.model, "cpu")
    rows = synthetic_scores(predict, meta, args.n)
    timings, overlays = real_images(predict, meta) if REAL.is_dir() else ([], [])
    docs = ROOT / "docs"
    for k, overlay in enumerate(overlays[:2]):
        with tempfile.NamedTemporaryFile(suffix=".png", dir=docs, delete=False) as tmp:
            plt.imsave(tmp.name, overlay)
        Path(tmp.name).replace(docs / f"real_overlay{'' if k == 0 else '_2'}.png")

    def mean(key: str, look: str) -> str:
        values = [r[key] for r in rows if r["look"] == look and r[key] is not None]
        return f"{np.nanmean(values):.3f}" if values else "n/a"

    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    lines = [
        "## The shipped model (docs/model-card.md)",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_model.py --n {args.n}`  ",
        f"Machine: {platform.machine()} CPU, 2 threads, torch {torch.__version__}  ",
        f"Date: {date}  ",
        f"Model: `{args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model}`"
        f" ({meta.get('arch')}, width {meta.get('width')})",
        "",
        "Held-out synthetic specimens, 1024 x 768 px at 0.05 um/px, mean grain size 4 um, seeds "
        "900000+ (never used in training); scores against the exact truth, grains >= 3 px ECD:",
        "",
        "| look | specimens | tolerance F1 (2 px) | grain ARI | JS size (log-normal fits) "
        "| JS aspect ratio (beta fits) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for look in ("default", "random"):
        lines.append(f"| {look} | {args.n} | {mean('f1', look)} | {mean('ari', look)} | "
                     f"{mean('js_size', look)} | {mean('js_aspect', look)} |")
    if timings:
        lines += ["", "Real micrographs (../shared/data/sem, 1024 x 954 px, `segment_image` end to "
                  "end: preprocessing, tiled network, closed network):", "",
                  "| image | seconds | grains |", "| --- | --- | --- |"]
        lines += [f"| {name} | {sec:.2f} | {n} |" for name, sec, n in timings]
    out = ROOT / "benchmarks" / "results" / "model.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(out.read_text())


if __name__ == "__main__":
    main()
