"""Image statistics that compare a synthetic SEM image with real ones (DESIGN.md's numbers)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from grainseg.preprocess import data_bar_start_row, normalise_intensity


def sem_noise_statistics(image: np.ndarray) -> dict[str, float]:
    """Noise level and texture of an SEM image, measured as in DESIGN.md.

    The rows above the data bar are scaled so that the 1st and 99th percentiles are 0 and 1;
    the residual is the image minus its 5 x 5 median.

    Parameters
    ----------
    image : (H, W) array
        Raw grey image, any dtype, data bar included or not.

    Returns
    -------
    dict
        ``noise_sigma`` (robust MAD estimate of the residual, in units of the 1-99 % range),
        ``lag1_corr_x`` and ``lag1_corr_y`` (lag-1 autocorrelation of the residual along columns
        and rows), ``scanline_sigma`` (standard deviation of the residual's row means) and
        ``data_bar_rows`` (height of the data bar in pixels, 0 when none).
    """
    bar_row = data_bar_start_row(image)
    scaled = normalise_intensity(image[:bar_row])
    residual = scaled - ndimage.median_filter(scaled, size=5, mode="reflect")
    residual = residual[2:-2, 2:-2]
    mad = np.median(np.abs(residual - np.median(residual)))
    centred = residual - residual.mean()
    var = float((centred**2).mean())
    lag_x = float((centred[:, 1:] * centred[:, :-1]).mean() / var) if var > 0 else 0.0
    lag_y = float((centred[1:, :] * centred[:-1, :]).mean() / var) if var > 0 else 0.0
    return {
        "noise_sigma": float(1.4826 * mad),
        "lag1_corr_x": lag_x,
        "lag1_corr_y": lag_y,
        "scanline_sigma": float(residual.mean(axis=1).std()),
        "data_bar_rows": int(image.shape[0] - bar_row),
    }
