"""EDAX/TSL OIM Analysis HDF5 exports (.h5: OIM Analysis, APEX); read.

Each scan is a top-level group (``Scan 1``, ``Scan_1``, or any name) holding ``EBSD/Data``
(one 1-D dataset per point property: Phi1, Phi, Phi2 in radians, X Position, Y Position, IQ,
CI, Fit, Phase, SEM Signal, ...) and ``EBSD/Header`` (Grid Type, Step X, Step Y, nColumns,
nRows, and ``Phase/<number>`` with MaterialName and the TSL Symmetry code). These are the
columns of an .ang file, so the points go through the .ang rules (not-indexed flags, hexagonal
resampling). orix 0.15 reads no EDAX HDF5 map (``orix.io.load`` fails on these files); the
tests check that this reader gives the orientations orix makes of the file's Euler angles.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from grainseg.errors import input_error
from grainseg.io.ebsd.ang import map_from_tsl_points
from grainseg.io.ebsd.common import hdf5_file
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.ebsd.symmetry import TSL_SYMMETRY_LAUE

EXTENSIONS = (".h5", ".hdf5")
HAS_SCANS = True
#: EDAX dataset names of the first eight .ang columns; "Fit" is read where present.
_COLUMNS = ("Phi1", "Phi", "Phi2", "X Position", "Y Position", "IQ", "CI", "Phase")


def _natural_key(name: str) -> list:
    """Sort key that puts "Scan 2" before "Scan 10"."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _scans(h5) -> list[str]:
    """Names of the top-level groups laid out as EDAX scans, in natural order."""
    import h5py

    names = [
        name for name, item in h5.items()
        if isinstance(item, h5py.Group) and "EBSD/Data/Phi1" in item and "EBSD/Header" in item
    ]
    return sorted(names, key=_natural_key)


def claims(path: Path) -> bool:
    """True for an HDF5 file with at least one scan in EDAX's layout."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return bool(_scans(h5))
    except (OSError, KeyError, ValueError, RuntimeError, TypeError):
        return False  # not HDF5 or damaged: the next plugin's reader reports it


def _scalar(header, key: str, path: Path, scan: str):
    """One header value (first element of a 1-element dataset), text decoded."""
    if key not in header:
        raise input_error(path, f"scan {scan!r}: EBSD/Header has no {key!r}")
    value = np.asarray(header[key][()]).ravel()
    if value.size == 0:
        raise input_error(path, f"scan {scan!r}: EBSD/Header/{key} is empty")
    value = value[0]
    return value.decode("latin-1").strip("\0 ") if isinstance(value, bytes) else value


def read(path: Path, scan: str | None = None) -> EBSDMap:
    """Read one scan of an EDAX OIM HDF5 file.

    Parameters
    ----------
    scan : str, optional
        Name of the scan group; default the first in natural order ("Scan 1" before "Scan 2").
    """
    with hdf5_file(path) as h5:
        scans = _scans(h5)
        if not scans:
            raise input_error(path, "no EDAX scan group (NAME/EBSD/Data and NAME/EBSD/Header)")
        if scan is None:
            scan = scans[0]
        elif scan not in scans:
            raise input_error(path, f"no scan {scan!r}; the file holds {', '.join(scans)}")
        group = h5[scan]["EBSD"]
        header, points = group["Header"], group["Data"]
        phases, numbers = [], []
        phase_groups = header.get("Phase", {})
        for key in sorted(phase_groups, key=_natural_key):
            entry = phase_groups[key]
            code = int(_scalar(entry, "Symmetry", path, scan))
            if code not in TSL_SYMMETRY_LAUE:
                raise input_error(path, f"scan {scan!r}, phase {key}: unknown TSL symmetry "
                                        f"code {code}")
            name = str(_scalar(entry, "MaterialName", path, scan)) if "MaterialName" in entry \
                else ""
            phases.append(Phase(name or f"phase {key}", TSL_SYMMETRY_LAUE[code]))
            numbers.append(int(key) if key.isdigit() else len(phases))
        if not phases:
            raise input_error(path, f"scan {scan!r}: EBSD/Header/Phase lists no phase")
        missing = [name for name in _COLUMNS if name not in points]
        if missing:
            raise input_error(path, f"scan {scan!r}: EBSD/Data lacks {', '.join(missing)}")
        present = list(_COLUMNS) + (["Fit"] if "Fit" in points else [])
        sizes = {name: points[name].size for name in present}
        if len(set(sizes.values())) != 1:
            raise input_error(path, f"scan {scan!r}: EBSD/Data datasets differ in length "
                                    f"({sizes}; truncated file?)")
        columns = [np.asarray(points[name][()], dtype=np.float64).ravel() for name in present]
        if "Fit" in points:  # the .ang table has the SEM signal (not read) before the fit
            columns.insert(8, np.zeros_like(columns[0]))
        fields = {"GRID": str(_scalar(header, "Grid Type", path, scan))}
        for field, key in (("XSTEP", "Step X"), ("YSTEP", "Step Y"), ("NCOLS_ODD", "nColumns"),
                           ("NROWS", "nRows")):
            if key in header:
                fields[field] = str(_scalar(header, key, path, scan))
    data = np.column_stack(columns)
    if not np.isfinite(data).all():
        raise input_error(path, f"scan {scan!r}: non-finite values in EBSD/Data")
    ebsd_map = map_from_tsl_points(path, data, fields, phases, numbers)
    if len(scans) > 1:
        ebsd_map.notes.append(f"read scan {scan!r} of {', '.join(scans)} (choose with scan=)")
    return ebsd_map
