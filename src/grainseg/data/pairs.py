"""Find the SEM image, label and ignore mask that make one training pair.

A pair is given on the command line in one of three ways:

- a labels folder (from ``grainseg labels`` or saved by ``grainseg review``): ``label.tif``
  (255 = boundary), ``ignore.tif`` (255 = ignore, optional) and the SEM image, either ``sem.tif``
  inside the folder or the path recorded under ``sem_path`` in its ``registration.json`` or
  ``review.json`` (relative paths are taken from the folder); a folder whose manifest names
  another stage is refused as such;
- explicit files ``SEM.tif:LABEL.tif`` or ``SEM.tif:LABEL.tif:IGNORE.tif``;
- a synthetic specimen prefix ``DIR/NAME`` (from ``grainseg synth``): ``NAME_sem.tif`` with
  ``NAME_truth_boundaries.tif`` as the label.

Folders of images and hand-drawn masks are paired by file name (`pairs_from_folders`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grainseg import layout
from grainseg.errors import GrainsegError, input_error
from grainseg.io.manifest import manifest_stage


@dataclass(frozen=True)
class Pair:
    """Files of one SEM image and its boundary label.

    Attributes
    ----------
    name : str
        Short name for reports (folder or file stem).
    sem_path, label_path : Path
        SEM micrograph and label (non-zero = boundary), same pixel grid.
    ignore_path : Path or None
        Ignore mask (255 = label unknown), or None when every pixel is labelled.
    """

    name: str
    sem_path: Path
    label_path: Path
    ignore_path: Path | None


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise input_error(path, f"{what} not found")
    return path


def _from_labels_dir(folder: Path) -> Pair:
    stage = manifest_stage(folder)
    if stage not in (None, "labels", "review"):
        hint = (" (a specimen is given as DIR/NAME: NAME_sem.tif with its "
                f"NAME{layout.SYNTH_SUFFIXES['boundaries']})" if stage == "synth" else "")
        raise input_error(folder, f"holds the outputs of `grainseg {stage}` ({layout.MANIFEST}), "
                                  f"not a labels folder{hint}")
    label = _existing(folder / layout.LABEL, "label of the labels folder")
    ignore = folder / layout.IGNORE
    sem = folder / layout.LABELS_SEM
    if not sem.is_file():
        reports = [folder / name for name in (layout.REGISTRATION, layout.REVIEW)]
        report = next((path for path in reports if path.is_file()), None)
        if report is None:
            raise input_error(folder, "labels folder has neither sem.tif nor registration.json "
                                      "nor review.json")
        try:
            sem_path = json.loads(report.read_text(encoding="utf-8"))["sem_path"]
            sem = Path(sem_path)
        except (json.JSONDecodeError, KeyError, TypeError):
            raise input_error(report, "no 'sem_path' entry (or not valid JSON)") from None
        if not sem.is_absolute():
            sem = folder / sem
        _existing(sem, f"SEM image named in {report.name}")
    return Pair(folder.name, sem, label, ignore if ignore.is_file() else None)


def resolve_pair(spec: str) -> Pair:
    """Turn one command-line PAIR into its files (see the module docstring).

    Raises
    ------
    GrainsegError
        If the files are missing or ``spec`` matches none of the three forms.
    """
    path = Path(spec)
    if path.is_dir():
        return _from_labels_dir(path)
    if ":" in spec and not path.exists():
        parts = spec.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise GrainsegError(f"{spec}: expected SEM.tif:LABEL.tif[:IGNORE.tif]")
        sem = _existing(Path(parts[0]), "SEM image")
        label = _existing(Path(parts[1]), "label")
        ignore = _existing(Path(parts[2]), "ignore mask") if len(parts) == 3 else None
        return Pair(sem.stem, sem, label, ignore)
    synth_sem = Path(spec + layout.SYNTH_SUFFIXES["sem"])
    if synth_sem.is_file():
        label = _existing(Path(spec + layout.SYNTH_SUFFIXES["boundaries"]),
                          "truth boundaries of specimen")
        return Pair(path.name, synth_sem, label, None)
    raise input_error(
        spec,
        "not a labels folder, a SEM.tif:LABEL.tif pair or a synthetic specimen prefix "
        "(NAME with NAME_sem.tif beside it)",
    )


#: Image suffixes looked for in image and mask folders.
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")
#: Name endings that mark a mask of the image of the same name ("a_mask.png" masks "a.tif").
MASK_NAME_ENDINGS = ("_mask", "-mask", " mask", "_masks", "_label", "-label", "_labels",
                     "_gt", "-gt", "_boundaries", "_boundary", "_seg")


def _key(stem: str) -> str:
    """A file stem without a mask ending, lower-case, for pairing."""
    lowered = stem.lower()
    for ending in MASK_NAME_ENDINGS:
        if lowered.endswith(ending):
            return lowered[: -len(ending)]
    return lowered


def _images_in(folder: Path, what: str) -> dict[str, Path]:
    if not folder.is_dir():
        raise input_error(folder, f"{what} folder not found")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
            continue
        key = _key(path.stem)
        if key in found:
            raise input_error(path, f"two {what} files pair with one name: {found[key].name} "
                                    f"and {path.name}")
        found[key] = path
    if not found:
        raise input_error(folder, f"no image file ({', '.join(IMAGE_SUFFIXES)}) in the {what} "
                                  "folder")
    return found


def pairs_from_folders(images: str | Path, masks: str | Path) -> list[Pair]:
    """Pair every image in ``images`` with the mask of the same name in ``masks``.

    Names match without their suffix and case, and a mask may add an ending such as
    ``_mask`` or ``_label`` (`MASK_NAME_ENDINGS`): ``a.tif`` pairs with ``a.png`` or
    ``A_mask.png``.

    Raises
    ------
    GrainsegError
        When a folder is missing or empty, or an image has no mask or a mask no image (the
        first few are named).
    """
    image_files = _images_in(Path(images), "image")
    mask_files = _images_in(Path(masks), "mask")
    lonely_images = [p.name for k, p in image_files.items() if k not in mask_files]
    lonely_masks = [p.name for k, p in mask_files.items() if k not in image_files]
    if lonely_images or lonely_masks:
        parts = []
        if lonely_images:
            parts.append(f"{len(lonely_images)} image(s) without a mask ("
                         f"{', '.join(lonely_images[:5])})")
        if lonely_masks:
            parts.append(f"{len(lonely_masks)} mask(s) without an image ("
                         f"{', '.join(lonely_masks[:5])})")
        raise input_error(masks, "; ".join(parts) + ": masks pair with images by file name, "
                                 f"optionally ending in {', '.join(MASK_NAME_ENDINGS[:4])}, ...")
    return [Pair(image_files[k].stem, image_files[k], mask_files[k], None)
            for k in sorted(image_files)]
