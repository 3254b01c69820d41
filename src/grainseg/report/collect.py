"""Find grainseg outputs in folders and turn them into report sections (the paper's figures).

A folder is recognised by the stage its ``manifest.json`` names (`grainseg.io.manifest`), and
its files by their names (`grainseg.layout`); a folder without a manifest (written before
manifests, or by hand) is recognised by its file names alone. What is looked for (recursively,
whatever exists):

- ``dataset.json`` (``grainseg dataset``): the first source image with its label boundaries
  (Fig. 1a) and the patch tiling (Fig. 1b);
- ``NAME_sem.tif`` + ``NAME_truth_boundaries.tif`` (``grainseg synth``): Fig. 1a when no data set;
- ``STEM_boundaries.tif`` (``grainseg segment``) with a truth ``NAME_truth_boundaries.tif`` of the
  same image: prediction vs truth coloured TN black, TP cyan, FP yellow, FN red (Fig. 2); the
  same image segmented in several folders (e.g. BCE and BCE + topology): side by side (Fig. 3);
- ``overlay_before.png`` / ``overlay_after.png`` + ``registration.json`` (``grainseg labels``):
  the drift overlay (Fig. 4);
- ``summary.json`` + figures of ``grainseg grains``: widths (Fig. 5), aspect ratio (Fig. 6) and
  size (Fig. 7) with fits and Jensen-Shannon distances, and the grain statistics table;
- evaluation JSON files (``grainseg evaluate --json``): the metrics table; ``table2.csv`` and
  ``table3.csv`` of ``grainseg compare``; ``metrics.csv`` of training runs: the loss curves; ``STEM_overlay.png`` of ``grainseg segment``: the segmentations.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from grainseg import layout
from grainseg.errors import GrainsegError
from grainseg.io.manifest import manifest_stage
from grainseg.io.tiff import read_mask, read_micrograph
from grainseg.metrics.pixel import confusion_counts, pixel_scores
from grainseg.report.figures import (
    boundary_overlay,
    confusion_overlay,
    grey_to_rgb,
    patch_grid_overlay,
)
from grainseg.report.html import (
    Section,
    array_item,
    figure_item,
    png_file_item,
    table_item,
    text_item,
)

_EVAL_KEYS = ("tpr", "tnr", "precision", "recall", "dice", "ari", "boundary_f1",
              "width_diff_px", "betti0_grains_error", "betti_fragments_error")
_GRAIN_KEYS = ("n_grains", "mean_ecd_um", "mean_ecd_px", "mean_aspect_ratio", "mean_intercept_um",
               "mean_intercept_px", "astm_g_intercept", "astm_g_planimetric")
_DISTANCE_KEYS = ("aspect_ratio_js_fit", "aspect_ratio_js_hist", "size_js_fit_exponential",
                  "size_js_hist")


def _files(roots: Sequence[Path], pattern: str, stage: str | None = None) -> list[Path]:
    """Files matching ``pattern`` under ``roots``; with ``stage``, only those in a folder whose
    manifest names ``stage`` or that has no manifest."""
    found: set[Path] = set()
    for root in roots:
        if root.is_file():
            if root.match(pattern):
                found.add(root)
        else:
            found.update(p for p in root.rglob(pattern) if p.is_file())
    if stage is not None:
        stages = {folder: manifest_stage(folder) for folder in {p.parent for p in found}}
        found = {p for p in found if stages[p.parent] in (None, stage)}
    return sorted(found)


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _label(path: Path, roots: Sequence[Path]) -> str:
    for root in roots:
        try:
            return str(path.relative_to(root if root.is_dir() else root.parent))
        except ValueError:
            continue
    return str(path)


def _crop_common(*arrays: np.ndarray) -> list[np.ndarray]:
    rows = min(a.shape[0] for a in arrays)
    cols = min(a.shape[1] for a in arrays)
    return [a[:rows, :cols] for a in arrays]


def section_micrograph(roots: Sequence[Path], notes: list[str]) -> Section:
    """Fig. 1: micrograph with label boundaries (a) and the patch grid (b)."""
    section = Section("Fig. 1 - Micrograph with boundary labels (a) and training patches (b)")
    for info_path in _files(roots, layout.DATASET_INFO, "dataset")[:2]:
        info = _read_json(info_path)
        if not isinstance(info, dict) or not info.get("sources"):
            continue
        source = info["sources"][0]
        try:
            image = read_micrograph(source["sem_path"]).image
            label = read_mask(source["label_path"]) > 0
        except (GrainsegError, KeyError) as exc:
            notes.append(f"{info_path}: source image not readable ({exc})")
            continue
        bar = int(source.get("data_bar_start_row") or image.shape[0])
        image, label = _crop_common(image[:bar], label)
        name = source.get("name", Path(source["sem_path"]).name)
        section.items.append(array_item(boundary_overlay(image, label),
                                        f"(a) {name}: EBSD-derived boundary label in red"))
        patch = int(info.get("patch_px", 128))
        section.items.append(array_item(patch_grid_overlay(image, patch),
                                        f"(b) the {patch} x {patch} px patches of "
                                        f"{_label(info_path.parent, roots)}"))
    if not section.items:
        sem_suffix, truth_suffix = (layout.SYNTH_SUFFIXES[k] for k in ("sem", "boundaries"))
        for sem_path in _files(roots, "*" + sem_suffix, "synth")[:2]:
            truth = sem_path.with_name(sem_path.name[: -len(sem_suffix)] + truth_suffix)
            if not truth.is_file():
                continue
            image, label = _crop_common(read_micrograph(sem_path).image, read_mask(truth) > 0)
            section.items.append(array_item(boundary_overlay(image, label),
                                            f"{sem_path.name}: true boundaries in red"))
    return section


def section_prediction(roots: Sequence[Path], notes: list[str]) -> tuple[Section, Section]:
    """Fig. 2 (prediction vs truth, coloured) and Fig. 3 (same image, several models)."""
    fig2 = Section("Fig. 2 - Prediction against truth",
                   note="true negative black, true positive cyan, false positive yellow, "
                        "false negative red")
    fig3 = Section("Fig. 3 - The same micrograph segmented by different models "
                   "(e.g. BCE, then BCE + topological loss)")
    truth_suffix = layout.SYNTH_SUFFIXES["boundaries"]
    suffix = layout.SEGMENT_SUFFIXES["boundaries"]
    truths = {p.name[: -len(truth_suffix)]: p for p in _files(roots, "*" + truth_suffix, "synth")}
    by_stem: dict[str, list[Path]] = {}
    for path in _files(roots, "*" + suffix, "segment"):
        if manifest_stage(path.parent) is None and (
                path.name.endswith(truth_suffix) or path.name == layout.EBSD_BOUNDARIES):
            continue  # without a manifest, these names are synth's and ebsd-grains' files
        by_stem.setdefault(path.name[: -len(suffix)], []).append(path)
    for stem, paths in sorted(by_stem.items()):
        sem_stem = layout.SYNTH_SUFFIXES["sem"].removesuffix(".tif")
        name = stem.removesuffix(sem_stem)
        truth = truths.get(name)
        truth_mask = read_mask(truth) > 0 if truth is not None else None
        for path in paths[:3]:
            try:
                pred = read_mask(path) > 0
            except GrainsegError as exc:
                notes.append(str(exc))
                continue
            if truth_mask is not None:
                p, t = _crop_common(pred, truth_mask)
                dice = pixel_scores(confusion_counts(p, t))["dice"]
                fig2.items.append(array_item(confusion_overlay(p, t),
                                             f"{_label(path, roots)} vs {truth.name}: "
                                             f"pixel Dice {dice:.3f}"))
        if len(paths) >= 2:
            for path in paths[:4]:
                overlay = path.with_name(layout.segment_names(stem)["overlay"])
                if overlay.is_file():
                    fig3.items.append(png_file_item(overlay, _label(path.parent, roots)))
                else:
                    fig3.items.append(array_item(grey_to_rgb(read_mask(path)),
                                                 _label(path, roots)))
    return fig2, fig3


def section_drift(roots: Sequence[Path]) -> Section:
    """Fig. 4: the EBSD boundaries over the SEM image before and after registration."""
    section = Section("Fig. 4 - SEM / EBSD drift: label overlay before and after registration")
    rows = []
    for before in _files(roots, layout.OVERLAY_BEFORE, "labels")[:4]:
        after = before.with_name(layout.OVERLAY_AFTER)
        where = _label(before.parent, roots)
        section.items.append(png_file_item(before, f"{where}: before registration"))
        if after.is_file():
            section.items.append(png_file_item(after, f"{where}: after registration"))
        report = _read_json(before.with_name(layout.REGISTRATION))
        if isinstance(report, dict):
            flat = {k: v for k, v in _flatten(report).items()
                    if isinstance(v, (int, float)) and ("score" in k or "drift" in k)}
            rows.extend([where, k, v] for k, v in list(flat.items())[:8])
    if rows:
        section.items.append(table_item(["labels", "quantity", "value"], rows,
                                        layout.REGISTRATION))
    return section


def _flatten(obj: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def section_grains(roots: Sequence[Path], notes: list[str]) -> list[Section]:
    """Figs. 5-7 and the grain statistics table from ``grainseg grains`` outputs."""
    fig5 = Section("Fig. 5 - Boundary width distributions and difference to the reference")
    fig6 = Section("Fig. 6 - Grain aspect ratio with beta fits")
    fig7 = Section("Fig. 7 - Grain size (ECD) with exponential fits")
    table = Section("Grain statistics (ASTM E112, fits, Jensen-Shannon distances)")
    rows, dist_rows = [], []
    for summary_path in _files(roots, layout.GRAINS_SUMMARY, "grains"):
        summary = _read_json(summary_path)
        if summary is None:
            notes.append(f"{summary_path}: not readable JSON (damaged or cut short), left out")
            continue
        # Without a manifest, the keys tell grains' summary from ebsd-grains'.
        if not isinstance(summary, dict) or (manifest_stage(summary_path.parent) is None
                                             and "astm_g_planimetric" not in summary):
            continue
        where = _label(summary_path.parent, roots)
        for section, name in ((fig5, "width"), (fig6, "aspect_ratio"), (fig7, "size")):
            png = summary_path.with_name(layout.distribution_png(name))
            if png.is_file():
                section.items.append(png_file_item(png, where))
        rows.append([where, *(summary.get(k) for k in _GRAIN_KEYS)])
        distances = summary.get("distances")
        if isinstance(distances, dict):
            width = (distances.get("width_difference") or {}).get("mean_px")
            dist_rows.append([where, *(distances.get(k) for k in _DISTANCE_KEYS), width])
    if rows:
        table.items.append(table_item(["grains", *_GRAIN_KEYS], rows, "per grain map"))
    if dist_rows:
        table.items.append(table_item(["grains vs reference", *_DISTANCE_KEYS,
                                       "width_difference_mean_px"], dist_rows,
                                      "Jensen-Shannon distances (base 2) to the reference"))
    return [fig5, fig6, fig7, table]


def section_metrics(roots: Sequence[Path], notes: list[str]) -> Section:
    """Tables 2-4: evaluation scores, and the training curves of the runs."""
    section = Section("Metrics - evaluation scores and training curves")
    rows = []
    for path in _files(roots, "*.json"):
        scores = _read_json(path)
        if isinstance(scores, dict) and "dice" in scores and "ari" in scores:
            rows.append([_label(path, roots), *(scores.get(k) for k in _EVAL_KEYS)])
    if rows:
        section.items.append(table_item(["evaluation", *_EVAL_KEYS], rows,
                                        "pixel scores pooled over the patches, ARI and Betti "
                                        "errors averaged per patch"))
    captions = ("Table 2 - architectures (grainseg compare)",
                "Table 3 - boundary class weight (grainseg compare)")
    for name, caption in zip(layout.COMPARE_TABLES, captions, strict=True):
        for path in _files(roots, name, "compare")[:2]:
            try:
                with path.open(newline="", encoding="utf-8") as handle:
                    records = list(csv.reader(handle))
            except (OSError, csv.Error):
                continue
            if len(records) > 1:
                section.items.append(table_item(records[0], [[_number(c) for c in r]
                                                             for r in records[1:]],
                                                f"{caption}: {_label(path, roots)}"))
    for path in _files(roots, layout.TRAIN_METRICS, "train")[:6]:
        fig = _training_curves(path, _label(path.parent, roots), notes)
        if fig is not None:
            section.items.append(figure_item(fig, _label(path, roots)))
    return section


def _number(text: str) -> object:
    """A CSV cell as a float when it is one (shown rounded), else the text."""
    try:
        return float(text)
    except ValueError:
        return text


def _training_curves(path: Path, title: str, notes: list[str]) -> Figure | None:
    """Loss-like columns of a Lightning metrics.csv against the step (or epoch).

    A damaged file gives a line in ``notes`` (unreadable, no such columns, rows cut short or
    cells that are not numbers, which are left out) instead of an error.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
    except (OSError, ValueError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
        notes.append(f"{path}: not a readable metrics.csv ({type(exc).__name__}), left out")
        return None
    if not records:
        return None
    x_key = "step" if "step" in records[0] else "epoch" if "epoch" in records[0] else None
    columns = [c for c in records[0] if c and "loss" in c]
    if x_key is None or not columns:
        notes.append(f"{path}: no epoch or step and loss columns (damaged?), left out")
        return None
    bad_rows = sum(None in r or None in r.values() for r in records)
    table = {key: [_number(r.get(key) or "") for r in records] for key in (x_key, *columns)}
    bad_cells = sum(isinstance(v, str) and v != "" for values in table.values() for v in values)
    if bad_rows or bad_cells:
        notes.append(f"{path}: {bad_rows} row(s) of the wrong length and {bad_cells} cell(s) "
                     "that are not numbers (damaged file?); those points are left out")
    fig = Figure(figsize=(5.5, 3.5))
    ax = fig.add_subplot()
    for column in columns:
        pairs = [(x, y) for x, y in zip(table[x_key], table[column], strict=True)
                 if isinstance(x, float) and isinstance(y, float)]
        if pairs:
            xs, ys = zip(*pairs, strict=True)
            ax.plot(xs, ys, marker="." if len(xs) < 50 else None, label=column)
    ax.set_xlabel(x_key)
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def section_segmentations(roots: Sequence[Path]) -> Section:
    """Whole-micrograph segmentations (``STEM_overlay.png`` of ``grainseg segment``)."""
    section = Section("Segmented micrographs")
    for path in _files(roots, "*" + layout.SEGMENT_SUFFIXES["overlay"], "segment")[:8]:
        section.items.append(png_file_item(path, _label(path, roots)))
    return section


def collect_sections(roots: Iterable[str | os.PathLike]) -> tuple[list[Section], list[str]]:
    """All report sections found under the given folders (or files), in the paper's order.

    Returns
    -------
    sections : list of Section
        Possibly empty sections are kept out.
    notes : list of str
        Files that were found but could not be used.

    Raises
    ------
    GrainsegError
        If a given path does not exist.
    """
    paths = [Path(r) for r in roots]
    for path in paths:
        if not path.exists():
            raise GrainsegError(f"{path}: no such file or folder")
    notes: list[str] = []
    fig2, fig3 = section_prediction(paths, notes)
    sections = [section_micrograph(paths, notes), fig2, fig3, section_drift(paths),
                *section_grains(paths, notes), section_metrics(paths, notes),
                section_segmentations(paths)]
    return [s for s in sections if s.items], notes


def report_from_folders(roots: Sequence[str | os.PathLike], out_path: str | os.PathLike,
                        title: str = "grainseg report") -> tuple[Path, list[Section], list[str]]:
    """Collect the sections under ``roots`` and write the HTML report; see `collect_sections`."""
    from grainseg.report.html import build_report

    sections, notes = collect_sections(roots)
    if not sections:
        raise GrainsegError(
            f"no grainseg outputs found in {', '.join(str(r) for r in roots)} (looked for "
            "dataset.json, *_boundaries.tif, overlay_*.png, summary.json, evaluation JSON, "
            "metrics.csv)"
        )
    if notes:
        sections.append(Section("Files that could not be used", [text_item(n) for n in notes]))
    intro = "Made from the outputs in: " + ", ".join(str(r) for r in roots)
    return build_report(sections, out_path, title, intro), sections, notes
