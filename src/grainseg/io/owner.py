"""Which grainseg stage a folder belongs to, so that no command writes into another's.

A folder's stage is the ``"stage"`` of its ``manifest.json`` when there is one, else the file
only that stage writes (`SIGNATURES`). Writing ``labels`` into an ``ebsd-grains`` folder would
replace its ``grain_ids.tif`` and leave files that no longer belong together; `claim_folder`
refuses that before any work.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from grainseg import layout
from grainseg.errors import GrainsegError
from grainseg.io.atomic import ensure_output_dir
from grainseg.io.manifest import manifest_stage, write_manifest
from grainseg.layout import MANIFEST

# A file that one stage writes and no other, in the order checked (first match wins): how a
# folder written before manifests is recognised.
SIGNATURES = (
    ("dataset", layout.DATASET_INFO),
    ("train", layout.TRAIN_VERSIONS),
    ("train", "checkpoints"),
    ("compare", "runs"),
    ("labels", layout.REGISTRATION),
    ("segment", layout.SEGMENT_SUMMARY),
    ("ebsd-grains", layout.EBSD_BOUNDARIES),
    ("grains", layout.GRAINS_TABLE),
    ("grains", layout.GRAINS_SUMMARY_ALL),
)


def folder_stage(folder: str | os.PathLike) -> str | None:
    """The stage that wrote ``folder`` ("labels", "train", ...), or None (not grainseg's)."""
    folder = Path(folder)
    stage = manifest_stage(folder)
    if stage is not None:
        return stage
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
            raise _foreign_files(folder, stage, names)


def _foreign_files(folder: Path, stage: str, names: list[str]) -> GrainsegError:
    """The refusal of a folder holding files no grainseg stage wrote."""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return GrainsegError(
        f"{folder}: holds files grainseg did not write ({shown}); `grainseg {stage}` "
        "needs a new or empty --out"
    )


def reclaim_folder(folder: str | os.PathLike, stage: str, outputs: tuple[str, ...]) -> Path:
    """Empty ``folder`` of an earlier run of ``stage`` so that ``stage`` can run there afresh.

    For a stage that always writes the same top-level ``outputs`` (``demo``): a folder whose
    manifest names ``stage``, or that holds nothing but those outputs (an earlier run written
    before manifests), has them deleted; a new or empty folder is created. The folder's
    manifest then names ``stage``.

    Parameters
    ----------
    folder : path-like
        The ``--out`` folder (it may not exist yet).
    stage : str
        The command about to run.
    outputs : tuple of str
        The names ``stage`` writes directly inside ``folder``; hidden temporary ``.*.part``
        files of an interrupted write are removed with them.

    Returns
    -------
    Path
        The folder, now empty but for its manifest.

    Raises
    ------
    GrainsegError
        When the folder belongs to another stage (as `claim_folder`) or holds other files:
        ``"DIR: holds files grainseg did not write (NAME, ...); `grainseg STAGE` needs a new or
        empty --out"``.
    """
    folder = Path(folder)
    if folder.is_dir():
        def own(name: str) -> bool:
            return name in outputs or name == MANIFEST or (
                name.startswith(".") and name.endswith(".part"))

        entries = sorted(folder.iterdir())
        if folder_stage(folder) != stage:
            foreign = [p.name for p in entries if not own(p.name)]
            if foreign:
                claim_folder(folder, stage)  # another stage's folder is named as such
                raise _foreign_files(folder, stage, foreign)
        for entry in entries:
            if own(entry.name) and entry.name != MANIFEST:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
    folder = ensure_output_dir(folder)
    write_manifest(folder, stage)
    return folder
