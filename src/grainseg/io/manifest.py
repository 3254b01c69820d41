"""``manifest.json``: what wrote an output folder, from what, with which settings.

Every stage writes one into its output folder (`write_manifest`); readers recognise a folder by
its ``stage`` (`manifest_stage`) instead of guessing from the files it holds. Folders written
before manifests have none: readers fall back on the file names of `grainseg.layout`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from grainseg import __version__
from grainseg.io.atomic import write_json_atomic
from grainseg.layout import MANIFEST, STAGES


def _jsonable(value: object) -> object:
    """Paths as strings, tuples as lists, the rest as it is (settings are plain values)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_manifest(folder: str | os.PathLike, stage: str,
                   inputs: Iterable[str | os.PathLike] = (),
                   settings: Mapping[str, object] | None = None) -> Path:
    """Write ``folder/manifest.json`` atomically (replacing an earlier run's).

    Parameters
    ----------
    folder : path-like
        An existing output folder.
    stage : str
        One of `grainseg.layout.STAGES`.
    inputs : iterable of path-like
        The files or folders the stage read, as given.
    settings : mapping, optional
        The options that shaped the outputs (JSON values; paths are written as strings).

    Returns
    -------
    Path
        The manifest's path.
    """
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: not one of {', '.join(STAGES)}")
    path = Path(folder) / MANIFEST
    write_json_atomic(path, {"stage": stage, "grainseg_version": __version__,
                             "inputs": [os.fspath(p) for p in inputs],
                             "settings": _jsonable(dict(settings or {}))})
    return path


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The manifest of ``folder`` as a dict, or None when it has none (or an unreadable one)."""
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def manifest_stage(folder: str | os.PathLike) -> str | None:
    """The ``stage`` the manifest of ``folder`` names, or None (no manifest)."""
    manifest = read_manifest(folder)
    stage = manifest.get("stage") if manifest else None
    return stage if isinstance(stage, str) else None
