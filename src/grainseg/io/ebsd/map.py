"""The in-memory EBSD map every reader returns and every later step takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grainseg.errors import GrainsegError
from grainseg.io.ebsd.symmetry import POINT_GROUP_LAUE

if TYPE_CHECKING:
    from orix.crystal_map import CrystalMap


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

    @classmethod
    def from_crystal_map(cls, xmap: CrystalMap, path: Path | None = None) -> EBSDMap:
        """The map of an orix ``CrystalMap`` (2-D, square grid).

        Points not in the data (``is_in_data`` False), orix's "not_indexed" phase (ID -1) and
        non-finite rotations become not indexed; each phase's Laue group is that of its point group; the map's
        properties (``xmap.prop``) are kept, NaN at points not in the data.

        Raises
        ------
        GrainsegError
            For a map that is not 2-D or not a full grid, has unequal x and y steps, or a phase
            without a known point group.
        """
        where = f"{path}: " if path is not None else "CrystalMap: "
        try:  # orix derives the grid from the coordinates; odd ones make these raise
            shape, dx, dy = tuple(xmap.shape), float(xmap.dx), float(xmap.dy)
        except (ValueError, TypeError, IndexError, ZeroDivisionError) as exc:
            raise GrainsegError(f"{where}the point coordinates form no grid ({exc})") from None
        if len(shape) != 2:
            raise GrainsegError(f"{where}expected a 2-D map, got shape {shape}")
        if int(np.prod(shape)) != np.asarray(xmap.is_in_data).size:
            raise GrainsegError(f"{where}{np.asarray(xmap.is_in_data).size} points do not fill "
                                f"the {shape[0]} x {shape[1]} grid their coordinates span")
        if not (np.isfinite([dx, dy]).all() and dx > 0 and np.isclose(dx, dy, rtol=1e-3)):
            raise GrainsegError(
                f"{where}non-square grid steps ({dx} x {dy}) are not supported"
            )
        phase_ids_file = [i for i in xmap.phases.ids if i >= 0]
        phases = []
        for i in phase_ids_file:
            phase = xmap.phases[i]
            point_group = phase.point_group.name if phase.point_group is not None else None
            if point_group not in POINT_GROUP_LAUE:
                raise GrainsegError(
                    f"{where}phase {phase.name!r} has no known point group ({point_group})"
                )
            phases.append(Phase(phase.name or f"phase {i}", POINT_GROUP_LAUE[point_group]))
        n_points = int(np.prod(shape))
        full_phase = np.full(n_points, -1, dtype=np.int64)
        full_quat = np.tile(np.array([1.0, 0, 0, 0], dtype=np.float32), (n_points, 1))
        flat_ids = np.asarray(xmap.id)  # orix keeps the points "in data" and their map indices
        file_phase = np.asarray(xmap.phase_id)
        for k, pid in enumerate(phase_ids_file):  # orix phase IDs -> 0-based, -1 = not indexed
            full_phase[flat_ids[file_phase == pid]] = k
        full_quat[flat_ids] = xmap.rotations.data.astype(np.float32)
        full_phase[~np.isfinite(full_quat).all(axis=1)] = -1  # NaN angles: no orientation
        indexed = full_phase >= 0
        full_quat[~indexed] = (1.0, 0.0, 0.0, 0.0)
        properties = {}
        for name in xmap.prop:
            full = np.full(n_points, np.nan, dtype=np.float32)
            try:
                full[flat_ids] = np.asarray(xmap.prop[name], dtype=np.float32)  # points in data
            except (IndexError, ValueError, TypeError):
                raise GrainsegError(f"{where}property {name!r} does not hold one number per "
                                    "point") from None
            properties[name] = full.reshape(shape)
        return cls(
            quaternions=full_quat.reshape(*shape, 4),
            phase_ids=full_phase.astype(np.int16).reshape(shape),
            indexed=indexed.reshape(shape),
            step_um=dx,
            phases=phases,
            path=path,
            properties=properties,
        )

    def to_crystal_map(self) -> CrystalMap:
        """This map as an orix ``CrystalMap`` (scan unit um, origin 0).

        Phase IDs are this map's 0-based indices, -1 (orix's "not_indexed") where not indexed;
        each phase's point group is its Laue group; ``properties`` become ``prop``. As orix
        does, phases without any indexed point are left out of the phase list.
        """
        from orix.crystal_map import CrystalMap, PhaseList
        from orix.quaternion import Rotation

        rows, cols = self.shape
        y, x = np.mgrid[0:rows, 0:cols].astype(np.float64) * self.step_um
        phase_list = PhaseList(
            names=[phase.name for phase in self.phases],
            point_groups=[phase.laue for phase in self.phases],
            ids=list(range(len(self.phases))),
        )
        phase_id = np.where(self.indexed, self.phase_ids, -1).ravel().astype(int)
        return CrystalMap(
            Rotation(self.quaternions.reshape(-1, 4).astype(np.float64)),
            phase_id=phase_id,
            x=x.ravel(),
            y=y.ravel(),
            phase_list=phase_list,
            prop={name: np.asarray(v).ravel() for name, v in self.properties.items()},
            scan_unit="um",
        )
