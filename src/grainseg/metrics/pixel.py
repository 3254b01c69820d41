"""Pixel-wise scores of a boundary map, pooled over all pixels of a test set as in the paper."""

from __future__ import annotations

import numpy as np


def confusion_counts(
    pred: np.ndarray, true: np.ndarray, valid: np.ndarray | None = None
) -> dict[str, int]:
    """Confusion counts of boundary (positive) against background.

    Parameters
    ----------
    pred, true : (...) bool arrays of the same shape
        Predicted and true boundary pixels.
    valid : (...) bool array or None
        Pixels to count; None counts all.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``tn``, ``fn`` as Python ints; add dicts of several images to pool them.
    """
    pred = np.asarray(pred, dtype=bool)
    true = np.asarray(true, dtype=bool)
    if pred.shape != true.shape:
        raise ValueError(f"prediction shape {pred.shape} != label shape {true.shape}")
    if valid is None:
        valid = np.ones(pred.shape, dtype=bool)
    tp = int(np.count_nonzero(pred & true & valid))
    fp = int(np.count_nonzero(pred & ~true & valid))
    fn = int(np.count_nonzero(~pred & true & valid))
    tn = int(np.count_nonzero(valid)) - tp - fp - fn
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


def pixel_scores(counts: dict[str, int]) -> dict[str, float]:
    """TPR (= recall), TNR, precision and Dice from pooled confusion counts.

    A ratio with an empty denominator is NaN (for example precision when nothing is predicted).
    """
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    return {
        "tpr": _ratio(tp, tp + fn),
        "tnr": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
    }
