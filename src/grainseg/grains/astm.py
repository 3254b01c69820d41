"""ASTM E112 grain size: Heyn mean lineal intercept and Jeffries planimetric count, with G numbers.

Both methods work on a grain-ID map. Boundary pixels (ID 0) are first given to the nearest grain
(`fill_boundaries`), so that boundaries have zero width, the whole field is
tiled by grains and a test line running along a boundary row still crosses the grains it
separates. This makes both counts exact on ideal structures (a grid of squares: intercept equal to
the period along the grid axes, one grain per period squared).

Heyn (intercept). Families of parallel test lines at several angles cover the whole field,
``spacing_px`` apart. A line is sampled once per pixel along its major axis (an 8-connected
digital line); an intersection ``P`` is counted wherever the grain ID changes between consecutive
samples. Lines that pass exactly through a point where four grains meet count one crossing there
instead of two: on a grid of squares of period p this makes oblique intercepts ~0.5 / p too long
(2.7 % at p = 20, under 1 % from p = 64); 0 and 90 degrees are exact. (Walking the lines as
4-connected staircases removes that on the grid but over-counts by 30 % on real maps, whose
boundaries are jagged at the pixel scale.) With ``L`` the total line length, ``P_L = P / L`` and the mean lineal intercept is
``l = L / P``; line ends falling inside a grain count as half intercepts, which is what ``L / P``
implies. ASTM E112: ``G = -6.643856 log10(l / mm) - 3.288``.

Jeffries (planimetric). The test area is the whole field. Grains inside count 1, grains cut by the
field edge 1/2, and grains at the four corners 1/4 each; ``N_A`` is the count per unit area and
``G = 3.321928 log10(N_A / mm^-2) - 2.954``.
"""

from __future__ import annotations

import numpy as np

from grainseg.errors import GrainsegError
from grainseg.pixel_size import check_pixel_size_um

DEFAULT_ANGLES_DEG = (0.0, 45.0, 90.0, 135.0)
# Test-line samples handled at once (bounds memory on mosaics: ~100 MB of temporaries).
_SAMPLES_PER_PART = 1 << 22


def astm_g_from_intercept(mean_intercept_um: float) -> float:
    """ASTM E112 grain size number from the mean lineal intercept (µm)."""
    return float(-6.643856 * np.log10(mean_intercept_um * 1e-3) - 3.288)


def astm_g_from_grains_per_area(grains_per_mm2: float) -> float:
    """ASTM E112 grain size number from the number of grains per mm² (planimetric, at 1x)."""
    return float(3.321928 * np.log10(grains_per_mm2) - 2.954)


def _check_ids(grain_ids: np.ndarray) -> np.ndarray:
    grain_ids = np.asarray(grain_ids)
    if grain_ids.ndim != 2 or not np.issubdtype(grain_ids.dtype, np.integer):
        raise GrainsegError(
            f"grain IDs must be a 2-D integer array, got {grain_ids.dtype} of shape "
            f"{grain_ids.shape}"
        )
    if not np.any(grain_ids):
        raise GrainsegError("the map holds no grain (every pixel is boundary)")
    return grain_ids


def fill_boundaries(grain_ids: np.ndarray) -> np.ndarray:
    """Grain IDs with every boundary pixel (0) given to a nearest grain.

    Grains grow one pixel per pass into the boundary (4-neighbours; where two grains meet the
    larger label wins, so a straight boundary goes wholly to one side). Each pass reads only
    the neighbours of the pixels still unassigned, so a map with bands a few pixels wide
    needs a few cheap passes (measured 0.1 s on 2048 x 1536, against ~1 s for
    `skimage.segmentation.expand_labels`).

    Parameters
    ----------
    grain_ids : (H, W) integer array with at least one non-zero label.

    Returns
    -------
    (H, W) array of the same dtype with no zeros (the input itself when it has none).
    """
    if np.all(grain_ids):
        return grain_ids
    if not np.any(grain_ids):
        raise GrainsegError("the map holds no grain (every pixel is boundary)")
    width = grain_ids.shape[1]
    padded = np.pad(grain_ids, 1)  # a frame of zeros: never a winner of the max
    flat = padded.ravel()
    stride = width + 2
    rows, cols = np.nonzero(grain_ids == 0)
    todo = (rows + 1) * stride + cols + 1
    while todo.size:
        grown = np.maximum(np.maximum(flat[todo - 1], flat[todo + 1]),
                           np.maximum(flat[todo - stride], flat[todo + stride]))
        flat[todo] = grown  # neighbours filled in this pass wait for the next one
        todo = todo[grown == 0]
    return padded[1:-1, 1:-1].copy()


def _line_offsets(lo: float, hi: float, delta: float) -> np.ndarray:
    """Evenly spaced line positions ``delta`` apart, centred in [lo, hi]."""
    n_lines = int(np.floor((hi - lo) / delta)) + 1
    start = lo + 0.5 * ((hi - lo) - (n_lines - 1) * delta)
    return start + delta * np.arange(n_lines)


