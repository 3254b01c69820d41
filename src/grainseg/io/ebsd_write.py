"""Write an `EBSDMap` as an Oxford Channel Text File (.ctf) or an EDAX/TSL .ang file.

Both are the vendors' plain-text layouts (header, then one line per point, rows of the map
one after another, x fastest), as written by AZtec / Channel 5 and OIM, so that orix and the
vendors' own software read them. Only cubic m-3m phases carry full symmetry codes here
(Laue group 11, space group 225 / TSL symmetry 43), the only ones the synthetic specimens use.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from orix.quaternion import Rotation

from grainseg.ebsd.map import EBSDMap
from grainseg.errors import GrainsegError
from grainseg.io.atomic import atomic_path

#: Laue group -> (CTF Laue group id, CTF space group, TSL symmetry code).
_SYMMETRY_CODES = {"m-3m": (11, 225, 43)}


def format_table(columns: list[tuple[np.ndarray, int]], separator: str = "\t") -> bytes:
    """Format numeric columns as text lines, vectorised (several times faster than `np.savetxt`).

    Each value is written in fixed-point with its column's number of decimals and no padding,
    like ``"%.{k}f"`` (exact ties round to even). Characters are assembled in one byte matrix
    with blanks for leading zeros, and the blanks are dropped at the end.

    Parameters
    ----------
    columns : list of ((n,) array, int)
        Values and decimals per column (0 decimals: written as an integer).
    separator : str
        One character between columns.

    Returns
    -------
    bytes
        n lines, each ending in a newline.
    """
    n = len(columns[0][0])
    prepared = []
    for values, decimals in columns:
        values = np.asarray(values, dtype=np.float64)
        scaled = np.rint(np.abs(values) * 10.0**decimals).astype(np.int64)
        n_digits = max(len(str(int(scaled.max()))) if n else 1, decimals + 1)
        prepared.append((values, scaled, decimals, n_digits))
    # Per column: sign slot, digits, decimal point, separator.
    widths = [1 + nd + (1 if k else 0) + 1 for _, _, k, nd in prepared]
    blank = 0  # a byte that never appears in the text
    table = np.full((n, sum(widths)), blank, dtype=np.uint8)
    start = 0
    for (values, scaled, decimals, n_digits), width in zip(prepared, widths, strict=True):
        n_int = n_digits - decimals
        int_part = scaled // 10**decimals
        # Integer digits actually needed (at least the units digit).
        used = np.ones(n, dtype=np.int64)
        for k in range(1, n_int):
            used += int_part >= 10**k
        remaining = scaled.copy()
        for j in range(n_digits - 1, -1, -1):  # least significant digit first
            col = start + 1 + j + (1 if decimals and j >= n_int else 0)
            remaining, digit = np.divmod(remaining, 10)
            table[:, col] = digit + ord("0")
            if j < n_int - 1:
                table[used < n_int - j, col] = blank
        if decimals:
            table[:, start + 1 + n_int] = ord(".")
        negative = np.flatnonzero((values < 0) & (scaled > 0))
        table[negative, start + n_int - used[negative]] = ord("-")
        table[:, start + width - 1] = ord(separator)
        start += width
    table[:, -1] = ord("\n")
    flat = table.ravel()
    return flat[flat != blank].tobytes()


def _codes(ebsd: EBSDMap) -> list[tuple[int, int, int]]:
    try:
        return [_SYMMETRY_CODES[phase.laue] for phase in ebsd.phases]
    except KeyError as exc:
        raise GrainsegError(
            f"cannot write Laue group {exc.args[0]}: only m-3m is supported"
        ) from None


def _euler_rad(ebsd: EBSDMap) -> np.ndarray:
    """Bunge Euler angles (rows * cols, 3) in radians; zeros where not indexed."""
    euler = Rotation(ebsd.quaternions.reshape(-1, 4).astype(np.float64)).to_euler()
    euler[~ebsd.indexed.ravel()] = 0.0
    return euler


def _property(ebsd: EBSDMap, name: str, default: float) -> np.ndarray:
    value = ebsd.properties.get(name)
    if value is None:
        return np.full(ebsd.indexed.size, default, dtype=np.float64)
    return np.asarray(value, dtype=np.float64).ravel()


def _grid_xy(ebsd: EBSDMap) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = ebsd.shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64) * ebsd.step_um
    return x.ravel(), y.ravel()


def write_ctf(path: str | os.PathLike, ebsd: EBSDMap, lattice_angstrom: float = 3.595) -> None:
    """Write an Oxford .ctf file (Euler angles in degrees, phase 0 = not indexed), atomically.

    Parameters
    ----------
    path : path-like
        Output file, normally ending in ``.ctf``.
    ebsd : EBSDMap
        Map to write; ``properties`` ``bands``, ``mad_deg`` and ``band_contrast`` fill the
        Bands, MAD, BC and BS columns when present.
    lattice_angstrom : float
        Cubic lattice parameter written in the phase line, in angstrom.
    """
    rows, cols = ebsd.shape
    codes = _codes(ebsd)
    header = [
        "Channel Text File",
        f"Prj\t{Path(path).stem}",
        "Author\tgrainseg synth",
        "JobMode\tGrid",
        f"XCells\t{cols}",
        f"YCells\t{rows}",
        f"XStep\t{ebsd.step_um:.6g}",
        f"YStep\t{ebsd.step_um:.6g}",
        "AcqE1\t0",
        "AcqE2\t0",
        "AcqE3\t0",
        "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t3000\tCoverage\t100"
        "\tDevice\t0\tKV\t20\tTiltAngle\t70\tTiltAxis\t0",
        f"Phases\t{len(ebsd.phases)}",
    ]
    a = f"{lattice_angstrom:.3f}"
    for phase, (laue_id, space_group, _) in zip(ebsd.phases, codes, strict=True):
        header.append(f"{a};{a};{a}\t90.000;90.000;90.000\t{phase.name}\t{laue_id}\t{space_group}")
    header.append("Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS")
    indexed = ebsd.indexed.ravel()
    x, y = _grid_xy(ebsd)
    contrast = _property(ebsd, "band_contrast", 150)
    euler_deg = np.rad2deg(_euler_rad(ebsd))
    columns = [
        (np.where(indexed, ebsd.phase_ids.ravel() + 1, 0), 0),
        (x, 4),
        (y, 4),
        (np.where(indexed, _property(ebsd, "bands", 8), 0), 0),
        (np.where(indexed, 0, 3), 0),  # error code 3 = no solution
        (euler_deg[:, 0], 4),
        (euler_deg[:, 1], 4),
        (euler_deg[:, 2], 4),
        (np.where(indexed, _property(ebsd, "mad_deg", 0.5), 0), 4),
        (contrast, 0),
        (contrast, 0),
    ]
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(("\n".join(header) + "\n").encode("ascii"))
        out.write(format_table(columns, "\t"))


def write_ang(path: str | os.PathLike, ebsd: EBSDMap, lattice_angstrom: float = 3.595) -> None:
    """Write an EDAX/TSL .ang file on a square grid (Euler angles in radians), atomically.

    Columns: phi1 Phi phi2 x y IQ CI phase SEM-signal fit; not-indexed points get CI = -1 and
    phase 0, the TSL convention.

    Parameters
    ----------
    path : path-like
        Output file, normally ending in ``.ang``.
    ebsd : EBSDMap
    lattice_angstrom : float
        Cubic lattice parameter, angstrom.
    """
    rows, cols = ebsd.shape
    codes = _codes(ebsd)
    header = [
        "# TEM_PIXperUM          1.000000",
        "# x-star                0.500000",
        "# y-star                0.700000",
        "# z-star                0.650000",
        "# WorkingDistance       15.000000",
        "#",
    ]
    a = f"{lattice_angstrom:.3f}"
    for k, (phase, (_, _, tsl_symmetry)) in enumerate(
        zip(ebsd.phases, codes, strict=True), start=1
    ):
        header += [
            f"# Phase {k}",
            f"# MaterialName  \t{phase.name}",
            "# Formula     \tFe",
            "# Info          \tgrainseg synth",
            f"# Symmetry              {tsl_symmetry}",
            f"# LatticeConstants      {a} {a} {a}  90.000  90.000  90.000",
            "# NumberFamilies        0",
            "# ElasticConstants \t0 0 0 0 0 0",
            "# Categories0 0 0 0 0",
            "#",
        ]
    header += [
        "# GRID: SqrGrid",
        f"# XSTEP: {ebsd.step_um:.6f}",
        f"# YSTEP: {ebsd.step_um:.6f}",
        f"# NCOLS_ODD: {cols}",
        f"# NCOLS_EVEN: {cols}",
        f"# NROWS: {rows}",
        "#",
        "# OPERATOR: \tgrainseg synth",
        "#",
        "# SAMPLEID: \t",
        "#",
        "# SCANID: \t",
        "#",
    ]
    indexed = ebsd.indexed.ravel()
    x, y = _grid_xy(ebsd)
    contrast = _property(ebsd, "band_contrast", 150)
    mad = _property(ebsd, "mad_deg", 0.5)
    euler = _euler_rad(ebsd)
    columns = [
        (euler[:, 0], 5),
        (euler[:, 1], 5),
        (euler[:, 2], 5),
        (x, 5),
        (y, 5),
        (contrast / 2.0, 1),
        (np.where(indexed, np.clip(0.9 - mad / 2.0, 0.05, 1.0), -1.0), 3),
        (np.where(indexed, ebsd.phase_ids.ravel() + 1, 0), 0),
        (contrast * 8.0, 0),
        (np.where(indexed, mad, 180.0), 3),
    ]
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(("\n".join(header) + "\n").encode("ascii"))
        out.write(format_table(columns, " "))


def write_ebsd(path: str | os.PathLike, ebsd: EBSDMap) -> None:
    """Write ``.ctf`` or ``.ang`` by the file's extension.

    Raises
    ------
    GrainsegError
        For any other extension.
    """
    suffix = Path(path).suffix.lower()
    writers = {".ctf": write_ctf, ".ang": write_ang}
    if suffix not in writers:
        raise GrainsegError(f"{path}: cannot write EBSD format {suffix!r} (use .ctf or .ang)")
    writers[suffix](path, ebsd)
