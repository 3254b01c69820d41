"""Oxford HKL Channel Text Files (.ctf: AZtec, Channel 5); read and write.

Euler angles in degrees, phase 0 = not indexed. Fields are tab-separated, so a comma in the
data table can only be a decimal comma (AZtec under a German or French locale writes them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from grainseg.errors import input_error
from grainseg.io.atomic import atomic_path
from grainseg.io.ebsd.common import (
    build_map,
    check_coordinates,
    check_square,
    euler_rad,
    format_table,
    grid_xy,
    header_count,
    load_table,
    map_phase_numbers,
    point_property,
    read_text,
    split_lines,
    writable_symmetry,
)
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.ebsd.symmetry import OXFORD_LAUE

EXTENSIONS = (".ctf",)


def read(path: Path) -> EBSDMap:
    """Read an Oxford .ctf file."""
    text = read_text(path)
    lines = split_lines(text)
    if not lines or not lines[0].startswith("Channel Text File"):
        raise input_error(path, "does not start with 'Channel Text File': not an Oxford .ctf")
    fields: dict[str, str] = {}
    phases: list[Phase] = []
    table_line = None
    i = 1
    while i < len(lines):
        parts = lines[i].split("\t")
        key = parts[0].strip()
        if key == "Phases":
            n_phases = header_count(path, parts[1] if len(parts) > 1 else "", "Phases")
            if i + n_phases >= len(lines):
                raise input_error(path, f"header announces {n_phases} phases but the file ends")
            for j in range(n_phases):
                cols = lines[i + 1 + j].split("\t")
                if cols[0].strip() == "Phase" and len(cols) > 1 and cols[1].strip() == "X":
                    raise input_error(  # the data table's header came first
                        path, f"header announces {n_phases} phases but only {j} phase "
                        f"line{' follows' if j == 1 else 's follow'}"
                    )
                if len(cols) < 4:
                    raise input_error(path, f"phase line {j + 1} has too few fields")
                try:
                    laue = OXFORD_LAUE[int(cols[3])]
                except (ValueError, KeyError):
                    raise input_error(path, f"phase {j + 1}: unknown Laue group {cols[3]!r}") from None
                phases.append(Phase(cols[2].strip() or f"phase {j + 1}", laue))
            i += n_phases
        elif key == "Phase" and len(parts) > 2 and parts[1].strip() == "X":
            table_line = i
            break
        elif len(parts) > 1:
            fields[key] = parts[1].strip()
        i += 1
    if table_line is None:
        raise input_error(path, "no data table header ('Phase X Y ...') in the .ctf")
    columns = [c.strip() for c in lines[table_line].split("\t")]
    needed = ("Phase", "Euler1", "Euler2", "Euler3")
    if any(c not in columns for c in needed):
        raise input_error(path, f"data table lacks one of the columns {needed}")
    notes = []
    body = "\n".join(lines[table_line + 1:])
    if "," in body:  # AZtec under a decimal-comma locale; fields are tab-separated
        body = body.replace(",", ".")
        fields = {key: value.replace(",", ".") for key, value in fields.items()}
        notes.append("decimal commas read as decimal points")
    data = load_table(path, body, 0, len(columns))
    try:
        n_cols = header_count(path, fields["XCells"], "XCells")
        n_rows = header_count(path, fields["YCells"], "YCells")
        step_x, step_y = float(fields["XStep"]), float(fields["YStep"])
    except (KeyError, ValueError):
        raise input_error(path, "header lacks XCells / YCells / XStep / YStep") from None
    if n_rows * n_cols != data.shape[0]:
        raise input_error(
            path, f"header grid YCells x XCells = {n_rows} x {n_cols} = {n_rows * n_cols} points "
            f"but the file has {data.shape[0]} (rows missing or truncated)"
        )
    check_square(path, step_x, step_y)
    col = {name: k for k, name in enumerate(columns)}
    if "X" in col and "Y" in col:
        check_coordinates(path, data[:, col["X"]], data[:, col["Y"]], n_rows, n_cols, step_x,
                          step_y)
    phase_index = map_phase_numbers(
        path, data[:, col["Phase"]], list(range(1, len(phases) + 1)), zero_is_not_indexed=True
    )
    euler = np.radians(data[:, [col["Euler1"], col["Euler2"], col["Euler3"]]])
    properties = {
        name.lower(): data[:, k].astype(np.float32)
        for name, k in col.items()
        if name in ("Bands", "Error", "MAD", "BC", "BS")
    }
    return build_map(path, euler, phase_index, (n_rows, n_cols), step_x, phases, properties,
                     notes)


def write(path: str | os.PathLike, ebsd: EBSDMap, lattice_angstrom: float = 3.595) -> None:
    """Write an Oxford .ctf file (Euler angles in degrees, phase 0 = not indexed), atomically.

    Cubic phases only (the lattice is written as cubic).

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
    groups = writable_symmetry(ebsd, Path(path))
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
    for phase, group in zip(ebsd.phases, groups, strict=True):
        header.append(f"{a};{a};{a}\t90.000;90.000;90.000\t{phase.name}\t{group.oxford_number}"
                      f"\t{group.space_group}")
    header.append("Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS")
    indexed = ebsd.indexed.ravel()
    x, y = grid_xy(ebsd)
    contrast = point_property(ebsd, "band_contrast", 150)
    euler_deg = np.rad2deg(euler_rad(ebsd))
    columns = [
        (np.where(indexed, ebsd.phase_ids.ravel() + 1, 0), 0),
        (x, 4),
        (y, 4),
        (np.where(indexed, point_property(ebsd, "bands", 8), 0), 0),
        (np.where(indexed, 0, 3), 0),  # error code 3 = no solution
        (euler_deg[:, 0], 4),
        (euler_deg[:, 1], 4),
        (euler_deg[:, 2], 4),
        (np.where(indexed, point_property(ebsd, "mad_deg", 0.5), 0), 4),
        (contrast, 0),
        (contrast, 0),
    ]
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(("\n".join(header) + "\n").encode("ascii"))
        out.write(format_table(columns, "\t"))