def _family(shape: tuple[int, int], angle_deg: float, spacing_px: float
            ) -> tuple[bool, float, float, np.ndarray]:
    """Geometry of a line family: (marches along columns?, slope, step_px, line offsets)."""
    height, width = shape
    theta = np.radians(angle_deg)
    d_col, d_row = np.cos(theta), -np.sin(theta)
    along_cols = bool(abs(d_col) >= abs(d_row))
    n_steps, n_across = (width, height) if along_cols else (height, width)
    major = d_col if along_cols else d_row
    slope = (d_row if along_cols else d_col) / major  # minor-axis pixels per major-axis pixel
    step_px = 1.0 / abs(major)
    lo = min(0.0, -slope * (n_steps - 1))
    hi = max(n_across - 1.0, n_across - 1.0 - slope * (n_steps - 1))
    return along_cols, slope, step_px, _line_offsets(lo, hi, spacing_px * step_px)


def line_samples(shape: tuple[int, int], angle_deg: float, spacing_px: float = 1.0,
                 lines: slice = slice(None)) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Pixel samples of a family of parallel test lines covering a field.

    Parameters
    ----------
    shape : (H, W)
        Field size in pixels.
    angle_deg : float
        Line direction, counter-clockwise from the +x (column) axis with y pointing up.
    spacing_px : float
        Perpendicular distance between neighbouring lines, pixels.
    lines : slice
        Which lines of the family to return (to process a large field in parts).

    Returns
    -------
    rows, cols : (n_lines, n_steps) int32 arrays
        Pixel indices of the samples (clipped into the field where invalid).
    valid : (n_lines, n_steps) bool array
        True where the sample lies inside the field; each line's valid part is contiguous.
    step_px : float
        Length of line represented by one sample, pixels (1 / max(|cos|, |sin|)).
    """
    along_cols, slope, step_px, offsets = _family(shape, angle_deg, spacing_px)
    offsets = offsets[lines]
    n_steps, n_across = (shape[1], shape[0]) if along_cols else shape
    t = np.arange(n_steps)
    minor = np.rint(offsets[:, None] + slope * t[None, :]).astype(np.int32)
    valid = (minor >= 0) & (minor < n_across)
    np.clip(minor, 0, n_across - 1, out=minor)
    major_idx = np.broadcast_to(t.astype(np.int32)[None, :], minor.shape)
    rows, cols = (minor, major_idx) if along_cols else (major_idx, minor)
    return rows, cols, valid, step_px


def _line_crossings(filled: np.ndarray, angle_deg: float, spacing_px: float) -> tuple[int, float]:
    """Grain-ID changes and total length (px) of one family of test lines on a filled map.

    Lines are processed in parts of about `_SAMPLES_PER_PART` samples, so memory stays bounded
    on large mosaics.
    """
    crossings, length_px = 0, 0.0
    if angle_deg % 90 == 0:  # rows or columns: plain slices, same positions as `line_samples`
        axis = int(angle_deg % 180 == 90)
        n_across, n_steps = filled.shape[axis], filled.shape[1 - axis]
        index = np.rint(_line_offsets(0.0, n_across - 1.0, float(spacing_px))).astype(np.intp)
        part = max(1, _SAMPLES_PER_PART // n_steps)
        for start in range(0, index.size, part):
            lines = np.take(filled, index[start : start + part], axis=axis)
            crossings += int(np.count_nonzero(np.diff(lines, axis=1 - axis)))
        return crossings, float(index.size * n_steps)
    n_lines = _family(filled.shape, angle_deg, spacing_px)[3].size
    part = max(1, _SAMPLES_PER_PART // max(filled.shape))
    for start in range(0, n_lines, part):
        rows, cols, valid, step_px = line_samples(filled.shape, angle_deg, spacing_px,
                                                  slice(start, start + part))
        sample = filled.ravel()[rows.astype(np.int64) * filled.shape[1] + cols]
        changes = (sample[:, 1:] != sample[:, :-1]) & valid[:, 1:] & valid[:, :-1]
        crossings += int(np.count_nonzero(changes))
        length_px += float(np.count_nonzero(valid)) * step_px
    return crossings, length_px


def heyn_intercept(grain_ids: np.ndarray, pixel_size_um: float | None = None,
                   angles_deg: tuple[float, ...] = DEFAULT_ANGLES_DEG,
                   spacing_px: float = 2.0) -> dict:
    """Heyn mean lineal intercept over test lines in several directions.

    Parameters
    ----------
    grain_ids : (H, W) integer array
        Grain labels, 0 = boundary.
    pixel_size_um : float, optional
        Pixel side in µm; adds ``mean_intercept_um`` and ``astm_g_intercept``.
    angles_deg : tuple of float
        Directions of the line families (see `line_samples`).
    spacing_px : float
        Distance between parallel lines, pixels (2: every other row / column, which keeps
        ~10^5 intersections on a 2048 x 1536 map at half the cost of every row).

    Returns
    -------
    dict
        ``mean_intercept_px`` (total length / total intersections, all directions),
        ``intersections``, ``line_length_px``, ``by_angle`` (list of dicts with ``angle_deg``,
        ``mean_intercept_px``, ``intersections``, ``line_length_px``), and with a pixel size
        ``mean_intercept_um`` and ``astm_g_intercept``. Intercepts and G are None when no line
        crosses a boundary (one grain fills the field).
    """
    filled = fill_boundaries(_check_ids(grain_ids))
    by_angle = []
    for angle in angles_deg:
        crossings, length_px = _line_crossings(filled, angle, spacing_px)
        by_angle.append({
            "angle_deg": float(angle),
            "intersections": crossings,
            "line_length_px": length_px,
            "mean_intercept_px": length_px / crossings if crossings else None,
        })
    total_p = sum(a["intersections"] for a in by_angle)
    total_l = sum(a["line_length_px"] for a in by_angle)
    result = {
        "mean_intercept_px": total_l / total_p if total_p else None,
        "intersections": total_p,
        "line_length_px": total_l,
        "by_angle": by_angle,
    }
    if pixel_size_um is not None:
        check_pixel_size_um(pixel_size_um, f"pixel size {pixel_size_um:g} µm")
        mean_um = result["mean_intercept_px"] * pixel_size_um if total_p else None
        result["mean_intercept_um"] = mean_um
        result["astm_g_intercept"] = astm_g_from_intercept(mean_um) if total_p else None
        for entry in by_angle:
            px = entry["mean_intercept_px"]
            entry["mean_intercept_um"] = None if px is None else px * pixel_size_um
    return result


def intercept_lengths_px(boundary: np.ndarray, angle_deg: float = 0.0,
                         spacing_px: float = 1.0) -> np.ndarray:
    """Lengths of the complete grain intercepts along test lines (segment-length distribution).

    A complete intercept is a run of non-boundary samples with a boundary sample at both ends
    (runs cut by the field edge are left out). Its length is the number of non-boundary samples
    times the sample step, i.e. the boundary pixels themselves are not counted; this is the
    quantity that NIST's grain-size-analysis-tools records per segment.

    Parameters
    ----------
    boundary : (H, W) bool array
        True on boundary pixels.
    angle_deg, spacing_px : float
        As in `line_samples`.

    Returns
    -------
    (K,) float64 array
        Intercept lengths in pixels, line by line.
    """
    boundary = np.asarray(boundary).astype(bool)
    rows, cols, valid, step_px = line_samples(boundary.shape, angle_deg, spacing_px)
    # State per sample: 0 grain, 1 boundary, 2 outside (also padded between lines).
    state = np.where(valid, boundary[rows, cols].astype(np.int8), np.int8(2))
    state = np.pad(state, ((0, 0), (1, 1)), constant_values=2).ravel()
    grain = state == 0
    edges = np.diff(grain.astype(np.int8))
    starts = np.flatnonzero(edges == 1) + 1  # first grain sample of a run
    ends = np.flatnonzero(edges == -1)  # last grain sample of a run
    complete = (state[starts - 1] == 1) & (state[ends + 1] == 1)
    return (ends[complete] - starts[complete] + 1).astype(np.float64) * step_px


def jeffries_planimetric(grain_ids: np.ndarray, pixel_size_um: float | None = None) -> dict:
    """Jeffries planimetric grain count over the whole field.

    Parameters
    ----------
    grain_ids : (H, W) integer array
        Grain labels, 0 = boundary.
    pixel_size_um : float, optional
        Pixel side in µm; adds ``grains_per_mm2``, ``mean_grain_area_um2`` and
        ``astm_g_planimetric``.

    Returns
    -------
    dict
        ``n_inside``, ``n_edge`` (cut by an edge, not at a corner), ``n_corner`` (corner
        positions), ``equivalent_count`` (inside + edge / 2 + corner / 4), ``grains_per_px2``,
        ``mean_grain_area_px``; with a pixel size the µm / mm values and the G number.
    """
    filled = fill_boundaries(_check_ids(grain_ids))
    height, width = filled.shape
    corners = filled[[0, 0, -1, -1], [0, -1, 0, -1]]
    edge_labels = np.unique(np.concatenate([filled[0], filled[-1], filled[:, 0], filled[:, -1]]))
    all_labels = np.unique(filled)
    corner_labels = np.unique(corners)
    edge_only = np.setdiff1d(edge_labels, corner_labels)
    n_inside = all_labels.size - edge_labels.size
    equivalent = n_inside + 0.5 * edge_only.size + 0.25 * corners.size
    area_px = float(height * width)
    result = {
        "n_inside": int(n_inside),
        "n_edge": int(edge_only.size),
        "n_corner": int(corners.size),
        "equivalent_count": float(equivalent),
        "grains_per_px2": equivalent / area_px,
        "mean_grain_area_px": area_px / equivalent,
    }
    if pixel_size_um is not None:
        check_pixel_size_um(pixel_size_um, f"pixel size {pixel_size_um:g} µm")
        area_mm2 = area_px * (pixel_size_um * 1e-3) ** 2
        result["grains_per_mm2"] = equivalent / area_mm2
        result["mean_grain_area_um2"] = result["mean_grain_area_px"] * pixel_size_um**2
        result["astm_g_planimetric"] = astm_g_from_grains_per_area(equivalent / area_mm2)
    return result

