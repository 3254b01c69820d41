"""Score a trained model on the patches of one split of a data set."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from grainseg.data.dataset import open_dataset
from grainseg.metrics.boundary import (
    mean_width_px,
    tolerance_counts,
    tolerance_scores,
    width_counts,
)
from grainseg.metrics.grains import grain_ari
from grainseg.metrics.pixel import confusion_counts, pixel_scores
from grainseg.models import load_model
from grainseg.progress import progress_bar


def _betti_function():
    """`grainseg.metrics.topology.betti_errors`, or None while that module is not installed."""
    try:
        from grainseg.metrics.topology import betti_errors
    except ImportError:
        return None
    return betti_errors


# Why each score can be undefined (a ratio with an empty denominator).
_UNDEFINED_BECAUSE = {
    "tpr": "the labels hold no boundary pixel",
    "recall": "the labels hold no boundary pixel",
    "tnr": "the labels hold no background pixel",
    "precision": "no pixel was predicted as boundary",
    "dice": "neither the labels nor the prediction hold a boundary pixel",
    "ari": "no patch has a valid grain-interior pixel in its labels",
    "boundary_precision": "no pixel was predicted as boundary",
    "boundary_recall": "the labels hold no boundary pixel",
    "boundary_f1": "boundary precision or recall is undefined",
    "width_pred_px": "no pixel was predicted as boundary",
    "width_true_px": "the labels hold no boundary pixel",
    "width_diff_px": "the predicted or the true width is undefined",
}


def _null_undefined(scores: dict) -> None:
    """Replace each non-finite float score by None (JSON null), adding a note saying why.

    NaN and infinity are not JSON; other tools refuse them.
    """
    for key, value in scores.items():
        if isinstance(value, float) and not math.isfinite(value):
            scores[key] = None
            because = _UNDEFINED_BECAUSE.get(key, "its denominator is 0")
            scores["notes"].append(f"{key} is undefined (null): {because}")


def _add(total: dict, counts: dict) -> None:
    for key, value in counts.items():
        total[key] = total.get(key, 0) + value


def predict_patches(
    model: torch.nn.Module, images: np.ndarray, batch: int = 64, device: str | None = None
) -> np.ndarray:
    """Boundary probability of each patch.

    Parameters
    ----------
    model : nn.Module
        A grainseg network (list of logit maps out; the last is used).
    images : (N, P, P) float array
        Preprocessed patches.
    batch : int
        Patches per forward pass.
    device : str or None
        Torch device; None = CUDA when available, else CPU.

    Returns
    -------
    (N, P, P) float32 array in [0, 1]
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = model.to(device).eval()
    out = np.empty(images.shape, dtype=np.float32)
    with torch.inference_mode():
        for start in progress_bar(range(0, len(images), batch), desc="predicting", unit="batch"):
            x = torch.from_numpy(np.asarray(images[start : start + batch], dtype=np.float32))
            logits = model(x[:, None].to(device))[-1]
            out[start : start + batch] = torch.sigmoid(logits.float())[:, 0].cpu().numpy()
    return out


def evaluate(
    model_path: str | os.PathLike,
    dataset_path: str | os.PathLike,
    split: str = "val",
    threshold: float = 0.5,
    tol_px: float = 2.0,
    batch: int = 64,
) -> dict:
    """Score a model (model.pt, run directory or .ckpt) on a data set split.

    Pixel scores (TPR, TNR, precision, recall, Dice) and tolerance scores are pooled over all
    valid pixels of the split, as in the paper; the ARI and Betti errors are computed per patch
    and averaged; the mean boundary width is pooled (total area / total skeleton length).

    Returns
    -------
    dict
        Flat scores (``tpr``, ``tnr``, ``precision``, ``recall``, ``dice``, ``ari``,
        ``boundary_precision``, ``boundary_recall``, ``boundary_f1``, ``width_pred_px``,
        ``width_true_px``, ``width_diff_px`` and, when available, the Betti errors) plus the
        pooled counts and what was evaluated. An undefined score (empty denominator, for
        example recall when the labels hold no boundary) is None, with a line in ``notes``.
    """
    data = open_dataset(dataset_path)
    chosen = data.indices(split)
    model, meta = load_model(model_path)
    notes = []
    if meta.get("median_px") not in (None, data.info.get("median_px")):
        notes.append(
            f"model trained with median_px={meta['median_px']}, data set uses "
            f"{data.info.get('median_px')}"
        )
    prob = predict_patches(model, data.images[chosen], batch=batch)
    pred_all = prob >= threshold
    betti_errors = _betti_function()
    if betti_errors is None:
        notes.append("Betti errors not computed: grainseg.metrics.topology is not available")
    pixel, tolerance, width_pred, width_true = {}, {}, {}, {}
    aris, betti = [], {}
    for k, index in enumerate(progress_bar(chosen, desc="scoring", unit="patch")):
        pred = pred_all[k]
        true = data.labels[index].astype(bool)
        valid = data.valid[index].astype(bool)
        _add(pixel, confusion_counts(pred, true, valid))
        _add(tolerance, tolerance_counts(pred, true, tol_px, valid))
        _add(width_pred, width_counts(pred & valid))
        _add(width_true, width_counts(true & valid))
        aris.append(grain_ari(pred, true, valid))
        if betti_errors is not None:
            for key, value in betti_errors(pred & valid, true & valid).items():
                betti.setdefault(key, []).append(float(value))
    widths = (mean_width_px(width_pred), mean_width_px(width_true))
    ari_values = [a for a in aris if not math.isnan(a)]
    result = {
        "model": str(Path(model_path)),
        "dataset": str(Path(dataset_path)),
        "split": split,
        "n_patches": int(chosen.size),
        "threshold": threshold,
        "tol_px": tol_px,
        **pixel_scores(pixel),
        "ari": float(np.mean(ari_values)) if ari_values else float("nan"),
        **tolerance_scores(tolerance),
        "width_pred_px": widths[0],
        "width_true_px": widths[1],
        "width_diff_px": widths[0] - widths[1],
        **{key: float(np.mean(values)) for key, values in betti.items()},
        "counts": {"pixel": pixel, "tolerance": tolerance, "width_pred": width_pred,
                   "width_true": width_true},
        "notes": notes,
    }
    _null_undefined(result)
    return result
