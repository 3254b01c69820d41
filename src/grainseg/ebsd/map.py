"""The in-memory EBSD map every reader returns and every later step takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Phase:
    """One crystal phase of a map.

    Attributes
    ----------
    name : str
        Phase name as the file gives it ("Nickel", "Austenite").
    laue : str
        Laue group in Hermann-Mauguin notation: "m-3m" (cubic), "6/mmm" (hexagonal), ...
    """

    name: str
    laue: str


@dataclass
class EBSDMap:
    """An EBSD map on a square grid.

    Attributes
    ----------
    quaternions : (rows, cols, 4) float32
        Unit quaternions (w, x, y, z) in orix's convention (``Orientation.from_euler`` of the Bunge
        angles in the file). Undefined (identity) where not indexed.
    phase_ids : (rows, cols) int16
        Index into ``phases`` per point; -1 where not indexed.
    indexed : (rows, cols) bool
        True where the point was indexed.
    step_um : float
        Grid step in micrometres (after any resampling of a hexagonal grid).
    phases : list of Phase
    path : Path or None
        The file it came from.
    properties : dict of str -> (rows, cols) array
        Per-point extras the file carries (band contrast, image quality, confidence index, MAD).
    notes : list of str
        What the reader did that a user should know (e.g. hexagonal grid resampled).
    """

    quaternions: np.ndarray
    phase_ids: np.ndarray
    indexed: np.ndarray
    step_um: float
    phases: list[Phase]
    path: Path | None = None
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the grid."""
        return tuple(self.phase_ids.shape)  # type: ignore[return-value]
