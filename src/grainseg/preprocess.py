"""SEM image preprocessing shared by labels, the data set and inference.

One definition of the data bar and of intensity normalisation, so that a model sees the same
numbers in training and in use.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from grainseg.errors import ParameterError

#: Grey levels (of 8 bits) by which JPEG compression moves a flat data bar's background near
#: its text; pixels this close to the background count as background too.
LOSSY_LEVELS = 3


def data_bar_start_row(image: np.ndarray, min_rows: int = 8) -> int:
    """First row of the instrument's data bar at the bottom of an SEM image.

    The bar is a block of bottom rows dominated by one flat background value (with text and
    scale bar drawn over it). Rule: take the most common value of the bottom row; walking up
    from the bottom, a row belongs to the bar while at least 30% of its pixels equal that
    value, or while it is the bar's separator line (every pixel equal). Lossy compression
    (JPEG) blurs the background around the text by a few grey levels, so for integer images
    the rule is also applied with pixels within ``LOSSY_LEVELS`` of 8-bit grey of the
    background counted as background, and then only when at least 75% of the bottom row is
    background (a bar's margin; grain texture rarely is that flat); the longer bar of the two
    is taken. Bars shorter than ``min_rows`` or taller than half the image are not counted.

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
    runs = [_bar_rows(image, 0, 0.3)]
    if image.dtype.kind in "ui":
        tolerance = LOSSY_LEVELS * int(np.iinfo(image.dtype).max) // 255
        # a bar is at most half the image: the rows above need not be compared (memory)
        runs.append(_bar_rows(image[height - height // 2 - 1:], tolerance, 0.75))
    runs = [run for run in runs if min_rows <= run <= height // 2]
    return height - max(runs) if runs else height


def _bar_rows(image: np.ndarray, tolerance: int, bottom_share: float) -> int:
    """Length of the run of bar rows at the bottom of ``image`` (0 when there is none): rows
    with at least 30% of pixels within ``tolerance`` of the bottom row's background, or flat;
    the bottom row must be at least ``bottom_share`` background."""
    bottom = image[-1]
    if tolerance:
        image = image.astype(np.int32)
        values, ordered = np.unique(bottom), np.sort(bottom.astype(np.int64))
        near = (np.searchsorted(ordered, values + tolerance, side="right")
                - np.searchsorted(ordered, values - tolerance, side="left"))
        background = int(values[np.argmax(near)])
        is_background = np.abs(image - background) <= tolerance
        row_flat = np.ptp(image, axis=1) <= 2 * tolerance
    else:
        values, counts = np.unique(bottom, return_counts=True)
        is_background = image == values[np.argmax(counts)]
        row_flat = (image == image[:, :1]).all(axis=1)
    if is_background[-1].mean() < bottom_share:
        return 0
    in_bar = (is_background.mean(axis=1) >= 0.3) | row_flat
    # Walk up from the bottom over the contiguous run of bar rows.
    not_bar = np.flatnonzero(~in_bar[::-1])
    return int(not_bar[0]) if not_bar.size else image.shape[0]


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
