"""Grains from a boundary map, and the one definition of grain size and shape.

Every grain is measured from raw image moments accumulated with `np.bincount` (one pass over the
pixels per moment, no loop over grains), so a 2048 x 1536 map with thousands of grains takes
a fraction of a second.

Shape convention. A pixel is a unit square centred on its integer (row, col) coordinate. The
covariance of a grain is therefore the covariance of its pixel centres plus 1/12 px^2 on each
axis (the second moment of a unit square about its centre). With this correction an a x b
rectangle of pixels has aspect ratio exactly b / a, a one-pixel grain has aspect ratio 1, and a
one-pixel-wide line of n pixels has 1 / n, so the aspect ratio always lies in (0, 1]. For grains
more than a few pixels across it equals the paper's square root of the ratio of the second to
the first PCA variance of the grain's pixel coordinates.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from grainseg.errors import GrainsegError, input_error
from grainseg.pixel_size import check_pixel_size_um

_UNIT_SQUARE_VAR_PX2 = 1.0 / 12.0
_FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)
# In a grain-ID image most horizontal neighbours share a label; in a grey micrograph few do.
_MIN_FLAT_FRACTION = 0.7


def grains_from_boundaries(boundary: np.ndarray) -> np.ndarray:
    """Grain IDs as the 4-connected components of the non-boundary pixels.

    Parameters
    ----------
    boundary : (H, W) bool array
        True on boundary pixels (a mask with 255 = boundary may be passed as ``mask > 0``).

    Returns
    -------
    (H, W) uint32 array
        0 on boundary pixels, 1..N on the grains, numbered in raster order of their first pixel.
    """
    boundary = np.asarray(boundary)
    if boundary.ndim != 2:
        raise GrainsegError(f"boundary map must be 2-D, got shape {boundary.shape}")
    grain_ids, _ = ndimage.label(~boundary.astype(bool), structure=_FOUR_CONNECTED)
    return grain_ids.astype(np.uint32, copy=False)


def check_grain_ids_image(labels: np.ndarray, where, lossy: bool = False) -> None:
    """Refuse an image of more than two levels that is no grain-ID image (a grey micrograph).

    Grain IDs are piecewise constant: at least 70 % of horizontal neighbours share a label. The
    one check behind every command that takes a label or grain map (`grains`, `dataset`).

    Parameters
    ----------
    labels : (H, W) array
        The image as read.
    where : path or str
        Named in the message.
    lossy : bool
        The file is lossy (JPEG), so it can never hold exact grain IDs.

    Raises
    ------
    GrainsegError
        For a float, lossy or rarely flat image.
    """
    flat = float((labels[:, 1:] == labels[:, :-1]).mean()) if labels.shape[1] > 1 else 1.0
    if lossy or not np.issubdtype(labels.dtype, np.integer) or flat < _MIN_FLAT_FRACTION:
        raise input_error(where, "looks like a grey image, not a boundary mask (two values) or "
                                 f"a grain-ID image ({labels.dtype}, {np.unique(labels).size} "
                                 f"grey levels, {flat:.0%} of neighbours equal)")


def label_edges(labels: np.ndarray) -> np.ndarray:
    """The 1-px lines where a label image changes: (H, W) bool, True on the left / upper pixel
    of every 4-neighbour pair with different labels."""
    edges = np.zeros(labels.shape, bool)
    edges[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edges[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edges


def _compact_labels(grain_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map arbitrary non-negative IDs to 0..N (0 stays 0); returns (flat compact IDs, labels)."""
    flat = grain_ids.ravel()
    top = int(flat.max()) if flat.size else 0
    if top <= 4 * flat.size + 1024:
        # Dense enough: a lookup table is O(pixels), far faster than sorting with np.unique.
        present = np.bincount(flat, minlength=top + 1) > 0
        present[0] = False
        labels = np.flatnonzero(present)
        lut = np.zeros(top + 1, dtype=np.int64)
        lut[labels] = np.arange(1, labels.size + 1)
        return lut[flat], labels
    labels, inverse = np.unique(flat, return_inverse=True)
    if labels[0] == 0:
        return inverse.ravel(), labels[1:]
    return inverse.ravel() + 1, labels


