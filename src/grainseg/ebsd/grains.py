"""Grain reconstruction on an EBSD map and the per-grain table.

Rules (each one a step of `reconstruct_grains`):

1. Two 4-neighbours belong to the same grain when both are indexed, of the same phase, and their
   disorientation is below ``threshold_deg``; a grain is a connected component of that graph
   (the flood fill of DefDAP and MTEX-style segmentation with 4-connectivity). The graph is
   labelled in one call of `scipy.ndimage.label` on a grid of twice the resolution whose odd
   sites are the edges, so no Python loop runs over points or grains.
2. ``merge_twins``: two adjacent grains whose shared boundary is at least half Sigma 3 twin
   segments (by length, see `grainseg.ebsd.boundaries`) are one grain; chains merge
   transitively (a twinned parent with all its twins).
3. ``min_size``: grains of fewer than ``min_size`` points are dissolved; their points take the
   grain of the nearest point of a remaining grain (Euclidean distance on the grid).
4. Not-indexed points: a 4-connected island of at most ``max_island_points`` not-indexed points
   takes, point by point, the grain of the nearest grain point (an island inside one grain takes
   that grain). Larger not-indexed areas stay unassigned (ID 0).

Grain IDs are then renumbered 1..N in raster order of each grain's first point.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from grainseg.ebsd.boundaries import TWIN, boundary_classes
from grainseg.ebsd.misorientation import neighbour_misorientation_deg
from grainseg.ebsd.quaternion import quat_multiply, quat_to_euler, symmetry_quaternions
from grainseg.errors import GrainsegError
from grainseg.grains.measure import grain_table
from grainseg.grains.merge import merge_labels
from grainseg.io.ebsd.map import EBSDMap

#: Default largest not-indexed island (points) that takes the surrounding grain.
DEFAULT_MAX_ISLAND_POINTS = 8
_FOUR = ndimage.generate_binary_structure(2, 1)


def _label_edge_graph(nodes: np.ndarray, right: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Connected components of a grid graph, labels 1..N in raster order, 0 off ``nodes``.

    ``right`` (R, C-1) / ``down`` (R-1, C) bool say which neighbour pairs are joined.
    """
    rows, cols = nodes.shape
    fine = np.zeros((2 * rows - 1, 2 * cols - 1), dtype=bool)
    fine[::2, ::2] = nodes
    fine[::2, 1::2] = right
    fine[1::2, ::2] = down
    labels, _ = ndimage.label(fine, structure=_FOUR)
    # The first site of every component in raster order is a node, so the node labels are
    # already 1..N in raster order of each grain's first point.
    return labels[::2, ::2]


def _renumber(grain_ids: np.ndarray) -> np.ndarray:
    """Renumber labels to 1..N in raster order of first occurrence (0 stays 0), uint32."""
    flat = grain_ids.ravel()
    labels, first = np.unique(flat, return_index=True)
    keep = labels > 0
    labels, first = labels[keep], first[keep]
    lut = np.zeros(int(flat.max()) + 1 if flat.size else 1, dtype=np.uint32)
    lut[labels[np.argsort(first)]] = np.arange(1, labels.size + 1, dtype=np.uint32)
    return lut[grain_ids]


