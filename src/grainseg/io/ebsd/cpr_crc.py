"""Oxford Channel 5 / AZtec binary pairs: the INI-style .cpr header and the .crc records; read.

Not indexed: phase 0. The .cpr [Fields] list gives the record layout; every record starts with
a one-byte phase number that the list does not name.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np

from grainseg.errors import input_error
from grainseg.io.ebsd.common import (
    build_map,
    check_coordinates,
    check_square,
    header_count,
    map_phase_numbers,
    read_text,
)
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.ebsd.symmetry import OXFORD_LAUE

EXTENSIONS = (".cpr", ".crc")
#: Oxford .crc field IDs (the .cpr [Fields] list) -> (property name, NumPy type).
CRC_FIELDS = {
    1: ("x", "<f4"), 2: ("y", "<f4"), 3: ("phi1", "<f4"), 4: ("Phi", "<f4"), 5: ("phi2", "<f4"),
    6: ("mad", "<f4"), 7: ("bc", "u1"), 8: ("bs", "u1"), 9: ("unknown_9", "u1"),
    10: ("bands", "u1"), 11: ("error", "u1"), 12: ("reliability_index", "<f4"),
}


def read(path: Path) -> EBSDMap:
    """Read an Oxford .cpr + .crc pair (``path`` either of them; the other beside it)."""
    cpr = path.with_suffix(".cpr")
    crc = path.with_suffix(".crc")
    for part, other in ((cpr, ".crc"), (crc, ".cpr")):
        if not part.is_file():
            raise input_error(part, f"file not found (an Oxford {other} needs its "
                                    f"{part.suffix} beside it)")
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(read_text(cpr))
        job = parser["Job"]
        n_cols = header_count(cpr, job["xCells"], "xCells")
        n_rows = header_count(cpr, job["yCells"], "yCells")
        step_x, step_y = float(job["GridDistX"]), float(job["GridDistY"])
        n_fields = int(parser["Fields"]["Count"])
        field_ids = [int(parser["Fields"][f"Field{k}"]) for k in range(1, n_fields + 1)]
        n_phases = int(parser["Phases"]["Count"])
        phase_sections = [parser[f"Phase{k}"] for k in range(1, n_phases + 1)]
    except (configparser.Error, KeyError, ValueError) as exc:
        raise input_error(cpr, f"malformed .cpr header ({type(exc).__name__}: {exc})") from None
    mode = parser.get("General", "JobMode", fallback="RegularGrid")
    if mode != "RegularGrid":
        raise input_error(cpr, f"JobMode {mode!r} is not a regular grid")
    phases = []
    for k, section in enumerate(phase_sections, start=1):
        try:
            laue = OXFORD_LAUE[int(section["LaueGroup"])]
        except (KeyError, ValueError):
            raise input_error(cpr, f"[Phase{k}] has no known LaueGroup") from None
        phases.append(Phase(section.get("StructureName", f"phase {k}"), laue))
    try:
        n_edx = parser.getint("EDX Windows", "Count", fallback=0)
    except ValueError:
        raise input_error(cpr, "[EDX Windows] Count is not a whole number") from None
    dtype_fields = [("phase", "u1")]
    for field_id in field_ids:
        if field_id in CRC_FIELDS:
            dtype_fields.append(CRC_FIELDS[field_id])
        elif 100 < field_id <= 100 + n_edx:
            dtype_fields.append((f"edx_{field_id - 100}", "<f4"))
        else:
            raise input_error(cpr, f"unknown field ID {field_id} in [Fields]; cannot decode "
                                   "the .crc records")
    if len(set(field_ids)) != len(field_ids):
        raise input_error(cpr, f"[Fields] lists a field twice ({field_ids}); cannot decode the "
                               ".crc records")
    record = np.dtype(dtype_fields)
    names = record.names
    if not {"phi1", "Phi", "phi2"} <= set(names):
        raise input_error(cpr, "[Fields] lists no Euler angles (fields 3, 4, 5)")
    expected = n_rows * n_cols * record.itemsize
    size = crc.stat().st_size
    if size != expected:
        raise input_error(
            crc, f"has {size} bytes but the .cpr grid {n_rows} x {n_cols} with {record.itemsize}"
            f"-byte records needs {expected} ({'truncated' if size < expected else 'too long'}, "
            "or header and data disagree)"
        )
    check_square(cpr, step_x, step_y)
    data = np.fromfile(crc, dtype=record)
    if "x" in names and "y" in names:
        check_coordinates(crc, data["x"].astype(np.float64), data["y"].astype(np.float64),
                          n_rows, n_cols, step_x, step_y)
    phase_index = map_phase_numbers(
        crc, data["phase"], list(range(1, n_phases + 1)), zero_is_not_indexed=True
    )
    euler = np.column_stack([data["phi1"], data["Phi"], data["phi2"]]).astype(np.float64)
    if not np.isfinite(euler).all():
        raise input_error(crc, "non-finite Euler angles in the records (corrupt file)")
    properties = {
        name: data[name].astype(np.float32)
        for name in names
        if name not in ("phase", "phi1", "Phi", "phi2", "x", "y")
    }
    return build_map(crc, euler, phase_index, (n_rows, n_cols), step_x, phases, properties, [])
