"""EDAX/TSL OIM binary scan files (.osc); read.

Layout, little-endian throughout (no public specification; taken from the public readers of
MTEX and ebsdlab and checked on copper_hex.osc against its .ang export):

- bytes 0-31: eight uint32; [4] and [5] are the last column and row index of the scan
  (columns of the odd rows on a hexagonal grid), [6] the number of points ``n``.
- a phase block opens with the 8-byte marker ``B9 0B EF FF 01 00 00 00``; each phase record in
  it is a 256-byte name (NUL or blank padded), the TSL symmetry code (int32) and the six
  lattice constants a, b, c (Å) and alpha, beta, gamma (degrees) as float32, followed by hkl
  families of a length the block does not announce, so the records are found by that pattern.
- the data block opens with the marker ``B9 0B EF FF 02 00 00 00``, then (in some versions) a
  uint32 byte count, the x and y steps (float32, µm) and ``n`` records of ``k`` float32 columns:
  phi1 Phi phi2 (radians) x y (µm) IQ CI phase SEM-signal fit, then any extra columns (PRIAS,
  EDS). Neither the count field nor ``k`` is announced: the layout taken is the one whose
  first two records are one x step apart on the same row, as MTEX does.

The y step is the distance between rows: equal to the x step on a square grid, x step *
sqrt(3) / 2 on a hexagonal one. The point records then go through the .ang rules (not-indexed
flags, hexagonal resampling), so an .osc gives the map of its .ang export.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grainseg.errors import input_error
from grainseg.io.ebsd.ang import map_from_tsl_points
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.ebsd.symmetry import TSL_SYMMETRY_LAUE

EXTENSIONS = (".osc",)
PHASE_MARKER = bytes.fromhex("B90BEFFF01000000")
DATA_MARKER = bytes.fromhex("B90BEFFF02000000")
_NAME_BYTES = 256
_PHASE_RECORD_BYTES = _NAME_BYTES + 4 + 6 * 4
_MAX_COLUMNS = 30


def _phases(path: Path, block: bytes) -> list[Phase]:
    """Phase records of the phase block: a printable name, a known TSL symmetry code and six
    plausible lattice constants (rule in the module notes)."""
    buf = np.frombuffer(block, dtype=np.uint8)
    n_start = buf.size - _PHASE_RECORD_BYTES + 1
    if n_start <= 0:
        return []
    starts = np.arange(n_start)
    # int32 / float32 at every byte offset, by assembling the little-endian bytes.
    def u32_at(offset: int) -> np.ndarray:
        b = buf[starts[:, None] + offset + np.arange(4)].astype(np.uint32)
        return b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16) | (b[:, 3] << 24)

    code = u32_at(_NAME_BYTES).view(np.int32)
    lattice = np.stack([u32_at(_NAME_BYTES + 4 + 4 * k).view(np.float32) for k in range(6)], 1)
    candidates = np.isin(code, list(TSL_SYMMETRY_LAUE))
    with np.errstate(invalid="ignore"):
        candidates &= ((lattice[:, :3] > 0) & (lattice[:, :3] < 1000)).all(axis=1)
        candidates &= ((lattice[:, 3:] > 0) & (lattice[:, 3:] < 180)).all(axis=1)
    phases: list[Phase] = []
    end = 0
    for start in np.flatnonzero(candidates):
        if start < end:  # inside the record just taken
            continue
        raw_name = block[start:start + _NAME_BYTES].split(b"\0")[0].strip()
        name = raw_name.decode("latin-1")
        if not name or not name[0].isalpha() or not raw_name.isascii() or not name.isprintable():
            continue
        phases.append(Phase(name, TSL_SYMMETRY_LAUE[int(code[start])]))
        end = start + _PHASE_RECORD_BYTES
    return phases


def read(path: Path) -> EBSDMap:
    """Read an EDAX/TSL .osc file (layout in the module notes)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise input_error(path, f"cannot read ({exc.strerror})") from None
    if len(raw) < 32:
        raise input_error(path, f"only {len(raw)} bytes: not an EDAX .osc file (truncated?)")
    header = np.frombuffer(raw, dtype="<u4", count=8)
    n_points = int(header[6])
    phase_at, data_at = raw.find(PHASE_MARKER), raw.find(DATA_MARKER)
    if data_at < 0:
        raise input_error(path, "no data block marker (B9 0B EF FF 02): not an EDAX .osc file")
    if n_points < 2:
        raise input_error(path, f"header gives {n_points} points; a map needs at least 2")
    phases = _phases(path, raw[phase_at + len(PHASE_MARKER):data_at] if phase_at >= 0 else b"")
    if not phases:
        raise input_error(path, "no phase record (name, symmetry code, lattice) in the header")
    base = data_at + len(DATA_MARKER)
    layout = None
    for steps_at in (base, base + 4):
        for n_columns in range(10, _MAX_COLUMNS + 1):
            first = steps_at + 8
            if first + 4 * n_points * n_columns > len(raw):
                break
            step_x, step_y = np.frombuffer(raw, "<f4", 2, steps_at).astype(np.float64)
            rec = np.frombuffer(raw, "<f4", 2 * n_columns, first).reshape(2, n_columns)
            if (step_x > 0 and np.isclose(rec[1, 3] - rec[0, 3], step_x, rtol=1e-4)
                    and rec[1, 4] == rec[0, 4]):
                layout = (first, n_columns, step_x, step_y)
                break
        if layout:
            break
    if layout is None:
        needed = base + 8 + 40 * n_points
        problem = (f"truncated: {len(raw)} bytes, {n_points} points of 10 values need "
                   f"at least {needed}") if len(raw) < needed else (
            "no record layout of 10 to 30 float32 columns puts the second point one x step "
            "from the first")
        raise input_error(path, f"cannot decode the data block ({problem})")
    first, n_columns, step_x, step_y = layout
    data = np.frombuffer(raw, "<f4", n_points * n_columns, first).reshape(n_points, n_columns)
    data = data.astype(np.float64)
    if not np.isfinite(data[:, :8]).all():
        raise input_error(path, "non-finite values in the point records (corrupt file)")
    hexagonal = not np.isclose(step_x, step_y, rtol=1e-3)
    if hexagonal and not np.isclose(step_y, step_x * np.sqrt(3) / 2, rtol=1e-3):
        raise input_error(path, f"row step {step_y} µm fits neither a square ({step_x}) nor a "
                                f"hexagonal ({step_x * np.sqrt(3) / 2:.5f}) grid")
    fields = {"GRID": "HexGrid" if hexagonal else "SqrGrid", "XSTEP": str(step_x),
              "YSTEP": str(step_y)}
    if not hexagonal:
        fields.update(NCOLS_ODD=str(int(header[4]) + 1), NROWS=str(int(header[5]) + 1))
    numbers = list(range(1, len(phases) + 1))
    ebsd_map = map_from_tsl_points(path, data, fields, phases, numbers)
    if n_columns > 10:
        ebsd_map.notes.append(f"{n_columns - 10} extra columns per point (PRIAS/EDS) not read")
    return ebsd_map