def _merge_twins(grain_ids: np.ndarray, right_cls: np.ndarray, down_cls: np.ndarray) -> np.ndarray:
    """Merge grains that share a boundary made at least half of twin segments."""
    a = np.concatenate([grain_ids[:, :-1].ravel(), grain_ids[:-1, :].ravel()])
    b = np.concatenate([grain_ids[:, 1:].ravel(), grain_ids[1:, :].ravel()])
    twin = np.concatenate([right_cls.ravel(), down_cls.ravel()]) == TWIN
    between = (a != b) & (a > 0) & (b > 0)
    a, b, twin = np.minimum(a, b)[between], np.maximum(a, b)[between], twin[between]
    n = int(grain_ids.max()) + 1
    pair = a.astype(np.int64) * n + b
    pairs, inverse = np.unique(pair, return_inverse=True)
    twin_share = np.bincount(inverse, weights=twin) / np.bincount(inverse)
    merge = pairs[twin_share >= 0.5]
    merged = merge_labels(n, merge // n, merge % n)[grain_ids] + 1
    merged[grain_ids == 0] = 0
    return merged


def reconstruct_grains(
    ebsd_map: EBSDMap,
    threshold_deg: float = 10.0,
    min_size: int = 0,
    merge_twins: bool = False,
    max_island_points: int = DEFAULT_MAX_ISLAND_POINTS,
    misorientation: tuple[np.ndarray, np.ndarray] | None = None,
    classes: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Grain IDs of every point of an EBSD map (rules in the module notes).

    Parameters
    ----------
    ebsd_map : EBSDMap
    threshold_deg : float
        Neighbours closer than this disorientation (degrees) are in the same grain.
    min_size : int
        Smallest grain, in points; smaller grains are dissolved into their neighbours.
    merge_twins : bool
        Merge Sigma 3 twins into their parent grain.
    max_island_points : int
        Largest not-indexed island that takes the surrounding grain; 0 leaves every not-indexed
        point unassigned.
    misorientation : (right, down) arrays, optional
        `neighbour_misorientation_deg` of the map, if already computed.
    classes : (right, down) arrays, optional
        `boundary_classes` of the map, if already computed (used by ``merge_twins``).

    Returns
    -------
    (R, C) uint32 array
        1..N, numbered in raster order of each grain's first point; 0 = unassigned.

    Raises
    ------
    GrainsegError
        For a threshold outside (0, 180] or a negative size.
    """
    if not 0 < threshold_deg <= 180:
        raise GrainsegError(f"grain threshold must be in (0, 180] degrees, got {threshold_deg}")
    if min_size < 0 or max_island_points < 0:
        raise GrainsegError("minimum grain size and island size must be >= 0 points")
    right, down = misorientation or neighbour_misorientation_deg(ebsd_map)
    indexed = ebsd_map.phase_ids >= 0
    with np.errstate(invalid="ignore"):
        grain_ids = _label_edge_graph(indexed, right < threshold_deg, down < threshold_deg)

    if merge_twins:
        right_cls, down_cls = classes or boundary_classes(ebsd_map, misorientation=(right, down))
        grain_ids = _merge_twins(grain_ids, right_cls, down_cls)

    to_fill = np.zeros(grain_ids.shape, dtype=bool)
    if min_size > 1:
        sizes = np.bincount(grain_ids.ravel())
        small = sizes < min_size
        small[0] = False
        to_fill |= small[grain_ids]
        grain_ids = np.where(small[grain_ids], 0, grain_ids)
    if max_island_points > 0:
        islands, _ = ndimage.label(~indexed, structure=_FOUR)
        island_sizes = np.bincount(islands.ravel())
        small_island = island_sizes <= max_island_points
        small_island[0] = False
        to_fill |= small_island[islands]
    if to_fill.any() and grain_ids.any():
        _, (near_r, near_c) = ndimage.distance_transform_edt(grain_ids == 0, return_indices=True)
        grain_ids = np.where(to_fill, grain_ids[near_r, near_c], grain_ids)
    if merge_twins or to_fill.any():
        return _renumber(grain_ids)
    return grain_ids.astype(np.uint32)  # the labelling is already 1..N in raster order


def mean_orientations(
    ebsd_map: EBSDMap, grain_ids: np.ndarray, n_iterations: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetry-aware mean orientation and phase of every grain.

    Every indexed point's quaternion is replaced by its symmetric equivalent (and sign) nearest
    to the grain's reference orientation, the equivalents are averaged and normalised, and the
    mean becomes the reference of the next pass (the first reference is the grain's first
    indexed point).

    Parameters
    ----------
    ebsd_map : EBSDMap
    grain_ids : (R, C) integer array
        1..N grain IDs, 0 = unassigned (as `reconstruct_grains` returns).
    n_iterations : int
        Number of averaging passes.

    Returns
    -------
    quaternions : (N, 4) float64 array
        Mean orientation of grains 1..N (identity for a grain without an indexed point).
    phase_ids : (N,) int64 array
        Phase index of each grain's indexed points (the most frequent one), -1 if none.
    """
    n = int(grain_ids.max()) if grain_ids.size else 0
    sel = (grain_ids > 0) & ebsd_map.indexed
    gid = grain_ids[sel].astype(np.int64) - 1
    quats = ebsd_map.quaternions[sel].astype(np.float64)
    phases = ebsd_map.phase_ids[sel].astype(np.int64)
    n_phases = max(len(ebsd_map.phases), 1)
    phase_counts = np.bincount(gid * n_phases + phases, minlength=n * n_phases)
    grain_phase = phase_counts.reshape(n, n_phases).argmax(axis=1)
    grain_phase[phase_counts.reshape(n, n_phases).sum(axis=1) == 0] = -1

    mean = np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))
    first = np.unique(gid, return_index=True)
    mean[first[0]] = quats[first[1]]
    for _ in range(n_iterations):
        aligned = np.empty_like(quats)
        for phase_index, phase in enumerate(ebsd_map.phases):
            in_phase = np.flatnonzero(phases == phase_index)
            ops = symmetry_quaternions(phase.laue)
            for start in range(0, in_phase.size, 1 << 16):  # blocks bound the (n, K, 4) memory
                idx = in_phase[start : start + (1 << 16)]
                equivalents = quat_multiply(ops[None, :, :], quats[idx, None, :])  # (n, K, 4)
                dots = np.einsum("nkc,nc->nk", equivalents, mean[gid[idx]])
                best = np.abs(dots).argmax(axis=1)
                pick = equivalents[np.arange(idx.size), best]
                sign = np.sign(dots[np.arange(idx.size), best])
                aligned[idx] = pick * np.where(sign == 0, 1.0, sign)[:, None]
        sums = np.stack([np.bincount(gid, weights=aligned[:, k], minlength=n) for k in range(4)], 1)
        norms = np.linalg.norm(sums, axis=1)
        has = norms > 0
        mean[has] = sums[has] / norms[has, None]
    return mean, grain_phase


