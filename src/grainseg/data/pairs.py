"""Find the SEM image, label and ignore mask that make one training pair.

A pair is given on the command line in one of three ways:

- a labels folder (from ``grainseg labels`` or saved by ``grainseg review``): ``label.tif``
  (255 = boundary), ``ignore.tif`` (255 = ignore, optional) and the SEM image, either ``sem.tif``
  inside the folder or the path recorded under ``sem_path`` in its ``registration.json`` or
  ``review.json`` (relative paths are taken from the folder);
- explicit files ``SEM.tif:LABEL.tif`` or ``SEM.tif:LABEL.tif:IGNORE.tif``;
- a synthetic specimen prefix ``DIR/NAME`` (from ``grainseg synth``): ``NAME_sem.tif`` with
  ``NAME_truth_boundaries.tif`` as the label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from grainseg.errors import GrainsegError, input_error


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
    label = _existing(folder / "label.tif", "label of the labels folder")
    ignore = folder / "ignore.tif"
    sem = folder / "sem.tif"
    if not sem.is_file():
        reports = [folder / name for name in ("registration.json", "review.json")]
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
    synth_sem = Path(spec + "_sem.tif")
    if synth_sem.is_file():
        label = _existing(Path(spec + "_truth_boundaries.tif"), "truth boundaries of specimen")
        return Pair(path.name, synth_sem, label, None)
    raise input_error(
        spec,
        "not a labels folder, a SEM.tif:LABEL.tif pair or a synthetic specimen prefix "
        "(NAME with NAME_sem.tif beside it)",
    )
