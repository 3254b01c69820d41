"""Read EBSD maps: EDAX/TSL .ang (square and hexagonal grids), Oxford .ctf, Oxford .cpr + .crc,
and HDF5 files orix reads (EDAX/Bruker/EMsoft h5ebsd, orix's own).

Every reader returns an `EBSDMap` on a square grid, row-major as in the file. Orientations are
the file's Bunge Euler angles turned into quaternions exactly as ``orix`` does
(`grainseg.ebsd.quaternion.euler_to_quat`); no vendor reference-frame correction is applied
(a rotation of the whole map changes no misorientation).

Why not orix's readers for everything: checked on copper_hex.ang, orix 0.15 returns a
231 x 207 grid at dx = 0.1 µm (the half-shifted hexagonal rows taken as separate columns, half
of the grid empty) with 100% of the points indexed, because it marks only CI = -1 as not
indexed while this file flags its not-indexed points with Euler angles of 4 pi and CI 0; and
orix has no .cpr/.crc reader. Our .ang reader gives the same orientations and phases as orix on
the square-grid file (tested); orix reads the HDF5 formats.

Not indexed: .ang CI = -1 or Euler angles of 4 pi (EDAX's flag), or phase 0 in a multi-phase
file; .ctf and .crc phase 0.

Hexagonal grid (.ang ``GRID: HexGrid``): rows are found from the y coordinates, the column step
``s`` from the x spacing within a row (rows alternate n and n - 1 points, shifted by s / 2,
rows s * sqrt(3) / 2 apart). The map is resampled to a square grid of the same step ``s``,
origin at the first point, covering the scanned extent: node (i, j) at (x0 + j s, y0 + i s)
takes the values of the nearest hexagonal point (Euclidean distance; the lower file index on a
tie). Nodes on hexagonal points (every node of row 0) therefore keep their point exactly. The
map's ``step_um`` is ``s`` and a note records the resampling.
"""

from __future__ import annotations

import codecs
import configparser
import io
import warnings
from pathlib import Path

import numpy as np

from grainseg.ebsd.map import EBSDMap, Phase
from grainseg.ebsd.quaternion import euler_to_quat
from grainseg.errors import input_error

#: EDAX/TSL "Symmetry" codes -> Laue group.
TSL_SYMMETRY_LAUE = {
    1: "-1", 2: "2/m", 20: "2/m", 21: "2/m", 22: "mmm", 4: "4/m", 42: "4/mmm", 3: "-3",
    32: "-3m", 6: "6/m", 62: "6/mmm", 23: "m-3", 43: "m-3m",
}
# Hermann-Mauguin spellings of Laue groups found in .ang headers.
_HM_ALIASES = {**{k: k for k in TSL_SYMMETRY_LAUE.values()}, "m3m": "m-3m", "m3": "m-3",
               "-3m1": "-3m", "-31m": "-3m"}
#: Oxford "LaueGroup" numbers -> Laue group.
OXFORD_LAUE = {
    1: "-1", 2: "2/m", 3: "mmm", 4: "4/m", 5: "4/mmm", 6: "-3", 7: "-3m", 8: "6/m", 9: "6/mmm",
    10: "m-3", 11: "m-3m",
}
#: Oxford .crc field IDs (the .cpr [Fields] list) -> (property name, NumPy type). Every record
#: starts with a one-byte phase number that the field list does not name.
CRC_FIELDS = {
    1: ("x", "<f4"), 2: ("y", "<f4"), 3: ("phi1", "<f4"), 4: ("Phi", "<f4"), 5: ("phi2", "<f4"),
    6: ("mad", "<f4"), 7: ("bc", "u1"), 8: ("bs", "u1"), 9: ("unknown_9", "u1"),
    10: ("bands", "u1"), 11: ("error", "u1"), 12: ("reliability_index", "<f4"),
}
# EDAX writes 4 pi (12.56637) into all three angles of a not-indexed point.
_TSL_NOT_INDEXED_EULER = 4 * np.pi - 1e-3
SUPPORTED_SUFFIXES = (".ang", ".ctf", ".cpr", ".crc", ".h5", ".hdf5", ".h5ebsd")


