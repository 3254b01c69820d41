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
