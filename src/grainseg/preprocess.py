"""SEM image preprocessing shared by labels, the data set and inference.

One definition of the data bar and of intensity normalisation, so that a model sees the same
numbers in training and in use.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from grainseg.errors import ParameterError


def data_bar_start_row(image: np.ndarray, min_rows: int = 8) -> int:
    """First row of the instrument's data bar at the bottom of an SEM image.

    The bar is a block of bottom rows dominated by one flat background value (with text and
    scale bar drawn over it). Rule: take the most common value of the bottom row; walking up
    from the bottom, a row belongs to the bar while at least 30% of its pixels equal that
    value, or while it is the bar's separator line (every pixel equal). Bars shorter than
    ``min_rows`` are not counted.

    Parameters
    ----------
    image : (H, W) array
        Raw grey image (any dtype).

    Returns
    -------
    int
        Row index where the bar starts; ``H`` when there is no bar.
    """
    height = image.shape[0]
    if height < 2 * min_rows or image.shape[1] < 8:
        return height
    bottom = image[-1]
    values, counts = np.unique(bottom, return_counts=True)
    background = values[np.argmax(counts)]
    if counts.max() < 0.3 * bottom.size:
        return height
    fraction = (image == background).mean(axis=1)
    row_flat = (image == image[:, :1]).all(axis=1)
    in_bar = (fraction >= 0.3) | row_flat
    # Walk up from the bottom over the contiguous run of bar rows.
    not_bar = np.flatnonzero(~in_bar[::-1])
    run = not_bar[0] if not_bar.size else height
    if run < min_rows or run > height // 2:
        return height
    return height - run


def normalise_intensity(image: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Scale grey values so that the given percentiles map to 0 and 1 (float32, not clipped).

    Non-finite pixels are set to 0 after scaling. A blank image maps to all zeros.
    """
    image = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros_like(image)
    lo, hi = np.percentile(image[finite], [low_pct, high_pct])
    scale = hi - lo if hi > lo else 1.0
    out = (image - lo) / scale
    out[~finite] = 0.0
    return out.astype(np.float32, copy=False)


#: Widest median filter, pixels: wider windows erase boundaries a few pixels wide, and the
#: filter's work grows with the square of the window.
MEDIAN_PX_MAX = 15


def check_median_px(median_px: int, where: str = "median_px") -> int:
    """``median_px`` if it is a usable median filter size (0 or 1 = off, up to `MEDIAN_PX_MAX`).

    Raises
    ------
    ParameterError
        ``"{where} {median_px}: must be between 0 and 15 px (0 = off)"``; ``where`` is the
        parameter's name (the CLI shows its flag) or the file that gave the value.
    """
    if isinstance(median_px, bool) or not isinstance(median_px, (int, np.integer)) or not (
        0 <= median_px <= MEDIAN_PX_MAX
    ):
        raise ParameterError(where, f"{median_px}: must be between 0 and {MEDIAN_PX_MAX} px (0 = off)")
    return int(median_px)


def preprocess_sem(image: np.ndarray, median_px: int = 3) -> np.ndarray:
    """The network input: median filter (the paper's denoising), then percentile normalisation.

    Parameters
    ----------
    image : (H, W) array
        Grey image without its data bar (crop with `data_bar_start_row` first).
    median_px : int
        Median filter size in pixels; 0 or 1 disables it.

    Returns
    -------
    (H, W) float32
        Roughly in [0, 1]; values outside are kept (bright pits, dark scratches).
    """
    image = np.asarray(image, dtype=np.float32)
    image = np.where(np.isfinite(image), image, np.nanmedian(image) if np.isfinite(image).any() else 0)
    if median_px and median_px > 1:
        image = ndimage.median_filter(image, size=median_px, mode="reflect")
    return normalise_intensity(image)
