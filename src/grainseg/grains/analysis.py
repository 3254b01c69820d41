"""One grain map in, every statistic out: the library behind ``grainseg grains``.

`load_grain_map` reads a boundary mask or a grain-ID image, `analyse_grains` measures it (grain
table, minimum-diameter filter, fits, ASTM E112, boundary width) and `compare_to_reference` gives
the Jensen-Shannon distances and width difference to a reference map.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grainseg.errors import GrainsegError, input_error
from grainseg.grains.astm import fill_boundaries, heyn_intercept, jeffries_planimetric
from grainseg.grains.distance import common_grid, js_distance_histograms, js_distance_pdfs
from grainseg.grains.fits import Fit, fit_beta, fit_exponential, fit_lognormal
from grainseg.grains.measure import (
    check_grain_ids_image,
    grain_table,
    grains_from_boundaries,
    label_edges,
)
from grainseg.grains.width import boundary_widths_px, width_difference_px, width_summary
from grainseg.io.tiff import NO_PIXEL_SIZE_NOTE, read_micrograph
from grainseg.pixel_size import check_pixel_size_um

# A boundary mask covering more than this fraction of the image is most likely inverted.
_MAX_BOUNDARY_FRACTION = 0.5


@dataclass
class GrainMap:
    """A grain map ready for measuring.

    Attributes
    ----------
    grain_ids : (H, W) uint32 array
        0 = boundary.
    boundary : (H, W) bool array
        Boundary pixels (for a grain-ID image without zeros: where the label changes).
    pixel_size_um : float or None
    kind : str
        ``"boundary mask"`` or ``"grain-ID image"``: how the input was read.
    path : Path or None
    notes : list of str
    """

    grain_ids: np.ndarray
    boundary: np.ndarray
    pixel_size_um: float | None
    kind: str
    path: Path | None = None
    notes: list[str] = field(default_factory=list)


def _is_binary(array: np.ndarray) -> bool:
    """True for a bool array or an integer array holding at most two values."""
    if array.dtype == bool:
        return True
    if not np.issubdtype(array.dtype, np.integer):
        return False
    # A few rows first: a grain-ID map shows many values there, without sorting every pixel.
    sample = array[:: max(1, array.shape[0] // 64)]
    return np.unique(sample).size <= 2 and np.unique(array).size <= 2


def grain_map_from_array(array: np.ndarray, pixel_size_um: float | None = None,
                         path: str | os.PathLike | None = None) -> GrainMap:
    """Interpret an array as a boundary mask (two values, non-zero = boundary) or grain IDs.

    Raises
    ------
    GrainsegError
        For a float image, an image with no grain, or a mask that looks inverted.
    """
    where = path if path is not None else "array"
    if pixel_size_um is not None:
        check_pixel_size_um(pixel_size_um, f"{where}: pixel size {pixel_size_um:g} µm")
    if _is_binary(array):
        boundary = array > 0
        fraction = float(boundary.mean())
        if fraction > _MAX_BOUNDARY_FRACTION:
            raise input_error(where, f"{fraction:.0%} of the pixels are boundary: expected white "
                                     "(non-zero) boundaries on black grains; invert the mask")
        ids = grains_from_boundaries(boundary)
        kind = "boundary mask"
    elif np.issubdtype(array.dtype, np.integer):
        if array.min() < 0:
            raise input_error(where, "grain IDs must be non-negative (0 = boundary)")
        check_grain_ids_image(array, where)
        ids = array.astype(np.uint32, copy=False)
        kind = "grain-ID image"
        if (ids == 0).any():
            boundary = ids == 0
        else:  # grains touch directly: the boundary is the 1-px line where the label changes
            boundary = label_edges(ids)
            kind = "grain-ID image (no boundary pixels; boundaries drawn where labels change)"
    else:
        raise input_error(where, f"expected a boundary mask or integer grain IDs, got {array.dtype}")
    if not ids.any():
        raise input_error(where, "no grain in the map (every pixel is boundary)")
    return GrainMap(ids, boundary, pixel_size_um, kind, Path(path) if path else None)


def load_grain_map(path: str | os.PathLike, pixel_size_um: float | None = None) -> GrainMap:
    """Read a boundary mask or grain-ID TIFF; pixel size from the file unless given."""
    micrograph = read_micrograph(path, pixel_size_um)
    size = micrograph.pixel_size_um
    grain_map = grain_map_from_array(micrograph.image, size, path)
    file_notes = [n for n in micrograph.notes if pixel_size_um is None or n != NO_PIXEL_SIZE_NOTE]
    grain_map.notes = [*file_notes, f"read as a {grain_map.kind}"]
    if pixel_size_um is None and size is not None and not any("pixel size" in n for n in file_notes):
        grain_map.notes.append(f"pixel size {size:g} µm from the file's metadata")
    return grain_map


@dataclass
class GrainAnalysis:
    """Result of `analyse_grains`.

    Attributes
    ----------
    table : dict of str -> (N,) arrays
        `grain_table` of every grain plus ``kept`` (bool): passes the filters.
    summary : dict
        JSON-ready statistics (see `analyse_grains`).
    size_key : str
        ``"ecd_um"`` or ``"ecd_px"``: the size column used by the fits.
    fits : dict of str -> Fit
        ``aspect_ratio_beta``, ``size_exponential``, ``size_lognormal`` (those that could be fitted).
    widths_px : (K,) float array
        Local boundary widths (empty without boundary pixels).
    """

    table: dict[str, np.ndarray]
    summary: dict
    size_key: str
    fits: dict[str, Fit]
    widths_px: np.ndarray

    def kept(self, key: str) -> np.ndarray:
        """Column ``key`` of the grains that pass the filters."""
        return self.table[key][self.table["kept"]]


def analyse_grains(grain_map: GrainMap, min_diameter_px: float = 3.0,
                   exclude_border: bool = False) -> GrainAnalysis:
    """Grain table, filtered distributions with fits, ASTM E112 numbers and boundary widths.

    Parameters
    ----------
    grain_map : GrainMap
    min_diameter_px : float
        Grains with an equivalent circle diameter below this (pixels) are left out of the
        distributions and fits (the paper used 3, 7 and 11). ASTM counts use every grain.
    exclude_border : bool
        Leave grains cut by the image edge out of the distributions and fits.

    Returns
    -------
    GrainAnalysis
        ``summary`` holds ``n_grains`` (kept), ``n_grains_total``, ``mean_ecd_um`` or
        ``mean_ecd_px``, ``mean_intercept_um|px``, ``astm_g_intercept``, ``astm_g_planimetric``
        (None without pixel size), ``intercept`` and ``planimetric`` details, ``fits``,
        ``width``, ``filters`` and ``input``.
    """
    if not min_diameter_px >= 0:  # NaN too
        raise GrainsegError(f"minimum diameter must be >= 0 px, got {min_diameter_px}")
    px = grain_map.pixel_size_um
    unit = "um" if px is not None else "px"
    table = grain_table(grain_map.grain_ids, px)
    kept = table["ecd_px"] >= min_diameter_px
    if exclude_border:
        kept &= ~table["touches_border"]
    table["kept"] = kept
    size_key = f"ecd_{unit}"
    sizes, aspects = table[size_key][kept], table["aspect_ratio"][kept]
    min_size = min_diameter_px * (px if px is not None else 1.0)

    fits: dict[str, Fit] = {}
    fit_notes: list[str] = []
    for name, make in (
        ("aspect_ratio_beta", lambda: fit_beta(aspects)),
        ("size_exponential", lambda: fit_exponential(sizes, min_size)),
        ("size_lognormal", lambda: fit_lognormal(sizes)),
    ):
        try:
            fits[name] = make()
        except GrainsegError as exc:
            fit_notes.append(f"{name}: {exc}")

    filled = fill_boundaries(grain_map.grain_ids)  # once for both ASTM methods
    intercept = heyn_intercept(filled, px)
    planimetric = jeffries_planimetric(filled, px)
    widths = boundary_widths_px(grain_map.boundary)
    width = width_summary(grain_map.boundary, px, widths)

    summary = {
        "input": str(grain_map.path) if grain_map.path else None,
        "input_kind": grain_map.kind,
        "pixel_size_um": px,
        "image_shape_px": list(grain_map.grain_ids.shape),
        "filters": {"min_diameter_px": min_diameter_px, "exclude_border": exclude_border},
        "n_grains": int(kept.sum()),
        "n_grains_total": int(kept.size),
        f"mean_ecd_{unit}": float(sizes.mean()) if sizes.size else None,
        f"median_ecd_{unit}": float(np.median(sizes)) if sizes.size else None,
        "mean_aspect_ratio": float(aspects.mean()) if aspects.size else None,
        f"mean_intercept_{unit}": intercept[f"mean_intercept_{unit}"],
        "astm_g_intercept": intercept.get("astm_g_intercept"),
        "astm_g_planimetric": planimetric.get("astm_g_planimetric"),
        "intercept": intercept,
        "planimetric": planimetric,
        "fits": {name: fit.to_dict() for name, fit in fits.items()},
        "fit_notes": fit_notes,
        "width": width,
        "notes": grain_map.notes,
    }
    return GrainAnalysis(table, summary, size_key, fits, widths)


def compare_to_reference(analysis: GrainAnalysis, reference: GrainAnalysis,
                         grain_map: GrainMap | None = None,
                         reference_map: GrainMap | None = None, n_bins: int = 30
                         ) -> tuple[dict, np.ndarray]:
    """Jensen-Shannon distances (fitted PDFs and histograms) and width difference to a reference.

    Parameters
    ----------
    analysis, reference : GrainAnalysis
        Measured with the same filters; sizes must share a unit.
    grain_map, reference_map : GrainMap, optional
        Give both (same width; the common top rows are compared) for the boundary width
        difference.
    n_bins : int
        Histogram bins for the size distance (aspect ratio: 20 bins on [0, 1]).

    Returns
    -------
    distances : dict
        ``aspect_ratio_js_fit`` (beta), ``aspect_ratio_js_hist``, ``size_js_fit_exponential``,
        ``size_js_fit_lognormal``, ``size_js_hist``, ``size_unit``, and ``width_difference``
        (mean / median / max in px) when available. Missing fits give None.
    width_difference_px : (K,) float array
        Local width differences (empty when not available), see `width_difference_px`.
    """
    if analysis.size_key != reference.size_key:
        raise GrainsegError(
            f"cannot compare sizes in {analysis.size_key} with a reference in {reference.size_key}:"
            " give --pixel-size-um so both are in micrometres"
        )
    out: dict = {"size_unit": analysis.size_key.split("_")[1]}
    a_ar, r_ar = analysis.kept("aspect_ratio"), reference.kept("aspect_ratio")
    a_sz, r_sz = analysis.kept(analysis.size_key), reference.kept(reference.size_key)
    have = a_ar.size > 0 and r_ar.size > 0
    out["aspect_ratio_js_hist"] = (
        js_distance_histograms(a_ar, r_ar, np.linspace(0, 1, 21)) if have else None)
    out["size_js_hist"] = (
        js_distance_histograms(a_sz, r_sz, np.linspace(0, max(a_sz.max(), r_sz.max()), n_bins + 1))
        if have else None)
    for key, fit_name, lower, upper in (
        ("aspect_ratio_js_fit", "aspect_ratio_beta", 0.0, 1.0),
        ("size_js_fit_exponential", "size_exponential", 0.0, None),
        ("size_js_fit_lognormal", "size_lognormal", 0.0, None),
    ):
        fa, fr = analysis.fits.get(fit_name), reference.fits.get(fit_name)
        if fa is None or fr is None:
            out[key] = None
            continue
        samples = (a_ar, r_ar) if fit_name.startswith("aspect") else (a_sz, r_sz)
        grid = common_grid(*samples, n=1024, lower=lower, upper=upper)
        out[key] = js_distance_pdfs(fa, fr, grid)
    diff = np.zeros(0)
    if (grain_map is not None and reference_map is not None
            and grain_map.boundary.shape[1] == reference_map.boundary.shape[1]):
        # Same width, maybe not the same height: a segmentation covers the rows above the
        # data bar only, so both maps are compared over their common top rows.
        rows = min(grain_map.boundary.shape[0], reference_map.boundary.shape[0])
        diff = width_difference_px(grain_map.boundary[:rows], reference_map.boundary[:rows])
        out["width_difference"] = {
            "mean_px": float(diff.mean()) if diff.size else None,
            "median_px": float(np.median(diff)) if diff.size else None,
            "max_px": float(diff.max()) if diff.size else None,
            "n_pairs": int(diff.size),
        }
    return out, diff
