"""Registration benchmark on synthetic specimens with known drift.

For each specimen (seeds not used by the tests): register the EBSD map to the SEM image
(`--register auto`), measure the residual between the recovered and the true SEM -> EBSD mapping
(SEM px), and score the rendered labels against the true boundaries at 2 px tolerance (F1, with
`grainseg.metrics.boundary`), before registration (the nominal mapping from the files) and after.
Then time one 2048 x 1536 specimen end to end (registration + labels).

    .venv/bin/python benchmarks/bench_register.py [--n 20] [--size 1024x768] [--speed]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from grainseg.labels import label_source, render_labels
from grainseg.metrics.boundary import tolerance_counts, tolerance_scores
from grainseg.preprocess import data_bar_start_row, preprocess_sem
from grainseg.register import nominal_mapping, register_ebsd
from grainseg.register.mapping import displacement_sem_px, pixel_grid
from grainseg.synth import generate_specimen


def prepare(specimen):
    bar = data_bar_start_row(specimen.sem)
    sem = np.zeros(specimen.sem.shape, np.float32)
    sem[:bar] = preprocess_sem(specimen.sem[:bar])
    valid = np.zeros(sem.shape, bool)
    valid[:bar] = True
    return sem, valid, bar


def evaluate(seed: int, height: int, width: int) -> dict:
    # Grain size scaled with the image so that as many grains are in view as in a default
    # 2048 x 1536 specimen (15 um grains at 0.05 um/px).
    grain_size_um = 15.0 * width / 2048
    specimen = generate_specimen(
        height, width, seed, max_drift_px=40.0, grain_size_um=grain_size_um
    )
    sem, valid, bar = prepare(specimen)
    source = label_source(specimen.ebsd)
    scale = specimen.ebsd.step_um / specimen.pixel_size_um
    start = time.perf_counter()
    reg = register_ebsd(sem, valid, source.segments, scale, "auto")
    seconds = time.perf_counter() - start
    x, y = pixel_grid(sem.shape, 2)
    u, v = reg.mapping(x, y)
    du = u - specimen.ebsd_col[::2, ::2]
    dv = v - specimen.ebsd_row[::2, ::2]
    rows, cols = specimen.ebsd.shape
    # Over the overlap: SEM pixels whose true EBSD position lies on the map.
    on_map = (
        valid[::2, ::2]
        & (specimen.ebsd_col[::2, ::2] >= -0.5)
        & (specimen.ebsd_col[::2, ::2] <= cols - 0.5)
        & (specimen.ebsd_row[::2, ::2] >= -0.5)
        & (specimen.ebsd_row[::2, ::2] <= rows - 0.5)
    )
    residual = displacement_sem_px(reg.mapping.affine, du, dv)[on_map]
    truth = specimen.boundaries > 0
    valid_rows = bar if bar < height else None
    scores = {}
    for name, mapping in (("before", nominal_mapping(scale)), ("after", reg.mapping)):
        label, ignore, _ = render_labels(mapping, sem.shape, source, 3, valid_rows)
        counts = tolerance_counts(label > 0, truth, 2.0, valid=(ignore == 0) & valid)
        scores[name] = tolerance_scores(counts)["boundary_f1"]
    true_drift = np.hypot(specimen.drift_col_px, specimen.drift_row_px).max()
    return {
        "seed": seed,
        "true_drift_max_px": float(true_drift),
        "residual_median_px": float(np.median(residual)),
        "residual_p95_px": float(np.percentile(residual, 95)),
        "f1_before": scores["before"],
        "f1_after": scores["after"],
        "score_before": reg.score_before,
        "score_after": reg.score_after,
        "seconds": seconds,
        "residual_px": residual[::7],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1000)
    parser.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT of the specimens")
    parser.add_argument("--speed", action="store_true", help="also time one 2048x1536 specimen")
    parser.add_argument(
        "--mismatched", type=int, default=0, help="also score N SEM images against other EBSD maps"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rows = []
    print(
        "| seed | true drift max px | residual median px | residual p95 px | F1@2px before "
        "| F1@2px after | score before | score after | s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for seed in range(args.first_seed, args.first_seed + args.n):
        r = evaluate(seed, height, width)
        rows.append(r)
        print(
            f"| {r['seed']} | {r['true_drift_max_px']:.1f} | {r['residual_median_px']:.2f} | "
            f"{r['residual_p95_px']:.2f} | {r['f1_before']:.3f} | {r['f1_after']:.3f} | "
            f"{r['score_before']:.2f} | {r['score_after']:.2f} | {r['seconds']:.1f} |",
            flush=True,
        )
    if rows:
        pooled = np.concatenate([r["residual_px"] for r in rows])
        print(
            f"\nover {len(rows)} specimens {width}x{height}, pooled pixels: residual median "
            f"{np.median(pooled):.2f} px, p95 {np.percentile(pooled, 95):.2f} px; per specimen: worst "
            f"median {max(r['residual_median_px'] for r in rows):.2f} px, worst p95 "
            f"{max(r['residual_p95_px'] for r in rows):.2f} px; F1@2px mean before "
            f"{np.mean([r['f1_before'] for r in rows]):.3f}, after "
            f"{np.mean([r['f1_after'] for r in rows]):.3f} (min after "
            f"{min(r['f1_after'] for r in rows):.3f})"
        )
    for pair in range(args.mismatched):
        grain_size_um = 15.0 * width / 2048
        a, b = (
            generate_specimen(height, width, 3001 + 2 * pair + k, grain_size_um=grain_size_um)
            for k in (0, 1)
        )
        sem, valid, _ = prepare(a)
        source = label_source(b.ebsd)
        reg = register_ebsd(sem, valid, source.segments, b.ebsd.step_um / a.pixel_size_um)
        print(f"mismatched pair {pair}: score {reg.score_after:.2f}, coverage {reg.coverage:.2f}")
    if args.speed:
        specimen = generate_specimen(1536, 2048, 7777)
        start = time.perf_counter()
        sem, valid, bar = prepare(specimen)
        source = label_source(specimen.ebsd)
        scale = specimen.ebsd.step_um / specimen.pixel_size_um
        reg = register_ebsd(sem, valid, source.segments, scale, "auto")
        render_labels(reg.mapping, sem.shape, source, 3, bar if bar < 1536 else None)
        print(
            f"2048x1536 end to end (preprocess, EBSD classes, registration, labels): "
            f"{time.perf_counter() - start:.1f} s (registration {reg.seconds:.1f} s)"
        )


if __name__ == "__main__":
    main()
