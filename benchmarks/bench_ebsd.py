"""Speed of the EBSD pipeline on a 1000 x 1000 cubic map, side by side with orix.

Builds a synthetic single-phase m-3m map (Voronoi grains of random orientation, 0.5 degree
orientation noise per point, a Sigma 3 twin for every tenth grain), then times

- ours: neighbour misorientations (right + down), boundary classes, grain IDs (10 degrees);
- orix: the same neighbour angles with ``Orientation.angle_with`` (symmetry Oh),

checks that both give the same angles, prints the figures and writes them to
``benchmarks/results/ebsd.md``.

Run: ``.venv/bin/python benchmarks/bench_ebsd.py``
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from grainseg.ebsd.boundaries import boundary_classes
from grainseg.ebsd.grains import reconstruct_grains
from grainseg.ebsd.misorientation import neighbour_misorientation_deg
from grainseg.ebsd.quaternion import quat_multiply
from grainseg.io.atomic import write_text_atomic
from grainseg.io.ebsd.map import EBSDMap, Phase

SIZE = 1000
N_GRAINS = 2000
REPEATS = 3


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def synthetic_map(size: int = SIZE, n_grains: int = N_GRAINS, seed: int = 0) -> EBSDMap:
    """A (size, size) m-3m map of Voronoi grains with per-point orientation noise."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, size, (n_grains, 2))
    rows, cols = np.mgrid[:size, :size]
    _, label = cKDTree(seeds).query(np.column_stack([rows.ravel(), cols.ravel()]))
    grain_q = _unit(rng.normal(size=(n_grains, 4)))
    twin = np.concatenate([[np.cos(np.pi / 6)], np.sin(np.pi / 6) * np.ones(3) / np.sqrt(3)])
    parents = rng.integers(0, n_grains, n_grains // 10)
    grain_q[1::10][: parents.size] = quat_multiply(twin, grain_q[parents])
    noise_angle = np.radians(rng.normal(0, 0.5, size * size))
    axes = _unit(rng.normal(size=(size * size, 3)))
    noise = np.column_stack([np.cos(noise_angle / 2), np.sin(noise_angle / 2)[:, None] * axes])
    quats = quat_multiply(noise, grain_q[label]).astype(np.float32).reshape(size, size, 4)
    phase_ids = np.zeros((size, size), dtype=np.int16)
    return EBSDMap(quats, phase_ids, phase_ids >= 0, 0.1, [Phase("Nickel", "m-3m")])


def time_ours(ebsd_map: EBSDMap) -> tuple[dict[str, float], tuple, np.ndarray]:
    """Best-of-REPEATS seconds of each stage and the results of the last run."""
    best = {"misorientation": np.inf, "classes": np.inf, "grains": np.inf}
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        mis = neighbour_misorientation_deg(ebsd_map)
        t1 = time.perf_counter()
        classes = boundary_classes(ebsd_map, misorientation=mis)
        t2 = time.perf_counter()
        grains = reconstruct_grains(ebsd_map, 10.0, misorientation=mis, classes=classes)
        t3 = time.perf_counter()
        for key, value in zip(best, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            best[key] = min(best[key], value)
    return best, mis, grains


def time_orix(ebsd_map: EBSDMap) -> tuple[float, np.ndarray, np.ndarray]:
    """Seconds for orix's angle_with on the same neighbour pairs, and its angles."""
    from orix.quaternion import Orientation, symmetry

    q = ebsd_map.quaternions
    t0 = time.perf_counter()
    right = Orientation(q[:, :-1].reshape(-1, 4), symmetry=symmetry.Oh).angle_with(
        Orientation(q[:, 1:].reshape(-1, 4), symmetry=symmetry.Oh), degrees=True
    )
    down = Orientation(q[:-1].reshape(-1, 4), symmetry=symmetry.Oh).angle_with(
        Orientation(q[1:].reshape(-1, 4), symmetry=symmetry.Oh), degrees=True
    )
    return time.perf_counter() - t0, right, down


def main() -> None:
    ebsd_map = synthetic_map()
    load_before = os.getloadavg()[0]
    stages, (right, down), grains = time_ours(ebsd_map)
    total = sum(stages.values())
    orix_s, orix_right, orix_down = time_orix(ebsd_map)
    max_diff = max(
        np.abs(right.ravel() - orix_right).max(), np.abs(down.ravel() - orix_down).max()
    )
    lines = [
        "## EBSD: misorientation, boundary classes and grain IDs on a 1000 x 1000 map",
        "",
        "Command: `.venv/bin/python benchmarks/bench_ebsd.py`  ",
        f"Machine: {os.cpu_count()}-core CPU ({platform.machine()}), shared (load average "
        f"{load_before:.1f} at the start)  ",
        f"Date: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}",
        "",
        f"Synthetic m-3m map, {SIZE} x {SIZE} points, {N_GRAINS} Voronoi grains with 0.5 degree "
        f"orientation noise and Sigma 3 twins; {grains.max()} grains found at 10 degrees. "
        f"Ours: best of {REPEATS} runs. orix: `Orientation.angle_with` (symmetry Oh) on the same "
        "right and lower neighbour pairs, one run. Largest angle difference ours vs orix: "
        f"{max_diff:.1e} degrees.",
        "",
        "| step | seconds |",
        "| --- | --- |",
        *(f"| ours: {key} | {value:.3f} |" for key, value in stages.items()),
        f"| **ours: total (misorientation + classes + grain IDs)** | **{total:.3f}** |",
        f"| orix: neighbour angles only | {orix_s:.3f} |",
        "",
        f"Speed-up on the neighbour angles: {orix_s / stages['misorientation']:.0f}x; our whole "
        f"pipeline is {orix_s / total:.0f}x faster than orix's angles alone.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    write_text_atomic(Path(__file__).resolve().parent / "results" / "ebsd.md", text)


if __name__ == "__main__":
    main()
