"""Boundaries painted over a micrograph: the one overlay every grainseg PNG and figure uses."""

from __future__ import annotations

import numpy as np

#: RGB colour of boundary pixels in every overlay.
BOUNDARY_RGB = (255, 32, 32)


def overlay_rgb(grey: np.ndarray, boundaries: np.ndarray) -> np.ndarray:
    """The micrograph in grey with the boundary pixels in `BOUNDARY_RGB`.

    Parameters
    ----------
    grey : (H, W) float
        Intensities scaled to about 0..1 (a preprocessed network input, or an image stretched
        between percentiles); clipped to 0..1.
    boundaries : (H, W) bool or uint8
        Non-zero on boundaries.

    Returns
    -------
    (H, W, 3) uint8
    """
    shade = (np.clip(grey, 0.0, 1.0) * 255).astype(np.uint8)
    rgb = np.repeat(shade[..., None], 3, axis=-1)
    rgb[np.asarray(boundaries) > 0] = BOUNDARY_RGB
    return rgb
