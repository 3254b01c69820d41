"""HDF5 EBSD files that orix reads: h5ebsd of EDAX, Bruker and EMsoft, and orix's own format."""

from __future__ import annotations

from pathlib import Path

from grainseg.errors import input_error
from grainseg.io.ebsd.map import EBSDMap

EXTENSIONS = (".h5", ".hdf5", ".h5ebsd")


def read(path: Path) -> EBSDMap:
    """Read an HDF5 EBSD map with ``orix.io.load`` (the first map if the file holds several)."""
    from orix import io as orix_io

    try:
        xmap = orix_io.load(path)
    except Exception as exc:  # noqa: BLE001 - orix raises many types for foreign files
        raise input_error(path, f"orix cannot read this HDF5 file as an EBSD map ({exc})") from None
    if isinstance(xmap, list):
        xmap = xmap[0]
    ebsd_map = EBSDMap.from_crystal_map(xmap, path=path)
    ebsd_map.notes.append(f"read with orix {type(xmap).__name__}")
    return ebsd_map
