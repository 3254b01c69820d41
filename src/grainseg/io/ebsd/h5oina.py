"""Oxford Instruments .h5oina (AZtec 4.2 and later, the default export of AZtec 5 and 6); read.

Layout from the public specification (github.com/oinanoanalysis/h5oina, H5OINAFile.md): the
root dataset ``Index`` names the slices (acquisitions; a map file holds one, ``1``); a slice's
``EBSD`` group holds ``Data`` (one row per pixel, x fastest: Phase uint8 with 0 = not indexed,
Euler (n, 3) Bunge angles in radians, X and Y in µm, Bands, Error, Mean Angular Deviation in
radians, Band Contrast, Band Slope) and ``Header`` (X Cells, Y Cells, X Step, Y Step in µm,
``Phases/<1..>`` with Phase Name and the Oxford Laue Group number whose ``Symbol`` attribute
spells it). Pixels outside the acquisition area of an irregular map are NaN: they are read as
not indexed. The slice's ``Electron Image`` group holds SE, BSE and FSE images of the same
site; the EBSD Header's Relative Offset and Relative Size give the map's bounding box in them
(fractions of the image width and height, origin at the top left).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grainseg.errors import input_error
from grainseg.io.ebsd.common import (
    build_map,
    check_coordinates,
    check_square,
    hdf5_file,
    number_list,
)
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.ebsd.symmetry import OXFORD_LAUE, POINT_GROUP_LAUE
from grainseg.io.tiff import Micrograph, checked_file_pixel_size_um

EXTENSIONS = (".h5oina",)
HAS_SCANS = True
#: Electron image detectors, in the order tried: backscatter and forescatter images show the
#: grains by channelling / orientation contrast, secondary-electron images mostly topography.
DETECTORS = ("BSE", "FSE", "SE")
#: Data datasets kept as per-point properties, by their grainseg name.
_PROPERTIES = {"bands": "Bands", "error": "Error", "mad_rad": "Mean Angular Deviation",
               "bc": "Band Contrast", "bs": "Band Slope", "pattern_quality": "Pattern Quality"}


@dataclass
class MapBoundingBox:
    """Where the EBSD map lies in the electron image, in image pixels.

    Attributes
    ----------
    x0_px, y0_px : float
        Top-left corner (column, row) of the map's bounding box.
    width_px, height_px : float
        Its size.
    """

    x0_px: float
    y0_px: float
    width_px: float
    height_px: float


def _text(value) -> str:
    """An HDF5 string value (bytes or str, scalar or 1-element array) as str."""
    value = np.asarray(value).ravel()
    value = value[0] if value.size else b""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _number(group, key: str, path: Path, where: str) -> float:
    if key not in group:
        raise input_error(path, f"{where} has no {key!r}")
    value = np.asarray(group[key][()], dtype=np.float64).ravel()
    if value.size != 1 or not np.isfinite(value[0]):
        raise input_error(path, f"{where}/{key} is not one finite number")
    return float(value[0])


def _slices(h5, path: Path) -> list[str]:
    """Slice names from the root ``Index`` (or the top-level groups where it is missing)."""
    if "Index" in h5:
        names = [_text(v) for v in np.asarray(h5["Index"][()]).ravel()]
    else:
        names = [name for name in h5 if hasattr(h5[name], "keys")]
    return [name for name in names if name in h5 and "EBSD" in h5[name]]


def _pick_slice(h5, path: Path, scan: str | None) -> str:
    slices = _slices(h5, path)
    if not slices:
        raise input_error(path, "no EBSD acquisition (no slice with an EBSD group): not an "
                                "EBSD .h5oina file")
    if scan is None:
        return slices[0]
    if scan not in slices:
        raise input_error(path, f"no slice {scan!r} with EBSD data; the file holds "
                                f"{', '.join(slices)}")
    return scan


def read(path: Path, scan: str | None = None) -> EBSDMap:
    """Read the EBSD map of one slice of an .h5oina file (default the first).

    Parameters
    ----------
    scan : str, optional
        Slice name as listed in the root ``Index`` ("1" in map files).
    """
    with hdf5_file(path) as h5:
        name = _pick_slice(h5, path, scan)
        where = f"{name}/EBSD"
        header, data = h5[f"{where}/Header"], h5[f"{where}/Data"]
        n_cols = int(_number(header, "X Cells", path, f"{where}/Header"))
        n_rows = int(_number(header, "Y Cells", path, f"{where}/Header"))
        step_x = _number(header, "X Step", path, f"{where}/Header")
        step_y = _number(header, "Y Step", path, f"{where}/Header")
        if n_cols < 1 or n_rows < 1:
            raise input_error(path, f"{where}/Header: X Cells x Y Cells = {n_cols} x {n_rows}")
        phases = []
        groups = header.get("Phases", {})
        for key in sorted(groups, key=lambda k: (len(k), k)):
            entry = groups[key]
            phase_name = _text(entry["Phase Name"][()]) if "Phase Name" in entry else ""
            laue = None
            if "Laue Group" in entry:
                symbol = entry["Laue Group"].attrs.get("Symbol")
                laue = POINT_GROUP_LAUE.get(_text(symbol).replace(" ", "")) if symbol is not None \
                    else None
                if laue is None:
                    number = np.asarray(entry["Laue Group"][()], dtype=np.float64).ravel()
                    if number.size == 1 and np.isfinite(number[0]):
                        laue = OXFORD_LAUE.get(int(number[0]))
            if laue is None:
                raise input_error(path, f"{where}/Header/Phases/{key}: no known Laue Group")
            phases.append(Phase(phase_name or f"phase {key}", laue))
        if not phases:
            raise input_error(path, f"{where}/Header/Phases lists no phase")
        n_points = n_rows * n_cols
        for key in ("Phase", "Euler"):
            if key not in data:
                raise input_error(path, f"{where}/Data has no {key!r} (mandatory)")
        phase_numbers = np.asarray(data["Phase"][()]).reshape(-1)
        euler = np.asarray(data["Euler"][()], dtype=np.float64)
        if phase_numbers.size != n_points or euler.size != 3 * n_points:
            raise input_error(
                path, f"{where}/Data holds {phase_numbers.size} phases and {euler.size // 3} "
                f"orientations but X Cells x Y Cells = {n_cols} x {n_rows} = {n_points} "
                "(truncated file?)"
            )
        euler = euler.reshape(n_points, 3)
        xy = {k: np.asarray(data[k][()], dtype=np.float64).ravel() for k in ("X", "Y")
              if k in data and data[k].size == n_points}
        properties = {
            ours: np.asarray(data[theirs][()], dtype=np.float32).ravel()
            for ours, theirs in _PROPERTIES.items()
            if theirs in data and data[theirs].size == n_points
        }
    outside = ~np.isfinite(euler).all(axis=1)  # NaN outside the acquisition area (spec)
    euler[outside] = 0.0
    check_square(path, step_x, step_y)
    if len(xy) == 2 and (~outside).any():
        inside = np.flatnonzero(~outside)
        grid_x = np.tile(np.arange(n_cols) * step_x, n_rows)
        grid_y = np.repeat(np.arange(n_rows) * step_y, n_cols)
        # Coordinates of pixels outside the area may be NaN too; they are checked where given.
        x = np.where(np.isfinite(xy["X"]), xy["X"], grid_x + xy["X"][inside[0]] - grid_x[inside[0]])
        y = np.where(np.isfinite(xy["Y"]), xy["Y"], grid_y + xy["Y"][inside[0]] - grid_y[inside[0]])
        check_coordinates(path, x, y, n_rows, n_cols, step_x, step_y)
    phase_numbers = phase_numbers.astype(np.float64)
    if not np.isfinite(phase_numbers).all():
        raise input_error(path, f"{where}/Data/Phase holds non-finite numbers (corrupt file)")
    phase_numbers = np.rint(phase_numbers)
    unknown = (phase_numbers < 0) | (phase_numbers > len(phases))
    if unknown.any():
        raise input_error(path, f"phase table and data disagree: data use phase number(s) "
                                f"{number_list(phase_numbers[unknown])} but "
                                f"{where}/Header/Phases lists {len(phases)}")
    phase_index = np.where(outside, -1, phase_numbers.astype(np.int64) - 1)
    notes = [f"{int(outside.sum())} points outside the acquisition area"] if outside.any() else []
    return build_map(path, euler, phase_index, (n_rows, n_cols), step_x, phases, properties,
                     notes)


def read_electron_image(
    path: str | os.PathLike, scan: str | None = None, detector: str | None = None
) -> tuple[Micrograph, MapBoundingBox | None]:
    """The electron image of the EBSD map's site, and the map's bounding box in it.

    Parameters
    ----------
    path : path-like
        An .h5oina file.
    scan : str, optional
        Slice name; default the first with EBSD data.
    detector : {"BSE", "FSE", "SE"}, optional
        Default: the first of `DETECTORS` the file holds.

    Returns
    -------
    Micrograph
        The image (H, W) in the file's dtype, its pixel size (Electron Image Header X Step, µm).
    MapBoundingBox or None
        None where the file has no Relative Offset / Relative Size.

    Raises
    ------
    GrainsegError
        When the file holds no electron image (or none from ``detector``), or a damaged one.
    """
    path = Path(path)
    with hdf5_file(path) as h5:
        name = _pick_slice(h5, path, scan)
        where = f"{name}/Electron Image"
        if f"{where}/Data" not in h5 or f"{where}/Header" not in h5:
            raise input_error(path, f"slice {name!r} holds no electron image; give the SEM "
                                    "image separately")
        data, header = h5[f"{where}/Data"], h5[f"{where}/Header"]
        held = [d for d in DETECTORS if d in data and len(data[d])]
        if detector is not None and detector not in held:
            raise input_error(path, f"no {detector} electron image; the file holds "
                                    f"{', '.join(held) or 'none'}")
        if not held:
            raise input_error(path, f"{where}/Data holds no SE, BSE or FSE image")
        chosen = detector or held[0]
        image_name = sorted(data[chosen])[0]
        flat = np.asarray(data[chosen][image_name][()])
        width = int(_number(header, "X Cells", path, f"{where}/Header"))
        height = int(_number(header, "Y Cells", path, f"{where}/Header"))
        if width < 1 or height < 1 or flat.size != width * height:
            raise input_error(path, f"{where}/Data/{chosen}/{image_name} holds {flat.size} "
                                    f"pixels, not X Cells x Y Cells = {width} x {height}")
        pixel_um = _number(header, "X Step", path, f"{where}/Header") if "X Step" in header \
            else None
        box = None
        ebsd_header = h5[f"{name}/EBSD/Header"]
        if "Relative Offset" in ebsd_header and "Relative Size" in ebsd_header:
            offset = np.asarray(ebsd_header["Relative Offset"][()], dtype=np.float64).ravel()
            size = np.asarray(ebsd_header["Relative Size"][()], dtype=np.float64).ravel()
            if offset.size == 2 and size.size == 2 and np.isfinite([*offset, *size]).all() \
                    and (size > 0).all():
                box = MapBoundingBox(offset[0] * width, offset[1] * height, size[0] * width,
                                     size[1] * height)
    image = flat.reshape(height, width)
    notes = [f"{chosen} electron image {image_name!r} of {path.name}"]
    return Micrograph(image, checked_file_pixel_size_um(pixel_um, path), path, notes), box
