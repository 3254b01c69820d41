"""The ``ebsd-grains`` stage as library calls: an EBSD map -> grain IDs, boundary classes, the
grain table and a summary (`ebsd_grains`), and their files (`write_ebsd_grains`)."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grainseg import layout
from grainseg.ebsd.boundaries import (
    BRANDON_S3_DEG,
    CLASS_NAMES,
    NONE,
    NOT_INDEXED,
    boundary_classes,
    boundary_lengths_by_phase_um,
    boundary_lengths_um,
    boundary_map,
)
from grainseg.ebsd.grains import DEFAULT_MAX_ISLAND_POINTS, grain_properties, reconstruct_grains
from grainseg.ebsd.misorientation import neighbour_misorientation_deg
from grainseg.errors import ParameterError
from grainseg.io.atomic import ensure_output_dir, write_json_atomic, write_text_atomic
from grainseg.io.ebsd.map import EBSDMap
from grainseg.io.manifest import write_manifest
from grainseg.io.tiff import write_tiff


@dataclass
class EbsdGrainsOptions:
    """How grains and boundaries are drawn on an EBSD map.

    Attributes
    ----------
    threshold_deg : float
        Grain boundary disorientation: 4-neighbours below it belong to one grain.
    low_deg : float
        Smallest low-angle boundary.
    high_deg : float or None
        Smallest high-angle boundary (None: ``threshold_deg``).
    min_size_points : int
        Grains of fewer points are dissolved into their neighbours.
    merge_twins : bool
        Merge Sigma-3 twins into their parent grain.
    max_island_points : int or None
        Not-indexed islands of at most this many points take the surrounding grain (None:
        `grainseg.ebsd.grains.DEFAULT_MAX_ISLAND_POINTS`).
    """

    threshold_deg: float = 10.0
    low_deg: float = 2.0
    high_deg: float | None = None
    min_size_points: int = 0
    merge_twins: bool = False
    max_island_points: int | None = None

    def validate(self) -> EbsdGrainsOptions:
        """Check the counts; returns self. Raises `ParameterError` naming the field."""
        for name in ("min_size_points", "max_island_points"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ParameterError(name, f"{value}: must not be negative")
        return self


@dataclass
class EbsdGrains:
    """What `ebsd_grains` returns, on the EBSD grid (row-major as in the file).

    Attributes
    ----------
    grain_ids : (rows, cols) uint32
        0 = unassigned.
    boundaries : (rows, cols) uint8
        Boundary classes of `grainseg.ebsd.boundaries.boundary_map`.
    table : dict of str -> (n_grains,) array
        One row per grain (`grainseg.ebsd.grains.grain_properties`).
    summary : dict
        Grain count, mean ECD in µm, boundary lengths and fractions, per-phase statistics,
        the settings and the reader's notes (JSON-ready).
    """

    grain_ids: np.ndarray
    boundaries: np.ndarray
    table: dict
    summary: dict


def ebsd_grains(ebsd_map: EBSDMap, options: EbsdGrainsOptions | None = None,
                source: str | os.PathLike | None = None) -> EbsdGrains:
    """Reconstruct the grains of an EBSD map and measure them and their boundaries.

    Parameters
    ----------
    ebsd_map : EBSDMap
    options : EbsdGrainsOptions, optional
        Defaults as in ``grainseg ebsd-grains``.
    source : path-like, optional
        The map's file, recorded as the summary's ``input``.

    Returns
    -------
    EbsdGrains

    Raises
    ------
    ParameterError
        For a negative ``min_size_points`` or ``max_island_points``.
    """
    options = (options or EbsdGrainsOptions()).validate()
    high = options.threshold_deg if options.high_deg is None else options.high_deg
    max_island = (DEFAULT_MAX_ISLAND_POINTS if options.max_island_points is None
                  else options.max_island_points)
    misorientation = neighbour_misorientation_deg(ebsd_map)
    right, down = boundary_classes(ebsd_map, options.low_deg, high, misorientation=misorientation)
    grain_ids = reconstruct_grains(
        ebsd_map, options.threshold_deg, options.min_size_points, options.merge_twins,
        max_island, misorientation=misorientation, classes=(right, down),
    )
    table = grain_properties(ebsd_map, grain_ids)

    lengths = boundary_lengths_um(right, down, ebsd_map.step_um)
    boundary_names = [CLASS_NAMES[c] for c in CLASS_NAMES if c not in (NONE, NOT_INDEXED)]
    total = sum(lengths[name] for name in boundary_names)
    fractions = {name: (lengths[name] / total if total else 0.0) for name in boundary_names}
    by_phase = boundary_lengths_by_phase_um(ebsd_map, right, down)
    area = table["area_points"]
    per_phase = {
        ph.name: {
            "n_grains": int((table["phase"] == ph.name).sum()),
            "area_fraction": float((ebsd_map.phase_ids == k).mean()),
            "twin_fraction_of_high_angle_length": by_phase[ph.name]["twin_fraction_of_high_angle"],
            "boundary_length_um": {
                n: by_phase[ph.name][n] for n in boundary_names if n != "phase"
            },
        }
        for k, ph in enumerate(ebsd_map.phases)
    }
    summary = {
        "input": None if source is None else str(source),
        "grid_rows": ebsd_map.shape[0],
        "grid_cols": ebsd_map.shape[1],
        "step_um": ebsd_map.step_um,
        "indexed_fraction": float(ebsd_map.indexed.mean()),
        "n_grains": int(area.size),
        "mean_ecd_um": float(table["ecd_um"].mean()) if area.size else None,
        "unassigned_points": int((grain_ids == 0).sum()),
        "thresholds": {
            "grain_threshold_deg": options.threshold_deg,
            "low_angle_deg": options.low_deg,
            "high_angle_deg": high,
            "twin_s3_brandon_deg": BRANDON_S3_DEG,
        },
        "min_size_points": options.min_size_points,
        "merge_twins": options.merge_twins,
        "max_island_points": max_island,
        "boundary_length_um": {n: lengths[n] for n in boundary_names},
        "boundary_length_fraction": fractions,
        "phases": per_phase,
        "notes": ebsd_map.notes,
    }
    return EbsdGrains(grain_ids, boundary_map(right, down, ebsd_map.indexed), table, summary)


def table_csv(table: dict) -> str:
    """The per-grain table as CSV text (floats with 6 significant digits)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = list(table)
    writer.writerow(keys)
    columns = [
        [f"{v:.6g}" if isinstance(v, float) else v for v in table[k].tolist()] for k in keys
    ]
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue()


