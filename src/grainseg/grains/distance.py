"""Jensen-Shannon distance between two grain distributions: fitted PDFs and histograms.

The paper compares true and predicted grains by the Jensen-Shannon distance between fitted PDFs
(beta for aspect ratio, exponential for size). Histograms are compared as well, since a fit can
hide a difference in shape. Distances use base-2 logarithms, so they lie in [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon

from grainseg.grains.fits import Fit


def js_distance_pdfs(fit_a: Fit, fit_b: Fit, grid: np.ndarray) -> float:
    """Jensen-Shannon distance between two fitted PDFs sampled on a common grid.

    Parameters
    ----------
    fit_a, fit_b : Fit
        Fitted distributions of the same quantity (same units).
    grid : (K,) float array
        Evenly spaced points covering both supports; each PDF is normalised over the grid.

    Returns
    -------
    float
        Distance in [0, 1] (base-2 logarithm); 0 for identical fits.
    """
    p = np.nan_to_num(fit_a.pdf(grid), posinf=0.0)
    q = np.nan_to_num(fit_b.pdf(grid), posinf=0.0)
    if p.sum() <= 0 or q.sum() <= 0:
        return 1.0
    return float(jensenshannon(p, q, base=2))


def js_distance_histograms(samples_a: np.ndarray, samples_b: np.ndarray, bins: np.ndarray) -> float:
    """Jensen-Shannon distance between the histograms of two samples on common bin edges.

    Parameters
    ----------
    samples_a, samples_b : (N,), (M,) float arrays
    bins : (K + 1,) float array
        Bin edges shared by both histograms.

    Returns
    -------
    float
        Distance in [0, 1] (base-2 logarithm); 1 when either histogram is empty.
    """
    p, _ = np.histogram(samples_a, bins=bins)
    q, _ = np.histogram(samples_b, bins=bins)
    if p.sum() == 0 or q.sum() == 0:
        return 1.0
    return float(jensenshannon(p.astype(np.float64), q.astype(np.float64), base=2))


def common_grid(samples_a: np.ndarray, samples_b: np.ndarray, n: int = 512,
                lower: float | None = None, upper: float | None = None) -> np.ndarray:
    """Evenly spaced points from the smaller minimum to the larger maximum of two samples.

    ``lower`` / ``upper`` override the ends (e.g. 0 and 1 for aspect ratios).
    """
    lo = min(np.min(samples_a), np.min(samples_b)) if lower is None else lower
    hi = max(np.max(samples_a), np.max(samples_b)) if upper is None else upper
    return np.linspace(lo, hi, n)
