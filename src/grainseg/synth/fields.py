"""Smooth random fields shared by the synthetic microstructure, SEM contrast and drift."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def smooth_noise(shape: tuple[int, int], corr_px: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth zero-mean random field with unit standard deviation.

    White noise on a coarse grid (one node per ``corr_px / 4`` pixels) is Gaussian-smoothed on
    that grid and brought to full size by bilinear interpolation: the smoothing happens where it is cheap,
    and the nodes are dense enough that the bilinear facets do not show.

    Parameters
    ----------
    shape : (H, W)
        Output shape in pixels.
    corr_px : float
        Correlation length in pixels (features are about this wide).
    rng : numpy Generator

    Returns
    -------
    (H, W) float32
    """
    height, width = shape
    node_px = max(float(corr_px) / 4.0, 1.0)
    coarse_shape = (int(np.ceil(height / node_px)) + 2, int(np.ceil(width / node_px)) + 2)
    coarse = ndimage.gaussian_filter(
        rng.standard_normal(coarse_shape).astype(np.float32), 2.0, mode="wrap"
    )
    # Bilinear up-sampling as two small matrix products (BLAS): 10x faster than ndimage.zoom.
    field = _hat_weights(height, node_px, coarse_shape[0]) @ coarse
    field = field @ _hat_weights(width, node_px, coarse_shape[1]).T
    field -= field.mean()
    std = field.std()
    return field / std if std > 0 else field


def _hat_weights(n_out: int, node_px: float, n_nodes: int) -> np.ndarray:
    """(n_out, n_nodes) float32 linear-interpolation weights of pixels between coarse nodes."""
    position = (np.arange(n_out, dtype=np.float32) + 0.5) / node_px + 0.5
    return np.maximum(
        0.0, 1.0 - np.abs(position[:, None] - np.arange(n_nodes, dtype=np.float32)[None, :])
    )
