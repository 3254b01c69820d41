"""Benchmark of `grainseg synth`: time and peak memory per specimen, and likeness to real images.

Run: .venv/bin/python benchmarks/bench_synth.py [--repeat 3] [--figure docs/synth_vs_real.png]

Prints the generation and writing time of one 2048 x 1536 specimen (issue 2: <= 10 s, <= 2 GB
on 2 cores), the noise statistics of synthetic and real images side by side, and with
``--figure`` draws synthetic and real crops at about the same pixel size.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from grainseg.io.tiff import read_micrograph
from grainseg.synth import generate_specimen, write_specimen
from grainseg.synth.likeness import sem_noise_statistics

REAL = sorted(Path(__file__).resolve().parents[2].joinpath("shared/data/sem").glob("*.tif"))


def time_specimen(repeat: int) -> None:
    """Time generate + write of a 2048 x 1536 specimen; report the best and the peak RSS."""
    gen_s, write_s = [], []
    for k in range(repeat):
        start = time.perf_counter()
        specimen = generate_specimen(1536, 2048, seed=k)
        gen_s.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_specimen(specimen, tmp, "bench")
            write_s.append(time.perf_counter() - start)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    total = np.array(gen_s) + np.array(write_s)
    print(
        f"2048x1536 specimen: generate {min(gen_s):.2f} s, write {min(write_s):.2f} s, "
        f"total best {total.min():.2f} s / median {np.median(total):.2f} s "
        f"over {repeat}; peak RSS {peak_gb:.2f} GB"
    )
    for size in (256, 512, 1024):
        start = time.perf_counter()
        generate_specimen(size, size, seed=1)
        print(f"{size}x{size} specimen: generate {time.perf_counter() - start:.2f} s")


def likeness() -> None:
    """Noise statistics (DESIGN.md definitions) of real and synthetic images."""
    keys = ("noise_sigma", "lag1_corr_x", "lag1_corr_y", "scanline_sigma", "data_bar_rows")
    print("image | " + " | ".join(keys))
    for path in REAL:
        stats = sem_noise_statistics(read_micrograph(path).image)
        print(f"{path.name} | " + " | ".join(f"{stats[k]:.3f}" for k in keys))
    for seed in range(3):
        sem = generate_specimen(954, 1024, seed, pixel_size_um=0.08, grain_size_um=20).sem
        stats = sem_noise_statistics(sem)
        print(f"synthetic seed {seed} | " + " | ".join(f"{stats[k]:.3f}" for k in keys))


def figure(path: Path) -> None:
    """Synthetic (top) and real (bottom) images, same size and about the same pixel size; the
    last column zooms into a 200 x 200 crop of the first image at full resolution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = [read_micrograph(p) for p in REAL[:3]]
    # The real steel is heavily twinned: ask for a high twin fraction, as a user would.
    synth = [
        generate_specimen(954, 1024, seed, pixel_size_um=0.08, grain_size_um=18, twin_fraction=0.8)
        for seed in (0, 1, 2)
    ]
    fig, axes = plt.subplots(2, 4, figsize=(20, 9.6), width_ratios=[1, 1, 1, 0.93])
    rows = [
        [(s.sem, f"synthetic, seed {s.params['seed']} (80 nm/px)") for s in synth],
        [(m.image, f"real: {m.path.name} ({m.pixel_size_um * 1000:.0f} nm/px)") for m in real],
    ]
    for ax_row, images in zip(axes, rows, strict=True):
        for ax, (image, title) in zip(ax_row[:3], images, strict=True):
            ax.imshow(image, cmap="gray", interpolation="lanczos")
            ax.set_title(title)
        first = images[0][0]
        ax_row[3].imshow(first[300:500, 300:500], cmap="gray", interpolation="nearest")
        ax_row[3].set_title("200 x 200 px crop of the first, 1:1 pixels")
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=65)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--figure", type=Path, help="also draw the synthetic-vs-real figure")
    parser.add_argument("--skip-timing", action="store_true")
    args = parser.parse_args()
    if not args.skip_timing:
        time_specimen(args.repeat)
    likeness()
    if args.figure:
        figure(args.figure)


if __name__ == "__main__":
    main()
