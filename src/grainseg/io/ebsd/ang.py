"""EDAX/TSL .ang text files (OIM Analysis, APEX): square and hexagonal grids; read and write.

Not indexed: CI = -1 or Euler angles of 4 pi (EDAX's flag), or phase 0 in a multi-phase file.

Why not orix's reader: checked on copper_hex.ang, orix 0.15 returns a 231 x 207 grid at
dx = 0.1 µm (the half-shifted hexagonal rows taken as separate columns, half of the grid empty)
with 100% of the points indexed, because it marks only CI = -1 as not indexed while this file
flags its not-indexed points with Euler angles of 4 pi and CI 0. On square-grid files this
reader gives the same orientations and phases as orix (tested).

Hexagonal grid (``GRID: HexGrid``): rows are found from the y coordinates, the column step
``s`` from the x spacing within a row (rows alternate n and n - 1 points, shifted by s / 2,
rows s * sqrt(3) / 2 apart). The map is resampled to a square grid of the same step ``s``,
origin at the first point, covering the scanned extent: node (i, j) at (x0 + j s, y0 + i s)
takes the values of the nearest hexagonal point (Euclidean distance; the lower file index on a
tie). Nodes on hexagonal points (every node of row 0) therefore keep their point exactly. The
map's ``step_um`` is ``s`` and a note records the resampling.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from grainseg.errors import input_error
from grainseg.io.atomic import atomic_path
from grainseg.io.ebsd.common import (
    build_map,
    check_square,
    euler_rad,
    float_field,
    format_table,
    grid_from_coordinates,
    grid_xy,
    header_count,
    load_table,
    map_phase_numbers,
    point_property,
    read_text,
    scan_order,
    spacing,
    split_lines,
    writable_symmetry,
)
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.ebsd.symmetry import laue_from_tsl

EXTENSIONS = (".ang",)
#: EDAX writes 4 pi (12.56637) into all three angles of a not-indexed point.
TSL_NOT_INDEXED_EULER_RAD = 4 * np.pi - 1e-3
#: OIM's coordinate of a grid point that holds no data.
OIM_NO_POINT_UM = -1111111.0


def _parse_header(path: Path, header: list[str]) -> tuple[dict[str, str], list[Phase], list[int]]:
    """Key/value pairs of an .ang header, its phases and their file numbers."""
    fields: dict[str, str] = {}
    phases: list[Phase] = []
    numbers: list[int] = []
    current_number: int | None = None
    name = None
    for line in header:
        parts = line.lstrip("#").strip().split(None, 1)
        if not parts:
            continue
        key = parts[0].rstrip(":")
        value = parts[1].strip() if len(parts) > 1 else ""
        if key == "Phase":
            current_number = header_count(path, value, "Phase", minimum=0)
        elif key == "MaterialName":
            name = value or f"phase {len(phases) + 1}"
        elif key == "Symmetry":
            laue = laue_from_tsl(value)
            if laue is None:
                raise input_error(path, f"unknown crystal symmetry code {value!r} in the header")
            phases.append(Phase(name or f"phase {len(phases) + 1}", laue))
            numbers.append(current_number if current_number is not None else len(phases))
            current_number, name = None, None
        else:
            fields.setdefault(key, value)
    if not phases:
        raise input_error(path, "no phase (MaterialName / Symmetry) in the .ang header")
    return fields, phases, numbers


def read(path: Path) -> EBSDMap:
    """Read an EDAX/TSL .ang file on a square or hexagonal grid (rules in the module notes)."""
    text = read_text(path)
    lines = split_lines(text)
    n_header = 0
    while n_header < len(lines) and lines[n_header].startswith("#"):
        n_header += 1
    if n_header == 0:
        raise input_error(path, "no '#' header: not an EDAX .ang file (wrong extension?)")
    fields, phases, numbers = _parse_header(path, lines[:n_header])
    data = load_table(path, text, n_header, 8)
    return map_from_tsl_points(path, data, fields, phases, numbers)


def map_from_tsl_points(
    path: Path, data: np.ndarray, fields: dict[str, str], phases: list[Phase], numbers: list[int]
) -> EBSDMap:
    """The map of EDAX/TSL point records, as .ang, .osc and OIM .h5 files hold them.

    Parameters
    ----------
    data : (n, >= 8) float
        Columns phi1 Phi phi2 (radians), x y (µm), IQ, CI, phase number, then optionally SEM
        signal and fit; rows in the file's order.
    fields : dict of str -> str
        Header values by their .ang names: GRID (SqrGrid or HexGrid), XSTEP, YSTEP, NCOLS_ODD,
        NROWS (the grid is derived from the coordinates where the last two are absent).
    phases, numbers : list
        The phases and the phase number each has in ``data``.
    """
    euler = data[:, :3]
    x, y, ci = data[:, 3], data[:, 4], data[:, 6]
    # OIM marks grid points without data by x = y = -1111111 (its HDF5 "Notes" say so).
    off_grid = (x == OIM_NO_POINT_UM) & (y == OIM_NO_POINT_UM)
    single = len(phases) == 1
    phase_index = map_phase_numbers(
        path, data[:, 7], numbers + ([0] if single else []), zero_is_not_indexed=not single
    )
    if single:
        phase_index[phase_index > 0] = 0  # file number 0 and the phase's own number both mean it
    not_indexed = (ci == -1) | (euler >= TSL_NOT_INDEXED_EULER_RAD).all(axis=1) | off_grid
    phase_index[not_indexed] = -1
    properties = {"iq": data[:, 5].astype(np.float32), "ci": ci.astype(np.float32)}
    if data.shape[1] > 9:
        properties["fit"] = data[:, 9].astype(np.float32)
    notes: list[str] = []

    grid = fields.get("GRID", "SqrGrid")
    if grid == "HexGrid" and _rows_one_column_step_apart(x[~off_grid], y[~off_grid]):
        grid = "SqrGrid"  # a hexagonal grid's rows are sqrt(3) / 2 column steps apart
        notes.append("the header says GRID: HexGrid but the points lie on a square grid: "
                     "read as a square grid")
    if grid == "HexGrid":
        keep = ~off_grid
        if keep.all():  # points without coordinates leave their row short: not countable
            _check_hex_rows(path, y)
        return resample_hex(path, euler[keep], phase_index[keep], x[keep], y[keep], phases,
                            {k: v[keep] for k, v in properties.items()})
    if grid != "SqrGrid":
        raise input_error(path, f"unknown grid type {grid!r} (expected SqrGrid or HexGrid)")
    step_x, step_y = float_field(path, fields, "XSTEP"), float_field(path, fields, "YSTEP")
    if "NCOLS_ODD" in fields and "NROWS" in fields:
        n_cols = header_count(path, fields["NCOLS_ODD"], "NCOLS_ODD")
        n_rows = header_count(path, fields["NROWS"], "NROWS")
    else:
        n_rows, n_cols = grid_from_coordinates(path, x, y)
        notes.append(f"grid {n_rows} x {n_cols} derived from the coordinates (no NCOLS/NROWS)")
    step_x = step_x or spacing(x)
    step_y = step_y or spacing(y) or step_x
    if n_rows * n_cols != data.shape[0]:
        raise input_error(
            path, f"header grid NROWS x NCOLS = {n_rows} x {n_cols} = {n_rows * n_cols} points "
            f"but the file has {data.shape[0]} (rows missing or truncated)"
        )
    check_square(path, step_x, step_y)
    if off_grid.any():  # such points sit on their grid node; only their coordinates are lost
        nodes = np.flatnonzero(off_grid)
        first = int(np.flatnonzero(~off_grid)[0]) if (~off_grid).any() else 0
        origin_x = x[first] - (first % n_cols) * step_x
        origin_y = y[first] - (first // n_cols) * step_y
        x, y = x.copy(), y.copy()
        x[nodes] = origin_x + (nodes % n_cols) * step_x
        y[nodes] = origin_y + (nodes // n_cols) * step_y
    order = scan_order(path, x, y, n_rows, n_cols, step_x, step_y)
    if order is not None:
        euler, phase_index = euler[order], phase_index[order]
        properties = {k: v[order] for k, v in properties.items()}
        notes.append("points not in scan order in the file: placed by their coordinates")
    return build_map(path, euler, phase_index, (n_rows, n_cols), step_x, phases, properties, notes)


def _check_hex_rows(path: Path, y: np.ndarray) -> None:
    """Refuse a hexagonal grid whose rows are shorter than the others of their parity (a file
    cut short, or points removed): resampling would fill the gap from neighbouring points.

    Raises
    ------
    GrainsegError
        ``"hexagonal grid: N points missing from row R (K of M; file truncated?)"``.
    """
    _, counts = np.unique(np.round(y, 4), return_counts=True)
    full = [counts[parity::2].max() if counts[parity::2].size else 0 for parity in (0, 1)]
    short = [(r, int(c), int(full[r % 2])) for r, c in enumerate(counts) if c < full[r % 2]]
    if short:
        missing = sum(expected - count for _, count, expected in short)
        row, count, expected = short[-1]
        where = (f"row {row + 1} of {counts.size} ({count} of {expected}" if len(short) == 1
                 else f"{len(short)} rows (row {row + 1}: {count} of {expected}")
        raise input_error(
            path, f"hexagonal grid: {missing} point{'s' if missing > 1 else ''} missing from "
            f"{where}; file truncated or points removed?)"
        )


def _rows_one_column_step_apart(x: np.ndarray, y: np.ndarray) -> bool:
    """True when the points' rows are as far apart as the points within a row (a square
    grid), whatever the header says."""
    row_y = np.unique(np.round(y, 4))
    if row_y.size < 2:
        return False
    column_step = spacing(x[np.round(y, 4) == row_y[0]])
    return column_step > 0 and bool(np.isclose(np.median(np.diff(row_y)), column_step, rtol=0.02))


def resample_hex(
    path: Path,
    euler: np.ndarray,
    phase_index: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    phases: list[Phase],
    properties: dict[str, np.ndarray],
) -> EBSDMap:
    """Resample flat hexagonal-grid points to a square-grid `EBSDMap` (rule in the module notes).

    Parameters
    ----------
    euler : (n, 3) float
        Bunge Euler angles, radians.
    phase_index : (n,) int
        0-based phase index, -1 = not indexed.
    x, y : (n,) float
        Point coordinates, µm.
    properties : dict of str -> (n,) array
    """
    from scipy.spatial import cKDTree

    row_y = np.unique(np.round(y, 4))
    if row_y.size < 2:
        raise input_error(path, "hexagonal grid with fewer than two rows")
    first_row = np.round(y, 4) == row_y[0]
    step = round(spacing(x[first_row]), 6)
    if step <= 0:
        raise input_error(path, "cannot find the column step of the hexagonal grid")
    row_step = float(np.median(np.diff(row_y)))
    if not np.isclose(row_step, step * np.sqrt(3) / 2, rtol=0.02):
        raise input_error(
            path, f"rows are {row_step:.5f} µm apart; a hexagonal grid of column step {step} µm "
            f"needs {step * np.sqrt(3) / 2:.5f}"
        )
    x0, y0 = float(x.min()), float(y.min())
    # Points snapped onto the ideal lattice (half column steps, rows s sqrt(3) / 2 apart), so
    # that ties between equidistant points are exact and the tie rule, not the rounding of the
    # file's coordinates (5 decimals in .ang, float32 in .osc), picks the point.
    half_steps = np.rint((x - x0) / (step / 2))
    row_index = np.rint((y - y0) / (step * np.sqrt(3) / 2))
    x_ideal = x0 + half_steps * (step / 2)
    y_ideal = y0 + row_index * (step * np.sqrt(3) / 2)
    off = np.hypot(x - x_ideal, y - y_ideal)
    if off.max() > 0.1 * step:
        worst = int(np.argmax(off))
        raise input_error(
            path, f"point {worst} at x={x[worst]}, y={y[worst]} is {off[worst]:.4g} µm off the "
            f"hexagonal grid of step {step} µm"
        )
    x, y = x_ideal, y_ideal
    n_cols = int(np.floor((x.max() - x0) / step + 1e-6)) + 1
    n_rows = int(np.floor((y.max() - y0) / step + 1e-6)) + 1
    if n_rows * n_cols > 2 * x.size + 16:  # a hexagonal grid gives about 0.87 x.size nodes
        raise input_error(
            path, f"the {x.size} point coordinates span {n_rows} x {n_cols} grid steps of "
            f"{step} µm: they do not lie on one hexagonal grid (a point far off?)"
        )
    grid_y, grid_x = np.meshgrid(y0 + step * np.arange(n_rows), x0 + step * np.arange(n_cols),
                                 indexing="ij")
    tree = cKDTree(np.column_stack([x, y]))
    # Three nearest candidates: a node can be equidistant from up to three hex points (a
    # Voronoi vertex); the documented tie rule takes the lowest file index among the nearest.
    dist, cand = tree.query(np.column_stack([grid_x.ravel(), grid_y.ravel()]), k=3)
    tied = dist <= dist[:, :1] * (1 + 1e-9) + 1e-12
    nearest = np.where(tied, cand, np.iinfo(np.int64).max).min(axis=1)
    note = (
        f"hexagonal grid ({row_y.size} rows, {x.size} points, step {step} µm) resampled to a "
        f"square grid of {n_rows} x {n_cols} points at {step} µm by nearest hexagonal point"
    )
    return build_map(
        path, euler[nearest], phase_index[nearest], (n_rows, n_cols), step, phases,
        {k: v[nearest] for k, v in properties.items()}, [note],
    )


def write(path: str | os.PathLike, ebsd: EBSDMap, lattice_angstrom: float = 3.595) -> None:
    """Write an EDAX/TSL .ang file on a square grid (Euler angles in radians), atomically.

    Columns: phi1 Phi phi2 x y IQ CI phase SEM-signal fit; not-indexed points get CI = -1 and
    phase 0, the TSL convention. Cubic phases only (the lattice is written as cubic).

    Parameters
    ----------
    path : path-like
        Output file, normally ending in ``.ang``.
    ebsd : EBSDMap
    lattice_angstrom : float
        Cubic lattice parameter, angstrom.
    """
    rows, cols = ebsd.shape
    groups = writable_symmetry(ebsd, Path(path))
    header = [
        "# TEM_PIXperUM          1.000000",
        "# x-star                0.500000",
        "# y-star                0.700000",
        "# z-star                0.650000",
        "# WorkingDistance       15.000000",
        "#",
    ]
    a = f"{lattice_angstrom:.3f}"
    for k, (phase, group) in enumerate(zip(ebsd.phases, groups, strict=True), start=1):
        header += [
            f"# Phase {k}",
            f"# MaterialName  \t{phase.name}",
            f"# Formula     \t{phase.name}",  # orix names a phase by its formula
            "# Info          \tgrainseg synth",
            f"# Symmetry              {group.tsl_codes[0]}",
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
    x, y = grid_xy(ebsd)
    contrast = point_property(ebsd, "band_contrast", 150)
    mad = point_property(ebsd, "mad_deg", 0.5)
    euler = euler_rad(ebsd)
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
