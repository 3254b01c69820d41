"""Build Bruker Esprit h5ebsd files with h5py: the layout orix's Bruker reader reads (scan group
"Scan 0" with EBSD/Data and EBSD/Header; Euler angles in degrees; phases by space group)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def write_bruker_h5(path: Path, euler_deg: np.ndarray, phase: np.ndarray, step_um: float = 0.5,
                    sem_indices: bool = True) -> Path:
    """A Bruker h5ebsd map: ``euler_deg`` (rows, cols, 3), ``phase`` (rows, cols) in the file's
    numbering (0 = not indexed, 1 = nickel, space group 225)."""
    rows, cols = phase.shape
    n = rows * cols
    y, x = np.mgrid[0:rows, 0:cols]
    with h5py.File(path, "w") as h5:
        h5["Manufacturer"] = "Bruker Nano"
        h5["Version"] = "Esprit 2.X"
        data = h5.create_group("Scan 0/EBSD/Data")
        for key, values in (("phi1", euler_deg[..., 0]), ("PHI", euler_deg[..., 1]),
                            ("phi2", euler_deg[..., 2])):
            data[key] = values.reshape(n).astype(np.float32)
        data["Phase"] = phase.reshape(n).astype(np.int32)
        for key in ("MAD", "MADPhase", "NIndexedBands", "PCX", "PCY", "DD", "RadonBandCount",
                    "RadonQuality", "Z SAMPLE"):
            data[key] = np.ones(n, np.float32)
        data["X BEAM"], data["Y BEAM"] = x.reshape(n), y.reshape(n)
        data["X SAMPLE"] = (x * step_um).reshape(n).astype(np.float32)
        data["Y SAMPLE"] = (y * step_um).reshape(n).astype(np.float32)
        header = h5.create_group("Scan 0/EBSD/Header")
        header["NCOLS"], header["NROWS"] = cols, rows
        header["XSTEP"], header["YSTEP"] = step_um, step_um
        header["Grid Type"] = "isometric"
        nickel = header.create_group("Phases/1")
        nickel["Name"] = "Nickel"
        nickel["IT"] = 225
        nickel["LatticeConstants"] = np.array([3.52, 3.52, 3.52, 90.0, 90.0, 90.0])
        nickel["AtomPositions/1"] = "Ni,0,0,0,1"
        if sem_indices:
            sem = h5.create_group("Scan 0/SEM")
            sem["IX"], sem["IY"] = x.reshape(n), y.reshape(n)
    return path
