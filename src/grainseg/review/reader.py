"""napari reader for grainseg folders: the micrograph, probability, boundaries and grain IDs.

Reads (see `get_reader`):

- a ``grainseg segment`` output folder: for each ``STEM_grain_ids.tif``, the SEM image (the path
  recorded in ``segment_summary.json``, when it is still there), ``STEM_probability.tif``, the
  boundary network and the grain IDs;
- a labels folder (``grainseg labels`` or saved by ``grainseg review``): the SEM image (``sem.tif``
  or the ``sem_path`` of ``registration.json`` / ``review.json``), ``label.tif``, ``ignore.tif``,
  ``grain_ids.tif``, and ``probability.tif`` / ``uncertainty.tif`` when present.

Layers are scaled to micrometres when the pixel size is known (in the TIFFs or the SEM image's
metadata). Every layer carries ``metadata["grainseg"]`` = ``{"role": ..., "stem": ...,
"image_path": ...}`` so that the review widget finds the layers of one micrograph. This module
needs no napari: it returns napari's plain layer-data tuples.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from grainseg import layout
from grainseg.errors import GrainsegError
from grainseg.io.manifest import manifest_stage

LayerData = tuple[np.ndarray, dict, str]

#: Display settings of each role (napari layer keyword arguments).
STYLE = {
    "image": dict(colormap="gray"),
    "probability": dict(colormap="magma", blending="additive", opacity=0.5, visible=False,
                        contrast_limits=(0.0, 1.0)),
    "uncertainty": dict(colormap="viridis", blending="additive", opacity=0.5, visible=False,
                        contrast_limits=(0.0, 1.0)),
    "boundaries": dict(colormap="red", blending="additive", contrast_limits=(0, 255)),
    "label": dict(colormap="cyan", blending="additive", opacity=0.6, contrast_limits=(0, 255)),
    "ignore": dict(colormap="gray", blending="additive", opacity=0.25, visible=False,
                   contrast_limits=(0, 255)),
    "grain_ids": dict(opacity=0.25),
}
_LAYER_TYPE = {"grain_ids": "labels"}


def layer(data: np.ndarray, role: str, stem: str, pixel_size_um: float | None,
          image_path: Path | None = None, name: str | None = None) -> LayerData:
    """One napari layer-data tuple with grainseg's style, scale and metadata."""
    kwargs = dict(STYLE[role])
    kwargs["name"] = name or f"{stem} {role.replace('_', ' ')}"
    kwargs["metadata"] = {"grainseg": {"role": role, "stem": stem,
                                       "image_path": str(image_path) if image_path else None,
                                       "pixel_size_um": pixel_size_um}}
    if pixel_size_um is not None:
        kwargs.update(scale=(pixel_size_um, pixel_size_um), units=("um", "um"))
    return data, kwargs, _LAYER_TYPE.get(role, "image")


def _read(path: Path) -> tuple[np.ndarray, float | None]:
    from grainseg.io.tiff import read_micrograph

    micrograph = read_micrograph(path)
    return micrograph.image, micrograph.pixel_size_um


def _recorded_sem(folder: Path) -> Path | None:
    """SEM image of a labels folder: sem.tif, else the sem_path of its JSON record."""
    if (folder / "sem.tif").is_file():
        return folder / "sem.tif"
    for name in ("review.json", "registration.json"):
        try:
            recorded = json.loads((folder / name).read_text(encoding="utf-8"))["sem_path"]
            sem = Path(recorded) if Path(recorded).is_absolute() else folder / recorded
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if sem.is_file():
            return sem
    return None


def _segment_images(folder: Path) -> dict[str, Path]:
    """STEM -> SEM image path recorded in segment_summary.json (those still on disk)."""
    try:
        records = json.loads((folder / "segment_summary.json").read_text())["images"]
        paths = [Path(record["image"]) for record in records]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {path.stem: path for path in paths if path.is_file()}


def read_segment_folder(folder: Path) -> list[LayerData]:
    """Layers of every micrograph in a ``grainseg segment`` output folder."""
    images = _segment_images(folder)
    layers: list[LayerData] = []
    for ids_path in sorted(folder.glob("*_grain_ids.tif")):
        stem = ids_path.name[: -len("_grain_ids.tif")]
        grain_ids, size = _read(ids_path)
        sem = images.get(stem)
        if sem is not None:
            image, sem_size = _read(sem)
            size = size if size is not None else sem_size
            layers.append(layer(image, "image", stem, size, sem))
        prob_path = folder / f"{stem}_probability.tif"
        if prob_path.is_file():
            layers.append(layer(_read(prob_path)[0], "probability", stem, size, sem))
        layers.append(layer((grain_ids == 0).astype(np.uint8) * np.uint8(255), "boundaries",
                            stem, size, sem))
        layers.append(layer(grain_ids.astype(np.uint32), "grain_ids", stem, size, sem))
    return layers


def read_labels_folder(folder: Path) -> list[LayerData]:
    """Layers of a labels folder."""
    stem = folder.name
    sem = _recorded_sem(folder)
    size = None
    layers: list[LayerData] = []
    if sem is not None:
        image, size = _read(sem)
        layers.append(layer(image, "image", stem, size, sem))
    for role in ("probability", "uncertainty", "label", "ignore", "grain_ids"):
        path = folder / f"{role}.tif"
        if path.is_file():
            data, own = _read(path)
            size = size if size is not None else own
            layers.append(layer(data, role, stem, size, sem))
    if (folder / "grain_ids.tif").is_file():
        grain_ids = layers[-1][0]
        layers.insert(-1, layer((grain_ids == 0).astype(np.uint8) * np.uint8(255), "boundaries",
                                stem, size, sem))
    return layers


def folder_kind(path: str | os.PathLike) -> str | None:
    """``"segment"``, ``"labels"`` or None for a path that is no grainseg folder.

    The folder's manifest decides (a saved review is a labels folder); a folder without one is
    recognised by its file names.
    """
    folder = Path(path)
    if not folder.is_dir():
        return None
    stage = manifest_stage(folder)
    if stage is not None:
        return {"segment": "segment", "labels": "labels", "review": "labels"}.get(stage)
    if (folder / layout.LABEL).is_file() or (folder / layout.REVIEW).is_file():
        return "labels"
    if any(folder.glob("*" + layout.SEGMENT_SUFFIXES["grain_ids"])):
        return "segment"
    return None


def read_folder(path: str | os.PathLike) -> list[LayerData]:
    """Layers of a grainseg folder (see the module docstring).

    Raises
    ------
    GrainsegError
        If the path is no grainseg segment or labels folder.
    """
    kind = folder_kind(path)
    if kind is None:
        raise GrainsegError(f"{path}: not a grainseg segment output or labels folder")
    return read_segment_folder(Path(path)) if kind == "segment" else read_labels_folder(Path(path))


def get_reader(path: str | list[str]) -> Callable[[str], list[LayerData]] | None:
    """npe2 reader hook: ``read_folder`` for grainseg folders, None (not ours) otherwise."""
    if isinstance(path, list):
        return None
    return read_folder if folder_kind(path) is not None else None