def read_ebsd(path: str | Path) -> EBSDMap:
    """Read an EBSD map from any supported file.

    Parameters
    ----------
    path : str or Path
        ``.ang``, ``.ctf``, ``.cpr`` or ``.crc`` (the pair must sit side by side), or an HDF5
        file orix reads (``.h5``, ``.hdf5``, ``.h5ebsd``).

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
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise input_error(
            path, f"unsupported EBSD file extension {path.suffix!r} (expected .ang, .ctf, "
            ".cpr/.crc or an HDF5 file .h5)"
        )
    if suffix in (".cpr", ".crc"):
        ebsd_map = _read_cpr_crc(path)
    else:
        if not path.is_file():
            raise input_error(path, "file not found")
        if suffix == ".ang":
            ebsd_map = _read_ang(path)
        elif suffix == ".ctf":
            ebsd_map = _read_ctf(path)
        else:
            ebsd_map = _read_hdf5(path)
    if not ebsd_map.indexed.any():
        raise input_error(path, "no indexed point in the map (every point is flagged not indexed)")
    return ebsd_map


def _read_text(path: Path) -> str:
    """The file as text (Latin-1 never fails; headers may carry names in any 8-bit code page).
    A byte-order mark, as Windows editors add, is honoured: UTF-8's is dropped, UTF-16 decoded."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise input_error(path, f"cannot read ({exc.strerror})") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise input_error(path, "damaged UTF-16 text") from None
    raw = raw.removeprefix(codecs.BOM_UTF8)
    if b"\x00" in raw[:4096]:
        raise input_error(path, "binary data where a text EBSD file was expected (wrong extension?)")
    return raw.decode("latin-1")


def _lines(text: str) -> list[str]:
    """Lines split on LF only (``str.splitlines`` would also split on Latin-1 NEL, 0x85, which
    occurs inside UTF-8 letters such as 'Å' in operator names)."""
    return text.replace("\r\n", "\n").split("\n")


def _load_table(path: Path, text: str, first_line: int, min_columns: int) -> np.ndarray:
    """Parse whitespace-separated numbers from ``text`` (lines from ``first_line`` on)."""
    body = "\n".join(_lines(text)[first_line:])
    try:
        with warnings.catch_warnings():  # an empty table is reported below, not warned about
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(io.StringIO(body), dtype=np.float64, ndmin=2)
    except ValueError as exc:
        detail = str(exc).splitlines()[0]
        raise input_error(path, f"malformed data table (truncated file?): {detail}") from None
    if data.shape[0] == 0:
        raise input_error(path, "no data rows after the header")
    if data.shape[1] < min_columns:
        raise input_error(
            path, f"data rows have {data.shape[1]} columns, expected at least {min_columns}"
        )
    if not np.isfinite(data).all():
        raise input_error(path, "data table holds non-finite numbers")
    return data


def _header_count(path: Path, value: str, key: str, minimum: int = 1) -> int:
    """A header count (grid size, phase count) as an int >= ``minimum``, or a clear error."""
    try:
        count = int(value.strip())
    except ValueError:
        raise input_error(path, f"header {key} is not a whole number: {value!r}") from None
    if count < minimum:
        raise input_error(path, f"header {key} must be at least {minimum}, got {count}")
    return count


def _build_map(
    path: Path,
    euler_rad: np.ndarray,
    phase_ids: np.ndarray,
    shape: tuple[int, int],
    step_um: float,
    phases: list[Phase],
    properties: dict[str, np.ndarray],
    notes: list[str],
) -> EBSDMap:
    """Assemble an `EBSDMap` from flat per-point arrays in row-major order."""
    indexed = phase_ids >= 0
    quats = euler_to_quat(euler_rad).astype(np.float32)
    quats[~indexed] = (1.0, 0.0, 0.0, 0.0)
    return EBSDMap(
        quaternions=quats.reshape(*shape, 4),
        phase_ids=phase_ids.astype(np.int16).reshape(shape),
        indexed=indexed.reshape(shape),
        step_um=float(step_um),
        phases=phases,
        path=path,
        properties={k: v.reshape(shape) for k, v in properties.items()},
        notes=notes,
    )


def _map_phase_numbers(
    path: Path, numbers: np.ndarray, valid: list[int], zero_is_not_indexed: bool
) -> np.ndarray:
    """File phase numbers -> 0-based phase index, -1 = not indexed; error on unknown numbers."""
    numbers = np.rint(numbers).astype(np.int64)
    out = np.full(numbers.shape, -1, dtype=np.int64)
    for index, number in enumerate(valid):
        out[numbers == number] = index
    unknown = (out < 0) & ~((numbers == 0) & zero_is_not_indexed)
    if unknown.any():
        bad = sorted(set(numbers[unknown].tolist()))
        raise input_error(
            path, f"phase table and data disagree: data use phase number(s) {bad[:5]} but the "
            f"header lists {valid}"
        )
    return out


# --------------------------------------------------------------------------------------- .ang


