"""Manual registration from control-point pairs: an affine or a thin-plate-spline mapping.

The file is CSV with a header naming the columns ``sem_x,sem_y,ebsd_x,ebsd_y``: SEM pixel
(column, row) and EBSD point (column, row) of the same feature, one pair per line.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.interpolate import RBFInterpolator

from grainseg.errors import input_error
from grainseg.register.mapping import AffineDriftMapping, fit_affine

COLUMNS = ("sem_x", "sem_y", "ebsd_x", "ebsd_y")
#: Fewest pairs for a thin-plate spline; with fewer, the affine fit is used.
MIN_THIN_PLATE_PAIRS = 6


def read_point_pairs(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read control-point pairs.

    Returns
    -------
    sem_xy : (n, 2) float64
        SEM pixel (column, row).
    ebsd_uv : (n, 2) float64
        EBSD point (column, row).

    Raises
    ------
    GrainsegError
        Missing file, missing columns, a value that is not a finite number, fewer than 3 pairs,
        or pairs that are all on one line.
    """
    path = Path(path)
    if not path.is_file():
        raise input_error(path, "file not found")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = [f.strip() for f in (reader.fieldnames or [])]
            missing = [c for c in COLUMNS if c not in fields]
            if missing:
                raise input_error(
                    path, f"missing column(s) {', '.join(missing)}; need {','.join(COLUMNS)}"
                )
            rows = []
            for number, row in enumerate(reader, start=2):
                row = {k.strip(): v for k, v in row.items() if k is not None}
                try:
                    rows.append([float(row[c]) for c in COLUMNS])
                except (TypeError, ValueError):
                    raise input_error(path, f"line {number}: not four numbers") from None
    except UnicodeDecodeError:
        raise input_error(path, "not a text CSV file") from None
    pairs = np.array(rows, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(pairs).all():
        raise input_error(path, "values must be finite numbers")
    if len(pairs) < 3:
        raise input_error(path, f"need at least 3 point pairs, found {len(pairs)}")
    for block, name in ((pairs[:, :2], "SEM"), (pairs[:, 2:], "EBSD")):
        centred = block - block.mean(axis=0)
        if np.linalg.matrix_rank(centred, tol=1e-6 * (np.abs(centred).max() + 1)) < 2:
            raise input_error(
                path, f"the {name} points lie on one line; an affine fit needs a triangle"
            )
    return pairs[:, :2], pairs[:, 2:]


@dataclass
class ThinPlateMapping:
    """Thin-plate spline through control points (exact at the points, affine far away).

    Attributes
    ----------
    interpolator : scipy.interpolate.RBFInterpolator
        SEM (x, y) -> EBSD (u, v).
    """

    interpolator: RBFInterpolator

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        points = np.column_stack([x.ravel(), np.asarray(y, dtype=np.float64).ravel()])
        uv = self.interpolator(points)
        return uv[:, 0].reshape(x.shape), uv[:, 1].reshape(x.shape)


def mapping_from_points(
    sem_xy: np.ndarray, ebsd_uv: np.ndarray, kind: str = "affine"
) -> AffineDriftMapping | ThinPlateMapping:
    """Fit a mapping to control points.

    Parameters
    ----------
    sem_xy, ebsd_uv : (n, 2) float64
        Pairs from `read_point_pairs`.
    kind : {"affine", "thin-plate"}
        Least-squares affine, or a thin-plate spline (falls back to affine below
        `MIN_THIN_PLATE_PAIRS` pairs).
    """
    if kind == "thin-plate" and len(sem_xy) >= MIN_THIN_PLATE_PAIRS:
        return ThinPlateMapping(
            RBFInterpolator(sem_xy, ebsd_uv, kernel="thin_plate_spline", degree=1)
        )
    return AffineDriftMapping(fit_affine(sem_xy[:, 0], sem_xy[:, 1], ebsd_uv[:, 0], ebsd_uv[:, 1]))