def write_ebsd_grains(out_dir: str | os.PathLike, result: EbsdGrains, step_um: float,
                      scan: str | None = None) -> list[Path]:
    """Write the stage's files (`grainseg.layout`) and manifest, each atomically.

    Parameters
    ----------
    out_dir : path-like
        Created if needed.
    result : EbsdGrains
    step_um : float
        The map's step, recorded as the rasters' pixel size.
    scan : str, optional
        The scan read from a file holding several (recorded in the manifest).

    Returns
    -------
    list of Path
        ``grain_ids.tif``, ``boundaries.tif``, ``grains.csv``, ``summary.json``.
    """
    out = ensure_output_dir(out_dir)
    written = [out / name for name in (layout.GRAIN_IDS, layout.EBSD_BOUNDARIES,
                                       layout.GRAINS_TABLE, layout.GRAINS_SUMMARY)]
    write_tiff(written[0], result.grain_ids, pixel_size_um=step_um)
    write_tiff(written[1], result.boundaries, pixel_size_um=step_um)
    write_text_atomic(written[2], table_csv(result.table))
    write_json_atomic(written[3], result.summary)
    summary = result.summary
    write_manifest(out, "ebsd-grains", [summary["input"]] if summary["input"] else [],
                   {"scan": scan, **summary["thresholds"],
                    "min_size_points": summary["min_size_points"],
                    "merge_twins": summary["merge_twins"],
                    "max_island_points": summary["max_island_points"]})
    return written