def _parse_ang_header(path: Path, header: list[str]) -> tuple[dict[str, str], list[Phase], list[int]]:
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
            current_number = _header_count(path, value, "Phase", minimum=0)
        elif key == "MaterialName":
            name = value or f"phase {len(phases) + 1}"
        elif key == "Symmetry":
            try:  # a TSL code (43) or, in some writers, the Hermann-Mauguin symbol (m3m)
                laue = (
                    TSL_SYMMETRY_LAUE[int(value)] if value.isdigit() else _HM_ALIASES[value]
                )
            except (ValueError, KeyError):
                raise input_error(path, f"unknown crystal symmetry code {value!r} in the header") from None
            phases.append(Phase(name or f"phase {len(phases) + 1}", laue))
            numbers.append(current_number if current_number is not None else len(phases))
            current_number, name = None, None
        else:
            fields.setdefault(key, value)
    if not phases:
        raise input_error(path, "no phase (MaterialName / Symmetry) in the .ang header")
    return fields, phases, numbers


def _read_ang(path: Path) -> EBSDMap:
    """EDAX/TSL .ang on a square or hexagonal grid."""
    text = _read_text(path)
    lines = _lines(text)
    n_header = 0
    while n_header < len(lines) and lines[n_header].startswith("#"):
        n_header += 1
    if n_header == 0:
        raise input_error(path, "no '#' header: not an EDAX .ang file (wrong extension?)")
    fields, phases, numbers = _parse_ang_header(path, lines[:n_header])
    data = _load_table(path, text, n_header, 8)
    euler = data[:, :3]
    x, y, ci = data[:, 3], data[:, 4], data[:, 6]
    single = len(phases) == 1
    phase_index = _map_phase_numbers(
        path, data[:, 7], numbers + ([0] if single else []), zero_is_not_indexed=not single
    )
    if single:
        phase_index[phase_index > 0] = 0  # file number 0 and the phase's own number both mean it
    not_indexed = (ci == -1) | (euler >= _TSL_NOT_INDEXED_EULER).all(axis=1)
    phase_index[not_indexed] = -1
    properties = {"iq": data[:, 5].astype(np.float32), "ci": ci.astype(np.float32)}
    if data.shape[1] > 9:
        properties["fit"] = data[:, 9].astype(np.float32)
    notes: list[str] = []

    grid = fields.get("GRID", "SqrGrid")
    if grid == "HexGrid":
        return _resample_hex(path, euler, phase_index, x, y, phases, properties)
    if grid != "SqrGrid":
        raise input_error(path, f"unknown grid type {grid!r} (expected SqrGrid or HexGrid)")
    step_x, step_y = _float_field(path, fields, "XSTEP"), _float_field(path, fields, "YSTEP")
    if "NCOLS_ODD" in fields and "NROWS" in fields:
        n_cols = _header_count(path, fields["NCOLS_ODD"], "NCOLS_ODD")
        n_rows = _header_count(path, fields["NROWS"], "NROWS")
    else:
        n_cols, n_rows = _grid_from_coordinates(path, x, y)
        notes.append(f"grid {n_rows} x {n_cols} derived from the coordinates (no NCOLS/NROWS)")
    step_x = step_x or _spacing(x)
    step_y = step_y or _spacing(y) or step_x
    if n_rows * n_cols != data.shape[0]:
        raise input_error(
            path, f"header grid NROWS x NCOLS = {n_rows} x {n_cols} = {n_rows * n_cols} points "
            f"but the file has {data.shape[0]} (rows missing or truncated)"
        )
    _check_square(path, step_x, step_y)
    _check_coordinates(path, x, y, n_rows, n_cols, step_x, step_y)
    return _build_map(path, euler, phase_index, (n_rows, n_cols), step_x, phases, properties, notes)


def _float_field(path: Path, fields: dict[str, str], key: str) -> float | None:
    """A positive float header value, None if absent."""
    if key not in fields:
        return None
    try:
        value = float(fields[key].split()[0])
    except (ValueError, IndexError):
        raise input_error(path, f"header {key} is not a number: {fields[key]!r}") from None
    if not value > 0:
        raise input_error(path, f"header {key} must be positive, got {value}")
    return value


def _spacing(values: np.ndarray) -> float:
    """Smallest positive spacing between distinct coordinate values (0 if there is none)."""
    distinct = np.unique(np.round(values, 5))
    diffs = np.diff(distinct)
    return float(diffs.min()) if diffs.size else 0.0


