"""Adjusted Rand index (ARI) of the grains two boundary maps enclose.

Grains are the 4-connected components of non-boundary pixels
(`grainseg.grains.measure.grains_from_boundaries`). The ARI compares the two partitions on the
pixels that are grain interior in the truth (and valid): there the true label is a grain, and the
predicted label is a grain or 0 when the prediction put a boundary there. Merged grains (a gap in
a predicted boundary) and split grains (a spurious boundary) both lower the score; a correctly
placed but wider predicted boundary costs little.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from grainseg.grains.measure import grains_from_boundaries


def adjusted_rand_index(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Adjusted Rand index of two labellings of the same items (Hubert and Arabie, 1985).

    Parameters
    ----------
    labels_a, labels_b : (N,) integer arrays
        Cluster label of each item; label values need not be contiguous.

    Returns
    -------
    float
        1 for identical partitions (up to renaming), about 0 for random ones; 1 when both put
        all items in one cluster (or there are fewer than 2 items).
    """
    labels_a = np.asarray(labels_a).ravel()
    labels_b = np.asarray(labels_b).ravel()
    n = labels_a.size
    if n < 2:
        return 1.0
    _, ia = np.unique(labels_a, return_inverse=True)
    _, ib = np.unique(labels_b, return_inverse=True)
    table = sparse.coo_matrix((np.ones(n, dtype=np.int64), (ia, ib))).tocsr()
    table.sum_duplicates()

    def pairs(x: np.ndarray) -> float:
        x = np.asarray(x, dtype=np.float64)
        return float((x * (x - 1) / 2).sum())

    sum_cells = pairs(table.data)
    sum_a = pairs(np.asarray(table.sum(axis=1)).ravel())
    sum_b = pairs(np.asarray(table.sum(axis=0)).ravel())
    expected = sum_a * sum_b / (n * (n - 1) / 2)
    maximum = (sum_a + sum_b) / 2
    if maximum == expected:
        return 1.0
    return (sum_cells - expected) / (maximum - expected)


def grain_ari(
    pred_boundary: np.ndarray, true_boundary: np.ndarray, valid: np.ndarray | None = None
) -> float:
    """ARI of the grains of a predicted and a true boundary map of one image or patch.

    Parameters
    ----------
    pred_boundary, true_boundary : (H, W) bool arrays
        Boundary pixels.
    valid : (H, W) bool array or None
        Pixels with a known label.

    Returns
    -------
    float
        The ARI over true grain-interior valid pixels (see the module docstring); NaN when the
        truth has no such pixel.
    """
    true_ids = grains_from_boundaries(np.asarray(true_boundary, dtype=bool))
    pred_ids = grains_from_boundaries(np.asarray(pred_boundary, dtype=bool))
    keep = true_ids > 0
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool)
    if not keep.any():
        return float("nan")
    return adjusted_rand_index(true_ids[keep], pred_ids[keep])
