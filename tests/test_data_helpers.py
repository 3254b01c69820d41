"""Tiny synthetic SEM/label pairs for the data, train and metrics tests (no tests here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from skimage.segmentation import find_boundaries

from grainseg.io.tiff import write_tiff


def voronoi_grains(shape: tuple[int, int], n_grains: int, seed: int) -> np.ndarray:
    """(H, W) int grain IDs 1..n of a random Voronoi tessellation."""
    rng = np.random.default_rng(seed)
    seeds = rng.uniform(0, 1, (n_grains, 2)) * np.array(shape)
    rows, cols = np.indices(shape)
    _, nearest = cKDTree(seeds).query(np.stack([rows.ravel(), cols.ravel()], axis=1))
    return nearest.reshape(shape) + 1


def make_pair(folder: Path, name: str, shape=(128, 128), n_grains=12, seed=0):
    """Write NAME_sem.tif (grain contrast + noise, uint8) and NAME_truth_boundaries.tif.

    Returns the synthetic-specimen prefix ``folder/name`` and the boundary mask.
    """
    rng = np.random.default_rng(seed + 1000)
    grains = voronoi_grains(shape, n_grains, seed)
    boundary = find_boundaries(grains, mode="inner")
    levels = rng.uniform(60, 200, grains.max() + 1)
    sem = levels[grains] + rng.normal(0, 6, shape)
    write_tiff(folder / f"{name}_sem.tif", np.clip(sem, 0, 255).astype(np.uint8))
    write_tiff(folder / f"{name}_truth_boundaries.tif", boundary.astype(np.uint8) * 255)
    return str(folder / name), boundary


def make_pairs(folder: Path, n: int = 4, shape=(128, 128)) -> list[str]:
    """``n`` specimen prefixes with different seeds."""
    return [make_pair(folder, f"spec_{i}", shape, seed=i)[0] for i in range(n)]