def _grid_from_coordinates(path: Path, x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """(rows, cols) of a square grid from its point coordinates."""
    n_rows = np.unique(np.round(y, 4)).size
    if x.size % n_rows:
        raise input_error(path, f"{x.size} points do not fill {n_rows} rows evenly")
    return n_rows, x.size // n_rows


def _check_square(path: Path, step_x: float, step_y: float) -> None:
    if not (np.isfinite([step_x, step_y]).all() and min(step_x, step_y) > 0):
        raise input_error(path, f"grid steps must be positive numbers, got {step_x} x {step_y}")
    if not np.isclose(step_x, step_y, rtol=1e-3):
        raise input_error(path, f"non-square grid steps ({step_x} x {step_y} µm) are not supported")


def _check_coordinates(
    path: Path, x: np.ndarray, y: np.ndarray, n_rows: int, n_cols: int, step_x: float,
    step_y: float,
) -> None:
    """The point coordinates must lie on the row-major grid the header describes."""
    cols = np.tile(np.arange(n_cols), n_rows)
    rows = np.repeat(np.arange(n_rows), n_cols)
    tol = 0.25
    off_x = np.abs((x - x[0]) / step_x - cols)
    off_y = np.abs((y - y[0]) / step_y - rows)
    bad = (off_x > tol) | (off_y > tol)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise input_error(
            path, f"coordinates disagree with the header grid ({n_rows} x {n_cols}, step "
            f"{step_x} µm): point {first} at x={x[first]}, y={y[first]} is off its grid node"
        )


def _resample_hex(
    path: Path,
    euler: np.ndarray,
    phase_index: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    phases: list[Phase],
    properties: dict[str, np.ndarray],
) -> EBSDMap:
    """Resample a hexagonal-grid .ang to a square grid (rule in the module notes)."""
    from scipy.spatial import cKDTree

    row_y = np.unique(np.round(y, 4))
    if row_y.size < 2:
        raise input_error(path, "hexagonal grid with fewer than two rows")
    first_row = np.round(y, 4) == row_y[0]
    step = round(_spacing(x[first_row]), 6)
    if step <= 0:
        raise input_error(path, "cannot find the column step of the hexagonal grid")
    row_step = float(np.median(np.diff(row_y)))
    if not np.isclose(row_step, step * np.sqrt(3) / 2, rtol=0.02):
        raise input_error(
            path, f"rows are {row_step:.5f} µm apart; a hexagonal grid of column step {step} µm "
            f"needs {step * np.sqrt(3) / 2:.5f}"
        )
    x0, y0 = float(x.min()), float(y.min())
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
    return _build_map(
        path, euler[nearest], phase_index[nearest], (n_rows, n_cols), step, phases,
        {k: v[nearest] for k, v in properties.items()}, [note],
    )


# --------------------------------------------------------------------------------------- .ctf


def _read_ctf(path: Path) -> EBSDMap:
    """Oxford HKL .ctf text file."""
    text = _read_text(path)
    lines = _lines(text)
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
            n_phases = _header_count(path, parts[1] if len(parts) > 1 else "", "Phases")
            if i + n_phases >= len(lines):
                raise input_error(path, f"header announces {n_phases} phases but the file ends")
            for j in range(n_phases):
                cols = lines[i + 1 + j].split("\t")
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
    data = _load_table(path, text, table_line + 1, len(columns))
    try:
        n_cols = _header_count(path, fields["XCells"], "XCells")
        n_rows = _header_count(path, fields["YCells"], "YCells")
        step_x, step_y = float(fields["XStep"]), float(fields["YStep"])
    except (KeyError, ValueError):
        raise input_error(path, "header lacks XCells / YCells / XStep / YStep") from None
    if n_rows * n_cols != data.shape[0]:
        raise input_error(
            path, f"header grid YCells x XCells = {n_rows} x {n_cols} = {n_rows * n_cols} points "
            f"but the file has {data.shape[0]} (rows missing or truncated)"
        )
    _check_square(path, step_x, step_y)
    col = {name: k for k, name in enumerate(columns)}
    if "X" in col and "Y" in col:
        _check_coordinates(path, data[:, col["X"]], data[:, col["Y"]], n_rows, n_cols, step_x,
                           step_y)
    phase_index = _map_phase_numbers(
        path, data[:, col["Phase"]], list(range(1, len(phases) + 1)), zero_is_not_indexed=True
    )
    euler = np.radians(data[:, [col["Euler1"], col["Euler2"], col["Euler3"]]])
    properties = {
        name.lower(): data[:, k].astype(np.float32)
        for name, k in col.items()
        if name in ("Bands", "Error", "MAD", "BC", "BS")
    }
    return _build_map(path, euler, phase_index, (n_rows, n_cols), step_x, phases, properties, [])


# ------------------------------------------------------------------------------- .cpr + .crc


def _read_cpr_crc(path: Path) -> EBSDMap:
    """Oxford Channel 5 / AZtec binary pair: INI-style .cpr header + .crc records."""
    cpr = path.with_suffix(".cpr")
    crc = path.with_suffix(".crc")
    for part, other in ((cpr, ".crc"), (crc, ".cpr")):
        if not part.is_file():
            raise input_error(part, f"file not found (an Oxford {other} needs its "
                                    f"{part.suffix} beside it)")
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(_read_text(cpr))
        job = parser["Job"]
        n_cols = _header_count(cpr, job["xCells"], "xCells")
        n_rows = _header_count(cpr, job["yCells"], "yCells")
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
    _check_square(cpr, step_x, step_y)
    data = np.fromfile(crc, dtype=record)
    if "x" in names and "y" in names:
        _check_coordinates(crc, data["x"].astype(np.float64), data["y"].astype(np.float64),
                           n_rows, n_cols, step_x, step_y)
    phase_index = _map_phase_numbers(
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
    return _build_map(crc, euler, phase_index, (n_rows, n_cols), step_x, phases, properties, [])


# ------------------------------------------------------------------------------------- HDF5

_POINT_GROUP_LAUE = {
    "1": "-1", "-1": "-1", "2": "2/m", "m": "2/m", "2/m": "2/m", "222": "mmm", "mm2": "mmm",
    "mmm": "mmm", "4": "4/m", "-4": "4/m", "4/m": "4/m", "422": "4/mmm", "4mm": "4/mmm",
    "-42m": "4/mmm", "4/mmm": "4/mmm", "3": "-3", "-3": "-3", "32": "-3m", "3m": "-3m",
    "-3m": "-3m", "6": "6/m", "-6": "6/m", "6/m": "6/m", "622": "6/mmm", "6mm": "6/mmm",
    "-6m2": "6/mmm", "6/mmm": "6/mmm", "23": "m-3", "m-3": "m-3", "432": "m-3m",
    "-43m": "m-3m", "m-3m": "m-3m",
}


def _read_hdf5(path: Path) -> EBSDMap:
    """An HDF5 EBSD file read by orix (h5ebsd of EDAX, Bruker, EMsoft, or orix's format)."""
    from orix import io as orix_io

    try:
        xmap = orix_io.load(path)
    except Exception as exc:  # noqa: BLE001 - orix raises many types for foreign files
        raise input_error(path, f"orix cannot read this HDF5 file as an EBSD map ({exc})") from None
    if isinstance(xmap, list):
        xmap = xmap[0]
    if xmap.ndim != 2:
        raise input_error(path, f"expected a 2-D map, orix read shape {xmap.shape}")
    phase_ids_file = [i for i in xmap.phases.ids if i >= 0]
    phases = []
    for i in phase_ids_file:
        phase = xmap.phases[i]
        point_group = phase.point_group.name if phase.point_group is not None else None
        if point_group not in _POINT_GROUP_LAUE:
            raise input_error(path, f"phase {phase.name!r} has no known point group ({point_group})")
        phases.append(Phase(phase.name or f"phase {i}", _POINT_GROUP_LAUE[point_group]))
    shape = xmap.shape
    full_phase = np.full(shape, -1, dtype=np.int64).ravel()
    full_quat = np.tile(np.array([1.0, 0, 0, 0], dtype=np.float32), (full_phase.size, 1))
    flat_ids = np.asarray(xmap.id)  # orix keeps the points "in data" and their map indices
    file_phase = np.asarray(xmap.phase_id)
    for k, pid in enumerate(phase_ids_file):  # orix phase IDs -> 0-based, -1 = not indexed
        full_phase[flat_ids[file_phase == pid]] = k
    full_quat[flat_ids] = xmap.rotations.data.astype(np.float32)
    indexed = full_phase >= 0
    full_quat[~indexed] = (1.0, 0.0, 0.0, 0.0)
    step = float(xmap.dx)
    if not np.isclose(xmap.dx, xmap.dy, rtol=1e-3):
        raise input_error(path, f"non-square grid steps ({xmap.dx} x {xmap.dy}) are not supported")
    return EBSDMap(
        quaternions=full_quat.reshape(*shape, 4),
        phase_ids=full_phase.astype(np.int16).reshape(shape),
        indexed=indexed.reshape(shape),
        step_um=step,
        phases=phases,
        path=path,
        notes=[f"read with orix {type(xmap).__name__}"],
    )

