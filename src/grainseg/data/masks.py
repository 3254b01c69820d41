"""Turn a label image as people draw or export it into a boundary mask.

Accepted: two-level masks of either polarity (boundaries white on black grains, as grainseg
writes them, or black lines on white grains, as many drawn in ImageJ or an image editor),
JPEG masks whose compression spreads the two levels into grey (thresholded between the two
levels, Otsu), and grain-ID label images (every grain its own integer; boundaries where the
label changes, and on label 0 where there is one).

``boundary="auto"`` takes the minority level as the boundary (a boundary network covers far
less than half of an image); it refuses a mask whose two levels are too close to half and half
to tell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.filters import threshold_otsu

from grainseg.errors import GrainsegError, input_error
from grainseg.grains.measure import check_grain_ids_image, label_edges

#: Boundary polarities `boundary_from_mask` accepts.
POLARITIES = ("auto", "white", "black")
# Boundary lines cover a minority of an image; auto refuses to guess above this fraction.
_MAX_AUTO_FRACTION = 0.4
# An explicit polarity whose boundary class covers more than this is the other polarity.
_MAX_BOUNDARY_FRACTION = 0.6
# A (JPEG) two-level mask: this share of the pixels within a quarter of the level gap of a level.
_MIN_NEAR_LEVEL_FRACTION = 0.95
_LOSSY_SUFFIXES = (".jpg", ".jpeg")


def _bright(mask: np.ndarray) -> np.ndarray | None:
    """The bright level of a two-level mask as bool, or None if the mask is not two-level."""
    values = np.unique(mask[:: max(1, mask.shape[0] // 64)])
    if values.size <= 2 and np.unique(mask).size <= 2:
        return mask > mask.min()
    # More values (JPEG grey, anti-aliased drawing): two-level if nearly all pixels sit on two.
    grey = mask.astype(np.float32)
    if grey.max() == grey.min():
        return None
    threshold = threshold_otsu(grey)
    bright = grey > threshold
    low, high = grey[~bright].mean(), grey[bright].mean()
    near = np.minimum(np.abs(grey - low), np.abs(grey - high)) <= 0.25 * (high - low)
    return bright if near.mean() >= _MIN_NEAR_LEVEL_FRACTION else None


def boundary_from_mask(
    mask: np.ndarray, boundary: str = "auto", path: str | Path | None = None
) -> np.ndarray:
    """The boundary pixels of a drawn or exported label image.

    Parameters
    ----------
    mask : (H, W) array
        As read by `grainseg.io.tiff.read_mask` (palette images as their indices).
    boundary : {"auto", "white", "black"}
        Which level of a two-level mask is the boundary (see the module notes); label images
        ignore it.
    path : path, optional
        The file, for messages; a .jpg / .jpeg suffix marks the mask as lossy (never a label
        image).

    Returns
    -------
    (H, W) bool
        True on boundary pixels.

    Raises
    ------
    GrainsegError
        For a mask that is neither two-level nor a label image, one whose polarity cannot be
        told, or whose boundary class would cover most of the image.
    """
    where = path if path is not None else "mask"
    if boundary not in POLARITIES:
        raise GrainsegError(f"boundary polarity must be one of {POLARITIES}, got {boundary!r}")
    lossy = path is not None and Path(path).suffix.lower() in _LOSSY_SUFFIXES
    if mask.size and mask.min() == mask.max():
        # One level: no polarity to tell; grainseg's own convention (non-zero = boundary)
        # holds, or the reverse when black boundaries were asked for.
        return mask == 0 if boundary == "black" else mask > 0
    bright = _bright(mask)
    if bright is None:
        check_grain_ids_image(mask, where, lossy)
        return label_edges(mask) | (mask == 0)
    white_fraction = float(bright.mean())
    if boundary == "auto":
        if min(white_fraction, 1 - white_fraction) > _MAX_AUTO_FRACTION:
            raise input_error(where, f"{white_fraction:.0%} white and {1 - white_fraction:.0%} "
                                     "black: cannot tell boundaries from grains; give the "
                                     "boundary colour (white or black)")
        boundary = "white" if white_fraction < 0.5 else "black"
    lines = bright if boundary == "white" else ~bright
    if lines.mean() > _MAX_BOUNDARY_FRACTION:
        other = "black" if boundary == "white" else "white"
        raise input_error(where, f"with {boundary} boundaries {lines.mean():.0%} of the mask "
                                 f"would be boundary: the boundaries look {other}")
    return lines
