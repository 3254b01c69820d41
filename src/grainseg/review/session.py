"""One micrograph under review: its segmentation, the edits with undo, what was reviewed, saving.

`ReviewSession` holds the arrays and applies the edits of `grainseg.review.edits`; the napari
widget (`grainseg.review.widget`) is a thin shell over it, so everything here is tested without
Qt. Arrays cover the rows above the instrument's data bar (the rows `grainseg segment` writes);
the saved label and ignore masks are padded back to the full image, the bar ignored, so that
`grainseg dataset` reads the saved folder as it is.

Saved labels folder (`ReviewSession.save`)::

    label.tif        uint8, 255 = boundary (the corrected network widened to width_px)
    ignore.tif       uint8, 255 = not reviewed yet, or the data bar
    grain_ids.tif    uint32, corrected grain IDs (0 = boundary), rows above the data bar
    probability.tif, uncertainty.tif   float32, rows above the data bar (when known)
    review.json      sem_path (absolute), image size, data-bar row, pixel size, model, counts
    grains/          grains.csv, summary.json and figures of the corrected map (`grainseg grains`)

Reopening a saved folder (`load_session` with ``seg=FOLDER``) continues the review: the reviewed
area is where ignore.tif is 0.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from grainseg.errors import GrainsegError, input_error
from grainseg.review import edits
from grainseg.review.uncertainty import Region, flip_spread, uncertain_regions, uncertainty_map

#: Pixels around an edit that count as reviewed with it.
REVIEWED_MARGIN_PX = 16
#: Most edits kept for undo.
UNDO_DEPTH = 100
REVIEW_FORMAT = "grainseg-review"


class Cancelled(Exception):
    """The user stopped a running segmentation."""


@dataclass
class _Undo:
    """The pixels an edit changed: where, and what was there before."""

    box: tuple[slice, slice]
    before: np.ndarray
    name: str


@dataclass
class ReviewSession:
    """A micrograph, its grain map and the state of its review.

    Attributes
    ----------
    image : (H, W) array
        The raw micrograph, data bar included.
    grain_ids : (H', W) uint32
        Grain IDs (0 = boundary) of rows ``0:H'`` (above the data bar).
    probability : (H', W) float32 or None
        Boundary probability, when known.
    uncertainty : (H', W) float32 or None
        `grainseg.review.uncertainty.uncertainty_map`, when known.
    reviewed : (H', W) bool
        Pixels a person has checked.
    image_path : Path or None
    pixel_size_um : float or None
    model : str or None
        The model that made the segmentation.
    """

    image: np.ndarray
    grain_ids: np.ndarray
    probability: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    reviewed: np.ndarray | None = None
    image_path: Path | None = None
    pixel_size_um: float | None = None
    model: str | None = None
    history: list[_Undo] = field(default_factory=list, repr=False)
    n_edits: int = 0
    current_region: Region | None = None

    def __post_init__(self) -> None:
        self.grain_ids = edits.remove_dangling(self.grain_ids)
        height, width = self.grain_ids.shape
        if self.image.shape[1] != width or self.image.shape[0] < height:
            raise GrainsegError(
                f"grain map is {height} x {width} px but the image is {self.image.shape[0]} x "
                f"{self.image.shape[1]} px: it must cover the image's top rows, full width")
        for name in ("probability", "uncertainty", "reviewed"):
            value = getattr(self, name)
            if value is not None and value.shape != self.grain_ids.shape:
                raise GrainsegError(f"{name} is {value.shape} px, the grain map "
                                    f"{self.grain_ids.shape} px")
        if self.reviewed is None:
            self.reviewed = np.zeros(self.grain_ids.shape, dtype=bool)
        if self.uncertainty is None and self.probability is not None:
            self.uncertainty = uncertainty_map(self.probability)

    @property
    def data_bar_row(self) -> int:
        """First row of the data bar (= number of rows of the grain map)."""
        return self.grain_ids.shape[0]

    @property
    def boundaries(self) -> np.ndarray:
        """(H', W) uint8, 255 on the boundary network."""
        return (self.grain_ids == 0).astype(np.uint8) * np.uint8(255)

    # -- edits ------------------------------------------------------------------------------

    def _apply(self, name: str, new_ids: np.ndarray) -> np.ndarray:
        changed = new_ids != self.grain_ids
        ys, xs = np.nonzero(changed)
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        self.history.append(_Undo(box, self.grain_ids[box].copy(), name))
        del self.history[:-UNDO_DEPTH]
        self.grain_ids = new_ids
        self.n_edits += 1
        # The changed pixels and their surroundings were looked at: mark them reviewed.
        margin = REVIEWED_MARGIN_PX
        near = (slice(max(box[0].start - margin, 0), box[0].stop + margin),
                slice(max(box[1].start - margin, 0), box[1].stop + margin))
        self.reviewed[near] |= ndimage.distance_transform_edt(~changed[near]) <= margin
        return new_ids

    def merge(self, point_a_rc, point_b_rc) -> np.ndarray:
        """Merge the grains under two points; returns the new grain map."""
        a = edits.grain_at(self.grain_ids, point_a_rc)
        b = edits.grain_at(self.grain_ids, point_b_rc)
        return self._apply("merge", edits.merge_grains(self.grain_ids, a, b))

    def split(self, path_rc) -> np.ndarray:
        """Cut the grain a line crosses most in two along it."""
        return self._apply("split", edits.split_grain(self.grain_ids, np.asarray(path_rc)))

    def draw(self, path_rc) -> np.ndarray:
        """Add a missing boundary along a path."""
        return self._apply("draw", edits.draw_boundary(self.grain_ids, np.asarray(path_rc)))

    def erase(self, path_rc, radius_px: float = 2.0) -> np.ndarray:
        """Erase a false boundary under a brush stroke."""
        return self._apply("erase", edits.erase_boundary(self.grain_ids, np.asarray(path_rc),
                                                         radius_px))

    def delete(self, point_rc) -> np.ndarray:
        """Delete the false grain (a pit) under a point."""
        grain = edits.grain_at(self.grain_ids, point_rc)
        return self._apply("delete", edits.delete_grain(self.grain_ids, grain))

    def undo(self) -> str:
        """Undo the last edit; returns its name.

        Raises
        ------
        GrainsegError
            If there is nothing to undo.
        """
        if not self.history:
            raise GrainsegError("nothing to undo")
        last = self.history.pop()
        restored = self.grain_ids.copy()
        restored[last.box] = last.before
        self.grain_ids = restored
        self.n_edits -= 1
        return last.name

    # -- review progress --------------------------------------------------------------------

    def mark_reviewed(self, box: tuple[int, int, int, int] | None = None) -> None:
        """Mark a box (row0, row1, col0, col1) as reviewed; None marks the whole map."""
        if box is None:
            self.reviewed[:] = True
        else:
            row0, row1, col0, col1 = box
            self.reviewed[max(row0, 0) : row1, max(col0, 0) : col1] = True

    def next_uncertain_region(self) -> Region | None:
        """Mark the current region reviewed and return the most uncertain one not yet reviewed.

        A region counts as reviewed when at least half of it is. Returns None when none is left
        (or no uncertainty is known).
        """
        if self.current_region is not None:
            self.mark_reviewed(self.current_region.box)
        self.current_region = None
        if self.uncertainty is None:
            return None
        for region in uncertain_regions(self.uncertainty):
            row0, row1, col0, col1 = region.box
            if self.reviewed[row0:row1, col0:col1].mean() < 0.5:
                self.current_region = region
                break
        return self.current_region

    # -- saving -----------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike, width_px: int = 3) -> Path:
        """Write the labels folder described in the module docstring; returns its path.

        Parameters
        ----------
        folder : path
            Created if needed; files in it are replaced atomically.
        width_px : int
            Width of the boundaries in label.tif, in pixels (odd, >= 1; `grainseg labels`
            draws 3 by default).
        """
        from grainseg import layout
        from grainseg.grains.analysis import analyse_grains, grain_map_from_array
        from grainseg.grains.outputs import write_grain_outputs
        from grainseg.io.atomic import ensure_output_dir, write_json_atomic
        from grainseg.io.manifest import write_manifest
        from grainseg.io.tiff import write_mask, write_tiff

        if width_px < 1 or width_px % 2 == 0:
            raise GrainsegError(f"label width must be an odd number of pixels, got {width_px}")
        out = ensure_output_dir(folder)
        full = self.image.shape[:2]
        network = self.grain_ids == 0
        label = np.zeros(full, dtype=bool)
        label[: self.data_bar_row] = ndimage.distance_transform_edt(~network) <= (width_px - 1) / 2
        ignore = np.ones(full, dtype=bool)
        ignore[: self.data_bar_row][self.reviewed] = False
        write_mask(out / layout.LABEL, label, self.pixel_size_um)
        write_mask(out / layout.IGNORE, ignore, self.pixel_size_um)
        write_tiff(out / layout.GRAIN_IDS, self.grain_ids, self.pixel_size_um)
        for name, file in (("probability", layout.REVIEW_PROBABILITY),
                           ("uncertainty", layout.REVIEW_UNCERTAINTY)):
            if getattr(self, name) is not None:
                write_tiff(out / file, getattr(self, name), self.pixel_size_um)
        analysis = analyse_grains(grain_map_from_array(self.grain_ids, self.pixel_size_um,
                                                       out / layout.GRAIN_IDS))
        write_grain_outputs(out / layout.REVIEW_GRAINS, analysis)
        write_manifest(out / layout.REVIEW_GRAINS, "grains", [out / layout.GRAIN_IDS])
        write_json_atomic(out / layout.REVIEW, {
            "format": REVIEW_FORMAT,
            "sem_path": str(self.image_path.resolve()) if self.image_path else None,
            "image_shape_px": list(full),
            "data_bar_row": self.data_bar_row,
            "pixel_size_um": self.pixel_size_um,
            "model": self.model,
            "label_width_px": width_px,
            "n_grains": int(len(np.unique(self.grain_ids[self.grain_ids > 0]))),
            "n_edits": self.n_edits,
            "reviewed_fraction": float(self.reviewed.mean()),
        })
        write_manifest(out, "review", [self.image_path] if self.image_path else [],
                       {"model": self.model, "label_width_px": width_px})
        return out


def segment_for_review(
    image: np.ndarray,
    model_path: str | os.PathLike | None = None,
    *,
    flips: bool = True,
    threshold: float = 0.5,
    min_grain_px: int = 20,
    tile_px: int | None = None,
    overlap: float | None = None,
    batch: int | None = None,
    device: str = "auto",
    on_progress: Callable[[int, int], None] | None = None,
    stop: threading.Event | None = None,
) -> dict:
    """Segment a micrograph for review: `grainseg.infer.segment_image`, then flip uncertainty.

    Parameters
    ----------
    image : (H, W) array
        Raw micrograph, data bar included.
    model_path : path or None
        Model (see `grainseg.infer.segment.load_predictor`); None = the shipped one.
    flips : bool
        Also predict the three flips for the uncertainty (4 times the work).
    threshold, min_grain_px, tile_px, overlap, batch, device
        As for ``grainseg segment`` (tiling None: chosen for the device by
        `grainseg.infer.segment.plan_tiling`).
    on_progress : callable ``(tiles_done, tiles_total) -> None``, optional
        Called after every batch of tiles.
    stop : threading.Event, optional
        When set, the segmentation stops at the next batch with `Cancelled`.

    Returns
    -------
    dict
        ``grain_ids``, ``probability``, ``uncertainty`` (arrays above the data bar),
        ``model`` (path as str) and ``notes``.
    """
    from grainseg.infer.segment import (
        default_model_path,
        load_predictor,
        plan_tiling,
        resolve_device,
        segment_image,
    )
    from grainseg.infer.tiling import axis_tiling
    from grainseg.models import SIZE_MULTIPLE
    from grainseg.preprocess import data_bar_start_row, preprocess_sem

    model_path = Path(model_path) if model_path else default_model_path()
    device = resolve_device(device)
    predict, meta = load_predictor(model_path, device)
    median_px = int(meta.get("median_px", 3))
    plan = plan_tiling(predict, device, tile_px, overlap, batch)
    tiling = dict(tile_px=plan.tile_px, overlap=plan.overlap, batch=plan.batch,
                  multiple=SIZE_MULTIPLE)
    bar_row = data_bar_start_row(np.asarray(image))
    overlap_px = int(round(plan.overlap * plan.tile_px))
    per_pass = (len(axis_tiling(bar_row, plan.tile_px, overlap_px, SIZE_MULTIPLE).starts)
                * len(axis_tiling(image.shape[1], plan.tile_px, overlap_px, SIZE_MULTIPLE).starts))
    total = per_pass * (4 if flips else 1)
    done = 0

    def counted(tiles: np.ndarray) -> np.ndarray:
        nonlocal done
        if stop is not None and stop.is_set():
            raise Cancelled("segmentation stopped")
        probs = predict(tiles)
        done += len(tiles)
        if on_progress is not None:
            on_progress(done, total)
        return probs

    result = segment_image(image, counted, median_px=median_px, threshold=threshold,
                           min_grain_px=min_grain_px, **tiling)
    spread = None
    if flips:
        network_input = preprocess_sem(np.asarray(image)[: result.data_bar_row],
                                       median_px=median_px)
        spread = flip_spread(network_input, result.probability, counted, **tiling)
    return {"grain_ids": result.grain_ids, "probability": result.probability,
            "uncertainty": uncertainty_map(result.probability, spread, threshold),
            "model": str(model_path), "notes": result.notes}


def load_session(image_path: str | os.PathLike, seg: str | os.PathLike | None = None
                 ) -> ReviewSession:
    """A review session for a micrograph, with its segmentation read from a folder.

    Parameters
    ----------
    image_path : path
        The SEM micrograph (TIFF).
    seg : path, optional
        A ``grainseg segment`` output folder (``STEM_grain_ids.tif``, ``STEM_probability.tif``
        for the image's STEM), or a labels folder saved by a review (continues it). None:
        start with one grain covering the image (segment from the widget).

    Raises
    ------
    GrainsegError
        If the folder holds no grain map for this image, or its size does not fit.
    """
    from grainseg.io.tiff import read_micrograph
    from grainseg.preprocess import data_bar_start_row

    image_path = Path(image_path)
    micrograph = read_micrograph(image_path)
    image = micrograph.image
    common = dict(image=image, image_path=image_path, pixel_size_um=micrograph.pixel_size_um)
    if seg is None:
        rows = data_bar_start_row(image)
        return ReviewSession(grain_ids=np.ones((rows, image.shape[1]), np.uint32), **common)
    folder = Path(seg)
    if not folder.is_dir():
        raise input_error(folder, "not a folder (expected grainseg segment output or a "
                                  "labels folder saved by grainseg review)")
    stem = image_path.stem
    if (folder / "review.json").is_file() and (folder / "grain_ids.tif").is_file():
        grain_ids = read_micrograph(folder / "grain_ids.tif").image
        maps = {name: read_micrograph(folder / f"{name}.tif").image
                for name in ("probability", "uncertainty", "ignore")
                if (folder / f"{name}.tif").is_file()}
        ignore = maps.pop("ignore", None)
        reviewed = None if ignore is None else ignore[: grain_ids.shape[0]] == 0
        return ReviewSession(grain_ids=grain_ids.astype(np.uint32), reviewed=reviewed, **maps,
                             **common)
    ids_path = folder / f"{stem}_grain_ids.tif"
    if not ids_path.is_file():
        raise input_error(folder, f"no {stem}_grain_ids.tif for {image_path.name} (run "
                                  "grainseg segment on it first, or pass the right --seg)")
    grain_ids = read_micrograph(ids_path).image
    prob_path = folder / f"{stem}_probability.tif"
    probability = read_micrograph(prob_path).image if prob_path.is_file() else None
    try:
        return ReviewSession(grain_ids=grain_ids.astype(np.uint32), probability=probability,
                             **common)
    except GrainsegError as exc:
        raise input_error(ids_path, str(exc)) from None
