"""Boundary width distribution (the paper's Fig. 5) and its difference to a reference map.

The local width of a boundary band is read on its medial axis: at a skeleton pixel at Euclidean
distance ``d`` from the nearest non-boundary pixel the band is ``2 d - 1`` pixels wide (1 for a
one-pixel line, 3 for a three-pixel band; even widths read one pixel low). The mean width of the
whole network is also given as boundary area / skeleton length, which has no such rounding.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize

from grainseg.errors import GrainsegError


def _skeleton_and_width(boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    boundary = np.asarray(boundary).astype(bool)
    if boundary.ndim != 2:
        raise GrainsegError(f"boundary map must be 2-D, got shape {boundary.shape}")
    skeleton = skeletonize(boundary)
    # Pad with non-boundary so that bands touching the image edge keep a finite width.
    distance = ndimage.distance_transform_edt(np.pad(boundary, 1))[1:-1, 1:-1]
    return skeleton, 2.0 * distance - 1.0


def boundary_widths_px(boundary: np.ndarray) -> np.ndarray:
    """Local boundary width at every medial-axis pixel.

    Parameters
    ----------
    boundary : (H, W) bool array
        True on boundary pixels.

    Returns
    -------
    (K,) float64 array
        Widths in pixels, one per skeleton pixel (raster order); empty without boundaries.
    """
    skeleton, width = _skeleton_and_width(boundary)
    return width[skeleton]


def width_summary(boundary: np.ndarray, pixel_size_um: float | None = None,
                  widths_px: np.ndarray | None = None) -> dict:
    """Mean, median, 95th percentile and maximum boundary width, and area / length mean.

    ``widths_px`` may pass `boundary_widths_px(boundary)` when already computed.

    Returns
    -------
    dict
        ``mean_width_px``, ``median_width_px``, ``p95_width_px``, ``max_width_px``,
        ``area_over_length_px`` (boundary pixels / skeleton pixels), ``n_skeleton_px``; ``_um``
        twins of the widths when the pixel size is known. Values are None without boundaries.
    """
    boundary = np.asarray(boundary).astype(bool)
    widths = boundary_widths_px(boundary) if widths_px is None else widths_px
    keys = ("mean_width_px", "median_width_px", "p95_width_px", "max_width_px",
            "area_over_length_px")
    if widths.size == 0:
        out: dict = dict.fromkeys(keys)
    else:
        out = {
            "mean_width_px": float(widths.mean()),
            "median_width_px": float(np.median(widths)),
            "p95_width_px": float(np.percentile(widths, 95)),
            "max_width_px": float(widths.max()),
            "area_over_length_px": float(np.count_nonzero(boundary) / widths.size),
        }
    out["n_skeleton_px"] = int(widths.size)
    if pixel_size_um is not None:
        for key in keys:
            value = out[key]
            out[key.replace("_px", "_um")] = None if value is None else value * pixel_size_um
    return out


def width_difference_px(boundary: np.ndarray, reference: np.ndarray,
                        max_distance_px: float = 25.0) -> np.ndarray:
    """Local width of ``boundary`` minus that of the nearest ``reference`` boundary (Fig. 5c).

    Each medial-axis pixel of ``boundary`` is paired with the nearest medial-axis pixel of
    ``reference``; pairs farther apart than ``max_distance_px`` (a boundary with no counterpart)
    are left out.

    Parameters
    ----------
    boundary, reference : (H, W) bool arrays
        Predicted and reference boundary masks of the same shape.
    max_distance_px : float
        Largest distance between paired skeleton pixels, pixels.

    Returns
    -------
    (K,) float64 array
        Width differences in pixels (positive: ``boundary`` is wider).
    """
    boundary = np.asarray(boundary).astype(bool)
    reference = np.asarray(reference).astype(bool)
    if boundary.shape != reference.shape:
        raise GrainsegError(
            f"boundary maps differ in shape: {boundary.shape} vs reference {reference.shape}"
        )
    skeleton, width = _skeleton_and_width(boundary)
    ref_skeleton, ref_width = _skeleton_and_width(reference)
    if not ref_skeleton.any() or not skeleton.any():
        return np.zeros(0)
    distance, (near_r, near_c) = ndimage.distance_transform_edt(~ref_skeleton, return_indices=True)
    paired = skeleton & (distance <= max_distance_px)
    return width[paired] - ref_width[near_r[paired], near_c[paired]]
