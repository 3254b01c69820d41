"""EBSD map files, one format plugin per module, and the dispatcher that picks one.

Each plugin module declares ``EXTENSIONS`` (lower-case suffixes), ``read(path) -> EBSDMap`` and,
where grainseg writes the format, ``write(path, ebsd)``. Every reader returns an `EBSDMap` on a
square grid, row-major as in the file, or raises `GrainsegError` naming the file and the
problem. Shared parsing lives in `common`, the symmetry codes of all vendors in `symmetry`.

========  ============================================  ==========
module    format                                        write
========  ============================================  ==========
ang       EDAX/TSL .ang (square and hexagonal grids)    yes
ctf       Oxford .ctf                                   yes
cpr_crc   Oxford .cpr + .crc binary pair                no
h5ebsd    HDF5 read by orix (EDAX, Bruker, EMsoft)      no
========  ============================================  ==========
"""

from __future__ import annotations

import os
from pathlib import Path

from grainseg.errors import input_error
from grainseg.io.ebsd import ang, cpr_crc, ctf, h5ebsd
from grainseg.io.ebsd.map import EBSDMap, Phase

PLUGINS = (ang, ctf, cpr_crc, h5ebsd)
SUPPORTED_SUFFIXES = tuple(suffix for plugin in PLUGINS for suffix in plugin.EXTENSIONS)
WRITABLE_SUFFIXES = tuple(
    suffix for plugin in PLUGINS if hasattr(plugin, "write") for suffix in plugin.EXTENSIONS
)

__all__ = ["EBSDMap", "Phase", "SUPPORTED_SUFFIXES", "read_ebsd", "write_ebsd"]


def _plugin(path: Path, suffixes: tuple[str, ...], action: str):
    """The plugin module whose ``EXTENSIONS`` hold the file's suffix."""
    suffix = path.suffix.lower()
    for plugin in PLUGINS:
        if suffix in plugin.EXTENSIONS and suffix in suffixes:
            return plugin
    raise input_error(
        path, f"unsupported EBSD file extension {path.suffix!r} (grainseg {action}s "
        f"{', '.join(suffixes)})"
    )


def read_ebsd(path: str | os.PathLike) -> EBSDMap:
    """Read an EBSD map from any supported file.

    Parameters
    ----------
    path : str or Path
        ``.ang``, ``.ctf``, ``.cpr`` or ``.crc`` (the pair must sit side by side), or an HDF5
        file orix reads (``.h5``, ``.hdf5``, ``.h5ebsd``).

    Returns
    -------
    EBSDMap
        Quaternions (rows, cols, 4) float32, phase IDs, indexed mask, step in µm, phases with
        their Laue groups, per-point properties and notes.

    Raises
    ------
    GrainsegError
        Naming the file and the problem: missing or unreadable file, unsupported or wrong
        extension, truncated data, header and data that disagree, no indexed point.
    """
    path = Path(path)
    plugin = _plugin(path, SUPPORTED_SUFFIXES, "read")
    if plugin is not cpr_crc and not path.is_file():  # a pair names its missing half itself
        raise input_error(path, "file not found")
    ebsd_map = plugin.read(path)
    if not ebsd_map.indexed.any():
        raise input_error(path, "no indexed point in the map (every point is flagged not indexed)")
    return ebsd_map


def write_ebsd(path: str | os.PathLike, ebsd: EBSDMap) -> None:
    """Write an EBSD map in the format of the file's extension (``.ang`` or ``.ctf``), atomically.

    Raises
    ------
    GrainsegError
        For an extension grainseg does not write, or a phase the format cannot hold.
    """
    _plugin(Path(path), WRITABLE_SUFFIXES, "write").write(path, ebsd)
