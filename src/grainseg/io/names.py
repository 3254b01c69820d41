"""Output names from input paths: one distinct name per input, never an input's own path.

Inputs with the same stem in different folders (``a.tif``, ``sub/a.tif``) get the folder
path below their common folder folded into the name (``a``, ``sub_a``); names that still clash
are refused before anything is written.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from grainseg.errors import GrainsegError


def output_stems(paths: list[Path], stem_of: Callable[[Path], str] | None = None) -> list[str]:
    """A distinct output stem per input path (see the module docstring).

    ``stem_of`` gives an input's own name without extension (default ``Path.stem``).

    Raises
    ------
    GrainsegError
        When two inputs would get the same name (the same file given twice, or ``sub/a.tif``
        beside ``sub_a.tif``), naming them.
    """
    resolved = [Path(p).resolve() for p in paths]
    own = [stem_of(p) if stem_of else p.stem for p in resolved]
    by_stem: dict[str, list[int]] = defaultdict(list)
    for index, stem in enumerate(own):
        by_stem[stem].append(index)
    stems = list(own)
    for indices in by_stem.values():
        if len(indices) < 2:
            continue
        common = Path(os.path.commonpath([resolved[i].parent for i in indices]))
        for i in indices:
            parts = resolved[i].parent.relative_to(common).parts
            stems[i] = "_".join([*parts, own[i]])
    owners: dict[str, int] = {}
    for index, stem in enumerate(stems):
        if stem in owners:
            first = paths[owners[stem]]
            raise GrainsegError(
                f"{first} and {paths[index]} would get the same output name {stem!r}; rename "
                "one or segment them into different --out folders"
            )
        owners[stem] = index
    return stems


#: File name endings of the micrographs a folder or glob given as input stands for.
MICROGRAPH_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp")

_GLOB_CHARACTERS = frozenset("*?[")


def expand_inputs(paths: list[Path], recursive: bool = False) -> list[Path]:
    """The micrographs that input paths stand for: files as given, folders and globs expanded.

    A folder stands for the micrograph files (`MICROGRAPH_SUFFIXES`) and zarr stores directly
    inside it, in name order, hidden files left out; with ``recursive`` for those of its
    subfolders too. A path holding ``*``, ``?`` or ``[`` that names no file is a glob (as a
    shell would expand it; ``**`` spans folders with ``recursive``). Other paths are kept, so
    that reading a missing one reports it.

    Raises
    ------
    GrainsegError
        ``"PATTERN: no file matches"``, or ``"DIR: folder holds no micrograph (...)"``.
    """
    import glob

    from grainseg.io.omezarr import is_zarr

    def folder_images(folder: Path) -> list[Path]:
        found = []
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            if is_zarr(entry) or (entry.is_file()
                                  and entry.suffix.lower() in MICROGRAPH_SUFFIXES):
                found.append(entry)
            elif recursive and entry.is_dir():
                found += folder_images(entry)
        return found

    expanded: list[Path] = []
    for path in map(Path, paths):
        if not path.exists() and _GLOB_CHARACTERS & set(str(path)):
            matches = sorted(glob.glob(str(path), recursive=recursive))
            if not matches:
                raise GrainsegError(f"{path}: no file matches")
            expanded += [Path(m) for m in matches]
        elif path.is_dir() and not is_zarr(path):
            images = folder_images(path)
            if not images:
                where = " or its subfolders" if recursive else " (--recursive for its subfolders)"
                raise GrainsegError(
                    f"{path}: folder holds no micrograph ({', '.join(MICROGRAPH_SUFFIXES)} or "
                    f"zarr){where}")
            expanded += images
        else:
            expanded.append(path)
    return expanded