def grain_table(
    grain_ids: np.ndarray, pixel_size_um: float | None = None
) -> dict[str, np.ndarray]:
    """Size, shape and position of every grain in a label image.

    Parameters
    ----------
    grain_ids : (H, W) integer array
        Grain labels, 0 = boundary / unassigned (not a grain). Labels need not be contiguous;
        a label that occurs in several disconnected pieces is measured as one grain.
    pixel_size_um : float, optional
        Side of one pixel in micrometres; adds the ``_um`` columns when given.

    Returns
    -------
    dict of str -> (N,) arrays, one entry per grain, sorted by label:
        ``label`` (int64), ``area_px`` (int64, pixels), ``ecd_px`` (float64, diameter of the
        circle of equal area, pixels), ``aspect_ratio`` (float64 in (0, 1], minor over major
        axis, see the module notes), ``orientation_deg`` (float64 in (-90, 90], angle of the
        major axis counter-clockwise from the image's +x (column) axis, 0 for round grains),
        ``centroid_row_px``, ``centroid_col_px`` (float64, pixel-centre coordinates),
        ``touches_border`` (bool); with a pixel size also ``ecd_um`` and ``area_um2``.

    Raises
    ------
    GrainsegError
        If ``grain_ids`` is not a 2-D integer array with non-negative labels, or the pixel size
        is not positive.
    """
    grain_ids = np.asarray(grain_ids)
    if grain_ids.ndim != 2 or not np.issubdtype(grain_ids.dtype, np.integer):
        raise GrainsegError(
            f"grain IDs must be a 2-D integer array, got {grain_ids.dtype} of shape "
            f"{grain_ids.shape}"
        )
    if pixel_size_um is not None:
        check_pixel_size_um(pixel_size_um, f"pixel size {pixel_size_um:g} µm")
    if grain_ids.size and grain_ids.min() < 0:
        raise GrainsegError("grain IDs must be non-negative (0 = boundary)")

    height, width = grain_ids.shape
    compact, labels = _compact_labels(grain_ids)
    n_bins = labels.size + 1
    rows = np.broadcast_to(np.arange(height, dtype=np.float64)[:, None], grain_ids.shape).ravel()
    cols = np.broadcast_to(np.arange(width, dtype=np.float64)[None, :], grain_ids.shape).ravel()

    area = np.bincount(compact, minlength=n_bins)[1:]
    mean_r = np.bincount(compact, weights=rows, minlength=n_bins)[1:] / area
    mean_c = np.bincount(compact, weights=cols, minlength=n_bins)[1:] / area
    # Central second moments from raw moments; coordinates are < 1e5, so float64 keeps ~1e-6 px^2.
    var_r = np.bincount(compact, weights=rows * rows, minlength=n_bins)[1:] / area - mean_r**2
    var_c = np.bincount(compact, weights=cols * cols, minlength=n_bins)[1:] / area - mean_c**2
    cov_rc = np.bincount(compact, weights=rows * cols, minlength=n_bins)[1:] / area - mean_r * mean_c
    var_r = np.maximum(var_r, 0.0) + _UNIT_SQUARE_VAR_PX2
    var_c = np.maximum(var_c, 0.0) + _UNIT_SQUARE_VAR_PX2

    # Eigenvalues of [[var_x, cov_xy], [cov_xy, var_y]] with x = col, y = -row (y up).
    cov_xy = -cov_rc
    half_sum = 0.5 * (var_c + var_r)
    radius = np.hypot(0.5 * (var_c - var_r), cov_xy)
    lambda_major = half_sum + radius
    lambda_minor = np.maximum(half_sum - radius, 0.0)
    aspect = np.sqrt(lambda_minor / lambda_major)
    round_grain = radius <= 1e-9 * lambda_major
    orientation = np.degrees(0.5 * np.arctan2(2.0 * cov_xy, var_c - var_r))
    orientation = np.where(round_grain, 0.0, orientation)
    orientation = np.where(orientation <= -90.0, orientation + 180.0, orientation) + 0.0

    border = np.zeros(n_bins, dtype=bool)
    compact_2d = compact.reshape(height, width)
    for edge in (compact_2d[0], compact_2d[-1], compact_2d[:, 0], compact_2d[:, -1]):
        border[edge] = True

    table: dict[str, np.ndarray] = {
        "label": labels.astype(np.int64),
        "area_px": area.astype(np.int64),
        "ecd_px": np.sqrt(4.0 * area / np.pi),
        "aspect_ratio": aspect,
        "orientation_deg": orientation,
        "centroid_row_px": mean_r,
        "centroid_col_px": mean_c,
        "touches_border": border[1:],
    }
    if pixel_size_um is not None:
        table["ecd_um"] = table["ecd_px"] * pixel_size_um
        table["area_um2"] = area * pixel_size_um**2
    return table
