"""Measure many grain maps: one task per map, here or on a Dask cluster (`grainseg.cluster`).

Each task reads one map, analyses it, and writes its grains.csv, summary.json and figures
atomically into its own folder, so a task rerun after a killed worker rewrites the same files.
"""

from __future__ import annotations

import functools
from pathlib import Path

from grainseg.errors import GrainsegError


@functools.lru_cache(maxsize=1)
def _reference(path: str, pixel_size_um: float | None, min_diameter_px: float,
               exclude_border: bool):
    """The reference map and its analysis, computed once per process."""
    from grainseg.grains.analysis import analyse_grains, load_grain_map

    reference_map = load_grain_map(path, pixel_size_um)
    return reference_map, analyse_grains(reference_map, min_diameter_px, exclude_border)


def measure_file_task(
    item: tuple[Path, Path],
    *,
    pixel_size_um: float | None,
    options: dict,
    reference_path: str | None = None,
    reference_pixel_size_um: float | None = None,
) -> dict:
    """Analyse one grain map and write its outputs and manifest.

    Parameters
    ----------
    item : (input path, output folder)
    pixel_size_um : float or None
        Overrides the input file's pixel size (never the reference's).
    options : dict
        ``min_diameter_px``, ``exclude_border`` of `grainseg.grains.analysis.analyse_grains`.
    reference_path : str or None
        Reference map to compare with (see `grainseg.grains.analysis.compare_to_reference`).
    reference_pixel_size_um : float or None
        Overrides the reference file's own pixel size (it may come from another instrument).

    Returns
    -------
    dict
        ``status`` "done" with ``kind``, ``pixel_size_um``, ``summary`` and ``table`` (per-grain
        columns), or "failed" with ``error``.
    """
    from grainseg.grains.analysis import analyse_grains, compare_to_reference, load_grain_map
    from grainseg.grains.outputs import write_grain_outputs
    from grainseg.io.manifest import write_manifest

    path, target = item
    try:
        grain_map = load_grain_map(path, pixel_size_um)
        analysis = analyse_grains(grain_map, **options)
        reference = distances = difference = None
        if reference_path is not None:
            reference_map, reference = _reference(reference_path, reference_pixel_size_um,
                                                  options["min_diameter_px"],
                                                  options["exclude_border"])
            distances, difference = compare_to_reference(analysis, reference, grain_map,
                                                         reference_map)
        write_grain_outputs(target, analysis, reference, distances, difference)
        write_manifest(target, "grains", [path, *([reference_path] if reference_path else [])],
                       {**options, "pixel_size_um": pixel_size_um,
                        "reference_pixel_size_um": reference_pixel_size_um})
    except GrainsegError as exc:
        return {"status": "failed", "error": str(exc)}
    return {"status": "done", "kind": grain_map.kind, "pixel_size_um": grain_map.pixel_size_um,
            "summary": analysis.summary, "table": analysis.table}
