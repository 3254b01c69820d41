"""EBSD map files, one format plugin per module, and the dispatcher that picks one.

Each plugin module declares ``EXTENSIONS`` (lower-case suffixes), ``read(path) -> EBSDMap`` and,
where grainseg writes the format, ``write(path, ebsd)``. Plugins that share an extension (.h5)
declare ``claims(path) -> bool``: the first plugin in `PLUGINS` that claims the file (or has no
``claims``) reads it. Plugins of files that hold several maps declare ``HAS_SCANS = True`` and
take ``read(path, scan=None)``. Every reader returns an `EBSDMap` on a
square grid, row-major as in the file, or raises `GrainsegError` naming the file and the
problem. Shared parsing lives in `common`, the symmetry codes of all vendors in `symmetry`.

========  ============================================  ==========
module    format                                        write
========  ============================================  ==========
ang       EDAX/TSL .ang (square and hexagonal grids)    yes
osc       EDAX/TSL .osc binary scan file                no
ctf       Oxford .ctf                                   yes
cpr_crc   Oxford .cpr + .crc binary pair                no
h5oina    Oxford .h5oina (AZtec)                        no
edax_h5   EDAX OIM Analysis .h5 (one or more scans)     no
h5ebsd    other HDF5, read by orix (Bruker, EMsoft)     no
========  ============================================  ==========
"""

from __future__ import annotations

import os
from pathlib import Path

from grainseg.errors import input_error
from grainseg.io.ebsd import ang, cpr_crc, ctf, edax_h5, h5ebsd, h5oina, osc
from grainseg.io.ebsd.map import EBSDMap, Phase

PLUGINS = (ang, osc, ctf, cpr_crc, h5oina, edax_h5, h5ebsd)
SUPPORTED_SUFFIXES = tuple(dict.fromkeys(s for plugin in PLUGINS for s in plugin.EXTENSIONS))
WRITABLE_SUFFIXES = tuple(
    dict.fromkeys(s for plugin in PLUGINS if hasattr(plugin, "write") for s in plugin.EXTENSIONS)
)

__all__ = ["EBSDMap", "Phase", "SUPPORTED_SUFFIXES", "read_ebsd", "write_ebsd"]


def _plugin(path: Path, writing: bool = False):
    """The plugin module that reads (or writes) ``path``, chosen by suffix and ``claims``."""
    suffix = path.suffix.lower()
    suffixes = WRITABLE_SUFFIXES if writing else SUPPORTED_SUFFIXES
    for plugin in PLUGINS:
        if suffix not in plugin.EXTENSIONS or (writing and not hasattr(plugin, "write")):
            continue
        if writing or not hasattr(plugin, "claims") or plugin.claims(path):
            return plugin
    raise input_error(
        path, f"unsupported EBSD file extension {path.suffix!r} (grainseg "
        f"{'writes' if writing else 'reads'} {', '.join(suffixes)})"
    )


def read_ebsd(path: str | os.PathLike, scan: str | None = None) -> EBSDMap:
    """Read an EBSD map from any supported file.

    Parameters
    ----------
    path : str or Path
        ``.ang``, ``.osc``, ``.ctf``, ``.cpr`` or ``.crc`` (the pair must sit side by side),
        ``.h5oina``, an EDAX OIM ``.h5``, or another HDF5 file orix reads (``.h5``, ``.hdf5``,
        ``.h5ebsd``).
    scan : str, optional
        The scan to read from a file that holds several (EDAX OIM .h5 scan, .h5oina slice);
        default the first.

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
    if path.suffix.lower() not in (".cpr", ".crc") and not path.is_file():
        raise input_error(path, "file not found")  # a .cpr/.crc pair names its missing half
    plugin = _plugin(path)
    if getattr(plugin, "HAS_SCANS", False):
        ebsd_map = plugin.read(path, scan=scan)
    elif scan is not None:
        raise input_error(path, f"holds one map; a scan name ({scan!r}) applies only to files "
                                "with several scans (EDAX .h5, .h5oina)")
    else:
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
    _plugin(Path(path), writing=True).write(path, ebsd)
