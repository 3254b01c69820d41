"""Files written by ``grainseg grains``: grains.csv, summary.json and the figures."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from grainseg import layout
from grainseg.grains.analysis import GrainAnalysis
from grainseg.grains.figures import distribution_figure, width_figure
from grainseg.io.atomic import ensure_output_dir, write_json_atomic, write_text_atomic
from grainseg.io.png import save_png

TABLE_COLUMNS = ("label", "area_px", "area_um2", "ecd_px", "ecd_um", "aspect_ratio",
                 "orientation_deg", "centroid_row_px", "centroid_col_px", "touches_border", "kept")


def table_csv(columns: dict[str, np.ndarray], extra: dict[str, str] | None = None) -> str:
    """Render per-grain columns as CSV text (known columns in a fixed order, floats to 6 digits)."""
    names = [c for c in TABLE_COLUMNS if c in columns]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*(extra or {}), *names])
    cells = []
    for name in names:
        values = columns[name]
        if values.dtype == bool:
            cells.append(values.astype(int).astype(str))
        elif np.issubdtype(values.dtype, np.integer):
            cells.append(values.astype(str))
        else:
            cells.append(np.char.mod("%.6g", values))
    fixed = list((extra or {}).values())
    writer.writerows([*fixed, *row] for row in zip(*cells, strict=True))
    return buffer.getvalue()


def distribution_figures(analysis: GrainAnalysis, reference: GrainAnalysis | None = None,
                         distances: dict | None = None, label: str = "input",
                         reference_label: str = "reference"):
    """The aspect-ratio (Fig. 6) and size (Fig. 7) figures: ``{"aspect_ratio": fig, "size": fig}``."""
    series = [(analysis, label)] + ([(reference, reference_label)] if reference else [])
    unit = "µm" if analysis.size_key.endswith("um") else "px"
    sizes = [a.kept(a.size_key) for a, _ in series]
    top = max([float(s.max()) for s in sizes if s.size] + [1.0])
    js = distances or {}

    def title(*keys: str) -> str:
        parts = [f"{k.replace('_', ' ')} = {js[k]:.4f}" for k in keys if js.get(k) is not None]
        return "Jensen-Shannon: " + "; ".join(parts) if parts else ""

    return {
        "aspect_ratio": distribution_figure(
            [a.kept("aspect_ratio") for a, _ in series], [n for _, n in series],
            [a.fits.get("aspect_ratio_beta") for a, _ in series], "aspect ratio (minor / major)",
            np.linspace(0, 1, 21), title("aspect_ratio_js_fit", "aspect_ratio_js_hist")),
        "size": distribution_figure(
            sizes, [n for _, n in series], [a.fits.get("size_exponential") for a, _ in series],
            f"equivalent circle diameter ({unit})", np.linspace(0, top, 31),
            title("size_js_fit_exponential", "size_js_hist")),
    }


def write_grain_outputs(out_dir: str | os.PathLike, analysis: GrainAnalysis,
                        reference: GrainAnalysis | None = None, distances: dict | None = None,
                        width_difference_px: np.ndarray | None = None) -> list[Path]:
    """Write grains.csv, summary.json and the PNG figures of one analysed map; returns the paths."""
    out = ensure_output_dir(out_dir)
    summary = dict(analysis.summary)
    if distances is not None:
        summary["reference"] = reference.summary.get("input") if reference else None
        summary["reference_pixel_size_um"] = (reference.summary.get("pixel_size_um")
                                              if reference else None)
        summary["distances"] = distances
    written = [out / layout.GRAINS_TABLE, out / layout.GRAINS_SUMMARY]
    write_text_atomic(written[0], table_csv(analysis.table))
    write_json_atomic(written[1], summary)
    figures = distribution_figures(analysis, reference, distances)
    if analysis.widths_px.size:
        widths = [analysis.widths_px] + ([reference.widths_px] if reference is not None
                                         and reference.widths_px.size else [])
        figures["width"] = width_figure(widths, ["input", "reference"][: len(widths)],
                                        width_difference_px)
    for name, fig in figures.items():
        path = out / layout.distribution_png(name)
        save_png(fig, path)
        written.append(path)
    return written
