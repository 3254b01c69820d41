"""Grain statistics: speed on a 2048 x 1536 map, exactness on known shapes, NIST's steel map.

Run: .venv/bin/python benchmarks/bench_grains.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.draw import disk, ellipse

from grainseg.grains.analysis import analyse_grains, grain_map_from_array
from grainseg.grains.astm import (
    astm_g_from_intercept,
    fill_boundaries,
    heyn_intercept,
    intercept_lengths_px,
    jeffries_planimetric,
)
from grainseg.grains.fits import fit_beta, fit_exponential, fit_lognormal
from grainseg.grains.measure import grain_table, grains_from_boundaries
from grainseg.io.tiff import read_micrograph

NIST_MAP = Path(__file__).resolve().parents[2] / "shared/data/micrographs/nist_steel_optical_boundaries.tif"
NIST_PIXEL_UM = 0.2252
# Published by NIST's grain-size-analysis-tools for this map (ex_grain_intercept/optical_etched):
# mean segment length of the CSV files, boundary pixels excluded, segments <= 2 px dropped.
NIST_LINE_GRID_MEAN_PX = 37.18  # 871 segments, lines at 0, 45, 90, 135, 180 degrees
NIST_LINE_GRID_0DEG_MEAN_PX = 35.97  # 183 segments, rows 19, 79, ..., 559
NIST_E112_PATTERN_MEAN_PX = 39.52  # 127 segments, 4 lines + 3 circles on the central square


def voronoi_boundaries(shape=(1536, 2048), n_grains=3000, width_px=3, seed=0) -> np.ndarray:
    """Boundary mask of a Voronoi tessellation with bands about ``width_px`` wide."""
    rng = np.random.default_rng(seed)
    seeds = np.zeros(shape, bool)
    seeds[rng.integers(0, shape[0], n_grains), rng.integers(0, shape[1], n_grains)] = True
    _, (rows, cols) = ndimage.distance_transform_edt(~seeds, return_indices=True)
    cells = rows * shape[1] + cols
    edge = np.zeros(shape, bool)
    edge[:, 1:] |= cells[:, 1:] != cells[:, :-1]
    edge[1:, :] |= cells[1:, :] != cells[:-1, :]
    return ndimage.binary_dilation(edge, iterations=max(0, (width_px - 1) // 2))


def best_of(function, repeats=3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def speed() -> None:
    boundary = voronoi_boundaries()
    ids = grains_from_boundaries(boundary)
    table = grain_table(ids, 0.08)
    filled = fill_boundaries(ids)
    print(f"## Speed: 2048 x 1536 Voronoi map, {ids.max()} grains, 3 px boundaries "
          "(best of 3, seconds)\n")
    print("| step | seconds |\n|---|---|")
    steps = {
        "grains_from_boundaries": lambda: grains_from_boundaries(boundary),
        "grain_table": lambda: grain_table(ids, 0.08),
        "fits (beta, exponential, log-normal)": lambda: (
            fit_beta(table["aspect_ratio"]), fit_exponential(table["ecd_um"], 0.24),
            fit_lognormal(table["ecd_um"])),
        "fill_boundaries (once, shared by both ASTM methods)": lambda: fill_boundaries(ids),
        "heyn_intercept (4 directions, filled map)": lambda: heyn_intercept(filled, 0.08),
        "jeffries_planimetric (filled map)": lambda: jeffries_planimetric(filled, 0.08),
    }
    total = 0.0
    for name, function in steps.items():
        seconds = best_of(function)
        total += seconds
        print(f"| {name} | {seconds:.4f} |")
    print(f"| **grain statistics total (no width)** | **{total:.3f}** |")
    grain_map = grain_map_from_array(boundary.astype(np.uint8) * 255, 0.08)
    print(f"| analyse_grains incl. boundary widths (skeleton) | "
          f"{best_of(lambda: analyse_grains(grain_map)):.3f} |")


def exactness() -> None:
    print("\n## Exactness on shapes with known answers\n")
    print("| case | relative error |\n|---|---|")
    ids = np.zeros((700, 700), np.int32)
    for k, radius in enumerate((25, 60, 150)):
        rr, cc = disk((170 + 360 * (k % 2), 170 + 360 * (k // 2)), radius)
        ids[rr, cc] = k + 1
    table = grain_table(ids)
    ecd_err = np.abs(table["ecd_px"] / (2 * np.array([25, 60, 150])) - 1).max()
    print(f"| discs r = 25, 60, 150 px: ECD | {ecd_err:.2e} |")
    print(f"| discs: aspect ratio | {np.abs(table['aspect_ratio'] - 1).max():.2e} |")
    ids = np.zeros((400, 400), np.int32)
    rr, cc = ellipse(200, 200, 40, 120, rotation=np.radians(30))
    ids[rr, cc] = 1
    table = grain_table(ids)
    print(f"| ellipse 40 x 120 px at 30 deg: aspect ratio | "
          f"{abs(table['aspect_ratio'][0] / (1 / 3) - 1):.2e} |")
    print(f"| ellipse: orientation (deg off) | {abs(table['orientation_deg'][0] - 30):.2f} |")
    period, n = 100, 8
    boundary = np.zeros((period * n, period * n), bool)
    boundary[period // 2 :: period] = True
    boundary[:, period // 2 :: period] = True
    grid = grains_from_boundaries(boundary)
    for angle in (0, 30, 45, 90):
        result = heyn_intercept(grid, 1.0, angles_deg=(angle,), spacing_px=1)
        theta = np.radians(angle)
        expected = period / (abs(np.cos(theta)) + abs(np.sin(theta)))
        g_err = abs(result["astm_g_intercept"] - astm_g_from_intercept(expected)) / abs(
            astm_g_from_intercept(expected))
        print(f"| grid of {period} px squares, intercept at {angle} deg | "
              f"{abs(result['mean_intercept_px'] / expected - 1):.2e} (G {g_err:.1e}) |")
    count = jeffries_planimetric(grid, 1.0)["equivalent_count"]
    print(f"| grid: Jeffries count ({n * n} grains) | {abs(count / n**2 - 1):.2e} |")


def nist() -> None:
    if not NIST_MAP.is_file():
        print(f"\n(NIST map not found at {NIST_MAP}; skipped)")
        return
    mask = read_micrograph(NIST_MAP).image > 0
    ids = grains_from_boundaries(mask)
    heyn = heyn_intercept(ids, NIST_PIXEL_UM, spacing_px=1)
    jeffries = jeffries_planimetric(ids, NIST_PIXEL_UM)
    zero = intercept_lengths_px(mask[19::60], 0.0, 1)
    zero = zero[zero > 2]
    segments = np.concatenate([intercept_lengths_px(mask, a, 1) for a in (0, 45, 90, 135)])
    segments = segments[segments > 2]
    print(f"\n## NIST steel map ({NIST_PIXEL_UM} um/px): grainseg vs NIST grain-size-analysis-tools\n")
    print("| quantity | grainseg | NIST / ASTM G |\n|---|---|---|")
    print(f"| NIST segments at 0 deg, NIST's rows: mean / count | {zero.mean():.2f} px / "
          f"{zero.size} | NIST: {NIST_LINE_GRID_0DEG_MEAN_PX} px / 183 |")
    print(f"| segments, every line at 0/45/90/135 deg: mean | {segments.mean():.2f} px | NIST "
          f"line grid: {NIST_LINE_GRID_MEAN_PX} px; E112 pattern: {NIST_E112_PATTERN_MEAN_PX} px |")
    by = ", ".join(f"{a['angle_deg']:.0f}: {a['mean_intercept_px']:.1f}" for a in heyn["by_angle"])
    print(f"| Heyn mean lineal intercept (boundaries included) | {heyn['mean_intercept_px']:.2f} px "
          f"= {heyn['mean_intercept_um']:.3f} um ({by}) | G = {heyn['astm_g_intercept']:.2f} |")
    print(f"| Jeffries: {jeffries['n_inside']} inside, {jeffries['n_edge']} edge, 4 corners | "
          f"{jeffries['grains_per_mm2']:.0f} grains/mm2, mean area "
          f"{jeffries['mean_grain_area_um2']:.1f} um2 | G = {jeffries['astm_g_planimetric']:.2f} |")


if __name__ == "__main__":
    speed()
    exactness()
    nist()
