"""Parsing and writing pieces shared by the EBSD format plugins.

Text decoding, numeric tables, header numbers, grid checks, file phase numbers, the assembly of
an `EBSDMap` from flat per-point arrays, and the fast fixed-point table formatter of the text
writers. Orientations are the file's Bunge Euler angles turned into quaternions by orix
(``Rotation.from_euler``, w >= 0); no vendor reference-frame correction is applied (a rotation of
the whole map changes no misorientation).
"""

from __future__ import annotations

import codecs
import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from orix.quaternion import Rotation

from grainseg.errors import GrainsegError, input_error
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.ebsd.symmetry import BY_NAME, LaueGroup


def read_text(path: Path) -> str:
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


@contextlib.contextmanager
def hdf5_file(path: Path) -> Iterator:
    """An HDF5 file open for reading; h5py's errors on a damaged file (which come as OSError,
    KeyError, ValueError, RuntimeError or TypeError from deep in the library) become one
    `GrainsegError` naming the file."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            yield h5
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise input_error(path, f"damaged or unreadable HDF5 file ({type(exc).__name__}: "
                                f"{exc})") from None


def split_lines(text: str) -> list[str]:
    """Lines split on LF only (``str.splitlines`` would also split on Latin-1 NEL, 0x85, which
    occurs inside UTF-8 letters such as 'Å' in operator names)."""
    return text.replace("\r\n", "\n").split("\n")


def load_table(path: Path, text: str, first_line: int, min_columns: int) -> np.ndarray:
    """Whitespace-separated numbers of ``text`` from line ``first_line`` on, (n, columns)
    float64; a clear error for ragged, short, empty or non-finite tables."""
    body = "\n".join(split_lines(text)[first_line:])
    try:
        with warnings.catch_warnings():  # an empty table is reported below, not warned about
            warnings.simplefilter("ignore", UserWarning)
            data = np.loadtxt(io.StringIO(body), dtype=np.float64, ndmin=2)
    except ValueError:
        raise input_error(
            path, f"malformed data table (truncated file?): {_table_fault(body)}"
        ) from None
    if data.shape[0] == 0:
        raise input_error(path, "no data rows after the header")
    if data.shape[1] < min_columns:
        raise input_error(
            path, f"data rows have {data.shape[1]} columns, expected at least {min_columns}"
        )
    if not np.isfinite(data).all():
        raise input_error(path, "data table holds non-finite numbers")
    return data


def _table_fault(body: str) -> str:
    """What is wrong in a table NumPy could not read, in the file's terms (NumPy's own message
    gives advice on its arguments)."""
    expected = None
    rows = (line.split() for line in split_lines(body))
    for number, fields in enumerate((f for f in rows if f), start=1):
        for field in fields:
            try:
                float(field)
            except ValueError:
                return f"data row {number}: {field[:20]!r} is not a number"
        if expected is None:
            expected = len(fields)
        elif len(fields) != expected:
            return f"data row {number} has {len(fields)} fields, the rows before it {expected}"
    return "the data rows cannot be read as numbers"


def header_count(path: Path, value: str, key: str, minimum: int = 1) -> int:
    """A header count (grid size, phase count) as an int >= ``minimum``, or a clear error."""
    try:
        count = int(value.strip())
    except ValueError:
        raise input_error(path, f"header {key} is not a whole number: {value!r}") from None
    if count < minimum:
        raise input_error(path, f"header {key} must be at least {minimum}, got {count}")
    return count


def float_field(path: Path, fields: dict[str, str], key: str) -> float | None:
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


def spacing(values: np.ndarray) -> float:
    """Smallest positive spacing between distinct coordinate values (0 if there is none)."""
    distinct = np.unique(np.round(values, 5))
    diffs = np.diff(distinct)
    return float(diffs.min()) if diffs.size else 0.0


def grid_from_coordinates(path: Path, x: np.ndarray, y: np.ndarray) -> tuple[int, int]:
    """(rows, cols) of a square grid from its point coordinates."""
    n_rows = np.unique(np.round(y, 4)).size
    if x.size % n_rows:
        raise input_error(path, f"{x.size} points do not fill {n_rows} rows evenly")
    return n_rows, x.size // n_rows


def check_square(path: Path, step_x: float, step_y: float) -> None:
    """Both grid steps positive and equal (within 0.1 %), or a clear error."""
    if not (np.isfinite([step_x, step_y]).all() and min(step_x, step_y) > 0):
        raise input_error(path, f"grid steps must be positive numbers, got {step_x} x {step_y}")
    if not np.isclose(step_x, step_y, rtol=1e-3):
        raise input_error(path, f"non-square grid steps ({step_x} x {step_y} µm) are not supported")


def check_coordinates(
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


def scan_order(
    path: Path, x: np.ndarray, y: np.ndarray, n_rows: int, n_cols: int, step_x: float,
    step_y: float,
) -> np.ndarray | None:
    """How to put the points into row-major scan order.

    Returns None when they already are (the coordinates follow the grid row by row); the
    permutation that sorts them when they are out of order but lie one per grid node (some
    exports write rows out of order); raises the `check_coordinates` error otherwise.
    """
    try:
        check_coordinates(path, x, y, n_rows, n_cols, step_x, step_y)
        return None
    except GrainsegError as in_order_error:
        error = in_order_error
    col = np.rint((x - x.min()) / step_x)
    row = np.rint((y - y.min()) / step_y)
    off = np.maximum(np.abs((x - x.min()) / step_x - col), np.abs((y - y.min()) / step_y - row))
    node = (row * n_cols + col).astype(np.int64)
    on_grid = (off <= 0.25).all() and (col < n_cols).all() and (row < n_rows).all()
    if not on_grid or np.bincount(node, minlength=n_rows * n_cols).max() != 1:
        raise error
    return np.argsort(node, kind="stable")


def map_phase_numbers(
    path: Path, numbers: np.ndarray, valid: list[int], zero_is_not_indexed: bool
) -> np.ndarray:
    """File phase numbers -> 0-based phase index, -1 = not indexed; error on unknown numbers."""
    # kept as floats: a number beyond int64 would wrap around and be reported as another one
    numbers = np.rint(numbers)
    out = np.full(numbers.shape, -1, dtype=np.int64)
    for index, number in enumerate(valid):
        out[numbers == number] = index
    unknown = (out < 0) & ~((numbers == 0) & zero_is_not_indexed)
    if unknown.any():
        raise input_error(
            path, f"phase table and data disagree: data use phase number(s) "
            f"{number_list(numbers[unknown])} but the header lists {valid}"
        )
    return out


def number_list(values: np.ndarray, most: int = 5) -> str:
    """The first ``most`` distinct numbers of ``values``, sorted, as ``[3, 1e+20]``."""
    return "[" + ", ".join(f"{v:g}" for v in np.unique(values)[:most]) + "]"


def build_map(
    path: Path,
    euler_rad: np.ndarray,
    phase_ids: np.ndarray,
    shape: tuple[int, int],
    step_um: float,
    phases: list[Phase],
    properties: dict[str, np.ndarray],
    notes: list[str],
) -> EBSDMap:
    """Assemble an `EBSDMap` from flat per-point arrays in row-major order.

    Parameters
    ----------
    euler_rad : (n, 3) float
        Bunge Euler angles in radians.
    phase_ids : (n,) int
        0-based phase index, -1 = not indexed.
    shape : (rows, cols)
        With rows * cols = n.
    """
    indexed = phase_ids >= 0
    # Not-indexed points carry flags (EDAX: 4 pi) that are no orientation; identity instead.
    euler_rad = np.where(indexed[:, None], np.asarray(euler_rad, dtype=np.float64), 0.0)
    with warnings.catch_warnings():  # the formats define radians; orix guesses at degrees
        warnings.filterwarnings("ignore", "Angles are quite high", UserWarning)
        quats = Rotation.from_euler(euler_rad).data.astype(np.float32)
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


def euler_rad(ebsd: EBSDMap) -> np.ndarray:
    """Bunge Euler angles (rows * cols, 3) float64 in radians of a map; zeros where not indexed."""
    euler = Rotation(ebsd.quaternions.reshape(-1, 4).astype(np.float64)).to_euler()
    euler[~ebsd.indexed.ravel()] = 0.0
    return euler


def point_property(ebsd: EBSDMap, name: str, default: float) -> np.ndarray:
    """A per-point property flattened to (rows * cols,) float64, ``default`` where absent."""
    value = ebsd.properties.get(name)
    if value is None:
        return np.full(ebsd.indexed.size, default, dtype=np.float64)
    return np.asarray(value, dtype=np.float64).ravel()


def grid_xy(ebsd: EBSDMap) -> tuple[np.ndarray, np.ndarray]:
    """Flat x and y coordinates in µm of a map's grid nodes, row-major, origin 0."""
    rows, cols = ebsd.shape
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64) * ebsd.step_um
    return x.ravel(), y.ravel()


def writable_symmetry(ebsd: EBSDMap, path: Path) -> list[LaueGroup]:
    """The `LaueGroup` of each phase, for a writer that writes cubic lattices only."""
    cubic = ("m-3m", "m-3")
    bad = [phase.laue for phase in ebsd.phases if phase.laue not in cubic]
    if bad:
        raise input_error(path, f"cannot write Laue group {bad[0]}: only cubic phases "
                                f"({', '.join(cubic)}) are supported")
    return [BY_NAME[phase.laue] for phase in ebsd.phases]
