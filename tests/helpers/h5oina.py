"""Build .h5oina files with h5py from the public specification (oinanoanalysis/h5oina,
H5OINAFile.md): root Index, slice "1", EBSD Data/Header with Phases, Electron Image Data/Header,
Relative Offset/Size. No small real .h5oina file is public."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

ROWS, COLS, STEP_UM = 6, 8, 0.5


#: The datasets the specification marks mandatory, for the parts written here (root, slice "1",
#: EBSD Data / Header / Phases, Electron Image Header); `write_h5oina` writes all of them.
MANDATORY = {
    "": ("Format Version", "Index"),
    "1/EBSD/Data": ("Phase", "Euler"),
    "1/EBSD/Header": ("Project Label", "X Cells", "Y Cells", "X Step", "Y Step",
                      "Specimen Orientation Euler", "Scanning Rotation Angle"),
    "1/EBSD/Header/Phases/1": ("Phase Name", "Reference", "Lattice Angles",
                               "Lattice Dimensions", "Laue Group"),
    "1/Electron Image/Header": ("Project Label", "X Cells", "Y Cells", "X Step", "Y Step"),
}


def _string(value: str) -> np.ndarray:
    """An H5T_STRING (UTF-8) of the spec's dimension (1, 1)."""
    return np.array([[value.encode()]], dtype=h5py.string_dtype())


def _common_header(group, cols: int, rows: int, step_um: float) -> None:
    """The mandatory datasets of the spec's Common Header."""
    group["Project Label"] = _string("grainseg test project")
    for key, value in (("X Cells", cols), ("Y Cells", rows)):
        group[key] = np.array([[value]], np.int32)
    for key in ("X Step", "Y Step"):
        group[key] = np.array([[step_um]], np.float32)
        group[key].attrs["Unit"] = "um"


def write_h5oina(
    path: Path,
    euler_rad: np.ndarray,
    phase: np.ndarray,
    *,
    phases=(("Iron fcc", 11, "m-3m"), ("Titanium", 9, "6/mmm")),
    images: dict[str, np.ndarray] | None = None,
    image_step_um: float = 0.1,
    step_um: float = STEP_UM,
    relative_offset=(0.25, 0.125),
    relative_size=(0.5, 0.375),
) -> Path:
    """An .h5oina file as AZtec writes it (per the specification), one EBSD map in slice "1".

    ``euler_rad`` (rows, cols, 3) may hold NaN outside the acquisition area; ``phase`` (rows,
    cols) uses the file's numbering (0 = not indexed).
    """
    rows, cols = phase.shape
    with h5py.File(path, "w") as h5:
        h5["Manufacturer"] = _string("Oxford Instruments")
        h5["Format Version"] = _string("5.0")
        h5["Index"] = _string("1")  # (number of slices, 1)
        ebsd = h5.create_group("1/EBSD")
        data, header = ebsd.create_group("Data"), ebsd.create_group("Header")
        data["Phase"] = phase.reshape(-1, 1).astype(np.uint8)
        data["Euler"] = euler_rad.reshape(-1, 3).astype(np.float32)
        y, x = np.mgrid[0:rows, 0:cols] * step_um
        data["X"] = x.reshape(-1, 1).astype(np.float32)
        data["Y"] = y.reshape(-1, 1).astype(np.float32)
        data["Band Contrast"] = np.full((rows * cols, 1), 120, np.uint8)
        data["Mean Angular Deviation"] = np.full((rows * cols, 1), 0.01, np.float32)
        _common_header(header, cols, rows, step_um)
        header["Specimen Orientation Euler"] = np.zeros((1, 3), np.float32)
        header["Scanning Rotation Angle"] = np.zeros((1, 1), np.float32)
        header["Relative Offset"] = np.array([relative_offset], np.float32)
        header["Relative Size"] = np.array([relative_size], np.float32)
        for k, (name, number, symbol) in enumerate(phases, start=1):
            entry = header.create_group(f"Phases/{k}")
            entry["Phase Name"] = _string(name)
            entry["Reference"] = _string("grainseg test fixture")
            entry["Laue Group"] = np.array([[number]], np.int32)
            if symbol:
                entry["Laue Group"].attrs["Symbol"] = symbol
            entry["Lattice Dimensions"] = np.array([[3.6, 3.6, 3.6]], np.float32)
            entry["Lattice Angles"] = np.full((1, 3), np.pi / 2, np.float32)
        if images:
            image_data = h5.create_group("1/Electron Image/Data")
            image_header = h5.create_group("1/Electron Image/Header")
            height, width = next(iter(images.values())).shape
            for detector, image in images.items():
                image_data[f"{detector}/{detector} Image 1"] = image.reshape(-1)
            _common_header(image_header, width, height, image_step_um)
    return path
