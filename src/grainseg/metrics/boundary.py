"""Boundary scores that forgive small shifts, and boundary width.

Pixel scores punish a boundary drawn one pixel beside the true one as two errors. Here a
predicted boundary pixel counts as correct when a true boundary pixel lies within ``tol_px``
(Euclidean distance, via a distance transform), and a true boundary pixel counts as found when a
predicted one lies within ``tol_px``. Width is the boundary area divided by its skeleton length,
so ``width_pred - width_true`` is how much wider the network draws boundaries (the paper reports
9 px on average).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import skeletonize


def _near(mask: np.ndarray, tol_px: float) -> np.ndarray:
    """Pixels within ``tol_px`` of a True pixel of ``mask`` (all False when ``mask`` is empty)."""
    if not mask.any():
        return np.zeros(mask.shape, dtype=bool)
    return ndimage.distance_transform_edt(~mask) <= tol_px


def tolerance_counts(
    pred: np.ndarray, true: np.ndarray, tol_px: float = 2.0, valid: np.ndarray | None = None
) -> dict[str, int]:
    """Matched boundary pixels within a tolerance, for one image; add dicts to pool images.

    Parameters
    ----------
    pred, true : (H, W) bool arrays
        Predicted and true boundary pixels.
    tol_px : float
        Largest distance in pixels at which a boundary pixel still matches.
    valid : (H, W) bool array or None
        Pixels to score (the other map may still match from outside it).

    Returns
    -------
    dict
        ``pred_matched``, ``pred_total``, ``true_matched``, ``true_total`` (ints).
    """
    pred = np.asarray(pred, dtype=bool)
    true = np.asarray(true, dtype=bool)
    if valid is None:
        valid = np.ones(pred.shape, dtype=bool)
    pred_v = pred & valid
    true_v = true & valid
    return {
        "pred_matched": int(np.count_nonzero(pred_v & _near(true, tol_px))),
        "pred_total": int(np.count_nonzero(pred_v)),
        "true_matched": int(np.count_nonzero(true_v & _near(pred, tol_px))),
        "true_total": int(np.count_nonzero(true_v)),
    }


def tolerance_scores(counts: dict[str, int]) -> dict[str, float]:
    """Boundary precision, recall and F1 from (pooled) `tolerance_counts`; NaN when undefined."""
    precision = (
        counts["pred_matched"] / counts["pred_total"] if counts["pred_total"] else float("nan")
    )
    recall = counts["true_matched"] / counts["true_total"] if counts["true_total"] else float("nan")
    if precision + recall > 0:
        f1 = 2 * precision * recall / (precision + recall)
    else:  # 0 when both are 0, NaN when either is undefined
        f1 = precision + recall
    return {"boundary_precision": precision, "boundary_recall": recall, "boundary_f1": f1}


def width_counts(boundary: np.ndarray) -> dict[str, int]:
    """Boundary area and skeleton length in pixels, for one image; add dicts to pool images.

    Parameters
    ----------
    boundary : (H, W) bool array

    Returns
    -------
    dict
        ``area_px`` (boundary pixels) and ``length_px`` (pixels of its skeleton).
    """
    boundary = np.asarray(boundary, dtype=bool)
    return {
        "area_px": int(np.count_nonzero(boundary)),
        "length_px": int(np.count_nonzero(skeletonize(boundary))),
    }


def mean_width_px(counts: dict[str, int]) -> float:
    """Mean boundary width in pixels (area / skeleton length); NaN for no boundary."""
    return counts["area_px"] / counts["length_px"] if counts["length_px"] else float("nan")