def grain_properties(ebsd_map: EBSDMap, grain_ids: np.ndarray) -> dict[str, np.ndarray]:
    """Per-grain table of an EBSD grain map.

    Size and shape come from `grainseg.grains.measure.grain_table` (the one definition shared
    with SEM grains; one EBSD point = one pixel of side ``step_um``), renamed to points.

    Parameters
    ----------
    ebsd_map : EBSDMap
    grain_ids : (R, C) integer array
        1..N grain IDs, 0 = unassigned.

    Returns
    -------
    dict of str -> (N,) arrays, one row per grain sorted by ID:
        ``grain_id``, ``phase`` (name, str), ``area_points``, ``area_um2``, ``ecd_um``,
        ``aspect_ratio`` (minor/major PCA axis, (0, 1]), ``orientation_deg`` (major axis),
        ``centroid_row``, ``centroid_col`` (grid points), ``touches_border``, ``phi1_deg``,
        ``Phi_deg``, ``phi2_deg`` (Bunge Euler angles of the mean orientation, degrees).
    """
    table = grain_table(grain_ids, ebsd_map.step_um)
    quats, phase_ids = mean_orientations(ebsd_map, grain_ids)
    euler_deg = np.degrees(quat_to_euler(quats))
    names = np.array([ph.name for ph in ebsd_map.phases] + ["not indexed"], dtype=object)
    return {
        "grain_id": table["label"],
        "phase": names[phase_ids],
        "area_points": table["area_px"],
        "area_um2": table["area_um2"],
        "ecd_um": table["ecd_um"],
        "aspect_ratio": table["aspect_ratio"],
        "orientation_deg": table["orientation_deg"],
        "centroid_row": table["centroid_row_px"],
        "centroid_col": table["centroid_col_px"],
        "touches_border": table["touches_border"],
        "phi1_deg": euler_deg[:, 0],
        "Phi_deg": euler_deg[:, 1],
        "phi2_deg": euler_deg[:, 2],
    }
