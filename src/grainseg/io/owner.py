"""Which grainseg stage a folder belongs to, so that no command writes into another's.

A folder's stage is the ``"stage"`` of its ``manifest.json`` when there is one, else the file
only that stage writes (`SIGNATURES`). Writing ``labels`` into an ``ebsd-grains`` folder would
replace its ``grain_ids.tif`` and leave files that no longer belong together; `claim_folder`
refuses that before any work.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from grainseg.errors import GrainsegError

MANIFEST = "manifest.json"

# A file that one stage writes and no other, in the order checked (first match wins).
SIGNATURES = (
    ("dataset", "dataset.json"),
    ("train", "versions.json"),
    ("train", "checkpoints"),
    ("compare", "runs"),
    ("labels", "registration.json"),
    ("segment", "segment_summary.json"),
    ("ebsd-grains", "boundaries.tif"),
    ("grains", "grains.csv"),
    ("grains", "summary_all.json"),
)


def folder_stage(folder: str | os.PathLike) -> str | None:
    """The stage that wrote ``folder`` ("labels", "train", ...), or None (not grainseg's)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        stage = manifest.get("stage") if isinstance(manifest, dict) else None
        if isinstance(stage, str):
            return stage
    except (OSError, ValueError):
        pass
    return next((stage for stage, name in SIGNATURES if (folder / name).exists()), None)


def claim_folder(folder: str | os.PathLike, stage: str, foreign_files: bool = True) -> None:
    """Refuse to write ``stage``'s outputs into a folder that another stage owns.

    Parameters
    ----------
    folder : path-like
        The ``--out`` folder (it may not exist yet).
    stage : str
        The command about to write.
    foreign_files : bool
        Accept a folder holding files no grainseg stage wrote (False: it must be new, empty or
        ``stage``'s own).

    Raises
    ------
    GrainsegError
        ``"DIR: holds the outputs of `grainseg OTHER`; choose another --out"``, or for
        ``foreign_files=False`` ``"DIR: holds files grainseg did not write (NAME, ...)"``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    owner = folder_stage(folder)
    if owner is not None and owner != stage:
        raise GrainsegError(
            f"{folder}: holds the outputs of `grainseg {owner}`; writing `grainseg {stage}` "
            "outputs there would mix them: choose another --out"
        )
    if owner is None and not foreign_files:
        names = sorted(p.name for p in folder.iterdir())
        if names:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            raise GrainsegError(
                f"{folder}: holds files grainseg did not write ({shown}); `grainseg {stage}` "
                "needs a new or empty --out"
            )
