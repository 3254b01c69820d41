"""Mappings from SEM pixel coordinates to EBSD point coordinates.

Conventions used throughout `grainseg.register`: an SEM pixel has coordinates ``(x, y)`` =
(column, row) with pixel centres at integers; an EBSD point has ``(u, v)`` = (column, row) of
the map as stored in the file, point centres at integers. A mapping answers "which EBSD point
lies under this SEM pixel", which is what rendering labels on the SEM grid needs.

The automatic mapping is an affine map plus a drift field that depends only on the EBSD slow
scan coordinate (the map row): an EBSD map is acquired row after row over minutes to hours, so
stage and beam drift is a smooth function of the row being scanned. Writing the drift as a cubic
B-spline of the affine row ``v0 = affine[1] @ (x, y, 1)`` is exact for such drift (the true row is
itself a function of ``v0`` alone) and needs only ``2 K`` numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.interpolate import BSpline


class PixelMapping(Protocol):
    """Anything that maps SEM pixel coordinates to EBSD point coordinates."""

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(u, v)`` arrays of the shape of ``x`` and ``y``."""
        ...


def drift_knots(v_min: float, v_max: float, n_segments: int, degree: int = 3) -> np.ndarray:
    """Clamped, uniform B-spline knot vector over ``[v_min, v_max]`` (EBSD rows).

    Returns
    -------
    (n_segments + 2 * degree + 1,) float64
        Knots; the spline has ``n_segments + degree`` coefficients.
    """
    inner = np.linspace(v_min, v_max, n_segments + 1)
    return np.concatenate([np.full(degree, v_min), inner, np.full(degree, v_max)])


def drift_design(v0: np.ndarray, knots: np.ndarray, degree: int = 3):
    """Sparse B-spline design matrix ``(n, K)`` at rows ``v0`` (clipped to the knot span)."""
    v0 = np.clip(np.ravel(v0), knots[degree], knots[-degree - 1])
    return BSpline.design_matrix(v0, knots, degree)


@dataclass
class AffineDriftMapping:
    """Affine map plus a smooth drift along the EBSD slow axis.

    ``(u, v) = affine @ (x, y, 1) + drift(v0)`` with ``v0 = affine[1] @ (x, y, 1)``.

    Attributes
    ----------
    affine : (2, 3) float64
        SEM pixel -> EBSD point affine part.
    knots : (K + 4,) float64 or None
        Cubic B-spline knots over ``v0`` (EBSD rows); None for a purely affine mapping.
    coef : (K, 2) float64 or None
        Drift coefficients (du, dv) in EBSD points.
    """

    affine: np.ndarray
    knots: np.ndarray | None = None
    coef: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.affine = np.asarray(self.affine, dtype=np.float64).reshape(2, 3)

    @property
    def has_drift(self) -> bool:
        """True when a drift spline is attached."""
        return self.knots is not None and self.coef is not None

    def affine_part(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(u0, v0)``: the affine part alone."""
        a = self.affine
        return a[0, 0] * x + a[0, 1] * y + a[0, 2], a[1, 0] * x + a[1, 1] * y + a[1, 2]

    def drift(self, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drift ``(du, dv)`` in EBSD points at affine rows ``v0`` (zeros without a spline)."""
        v0 = np.asarray(v0, dtype=np.float64)
        if not self.has_drift:
            return np.zeros_like(v0), np.zeros_like(v0)
        d = drift_design(v0, self.knots) @ self.coef
        return d[:, 0].reshape(v0.shape), d[:, 1].reshape(v0.shape)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        u0, v0 = self.affine_part(x, y)
        du, dv = self.drift(v0)
        return u0 + du, v0 + dv

    def sem_px_per_point(self) -> float:
        """Mean SEM pixels per EBSD step, from the affine part (sqrt of the inverse determinant)."""
        return float(1.0 / np.sqrt(abs(np.linalg.det(self.affine[:, :2]))))


def nominal_mapping(sem_px_per_point: float) -> AffineDriftMapping:
    """The mapping the files imply: scale only, top-left corners together, no turn or flip."""
    s = 1.0 / sem_px_per_point
    return AffineDriftMapping(np.array([[s, 0.0, 0.5 * s - 0.5], [0.0, s, 0.5 * s - 0.5]]))


def box_mapping(x0_px: float, y0_px: float, width_px: float, height_px: float,
                map_shape: tuple[int, int]) -> AffineDriftMapping:
    """The mapping that puts an EBSD map of ``map_shape`` (rows, cols) points into the SEM box
    with top-left corner (``x0_px``, ``y0_px``) and size ``width_px`` x ``height_px`` (pixel
    edges; as instruments record where a map lies in their electron image)."""
    rows, cols = map_shape
    sx, sy = cols / width_px, rows / height_px
    return AffineDriftMapping(np.array([[sx, 0.0, (0.5 - x0_px) * sx - 0.5],
                                        [0.0, sy, (0.5 - y0_px) * sy - 0.5]]))


def pixel_grid(shape: tuple[int, int], stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` float64 coordinate arrays of an (H, W) SEM grid, every ``stride`` pixels."""
    ys, xs = np.mgrid[0 : shape[0] : stride, 0 : shape[1] : stride]
    return xs.astype(np.float64), ys.astype(np.float64)


def fit_affine(x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Least-squares affine ``(2, 3)`` taking points ``(x, y)`` to ``(u, v)`` (1-D arrays)."""
    design = np.column_stack([x, y, np.ones_like(x)])
    coef, *_ = np.linalg.lstsq(design, np.column_stack([u, v]), rcond=None)
    return coef.T


def displacement_sem_px(affine: np.ndarray, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """Length in SEM pixels of EBSD-space displacements ``(du, dv)`` under ``affine``'s inverse."""
    inv = np.linalg.inv(affine[:, :2])
    dx = inv[0, 0] * du + inv[0, 1] * dv
    dy = inv[1, 0] * du + inv[1, 1] * dv
    return np.hypot(dx, dy)


def drift_stats_sem_px(mapping: PixelMapping, shape: tuple[int, int], stride: int = 4) -> dict:
    """How far ``mapping`` departs from its best affine fit, in SEM pixels.

    The drift is the part of the mapping an affine map cannot express: the residual of a
    least-squares affine fit over the (H, W) grid sampled every ``stride`` pixels.

    Returns
    -------
    dict
        ``drift_mean_px``, ``drift_p95_px``, ``drift_max_px`` (float, SEM pixels) and
        ``affine_fit`` ((2, 3) list).
    """
    x, y = pixel_grid(shape, stride)
    u, v = mapping(x, y)
    affine = fit_affine(x.ravel(), y.ravel(), u.ravel(), v.ravel())
    u_fit = affine[0, 0] * x + affine[0, 1] * y + affine[0, 2]
    v_fit = affine[1, 0] * x + affine[1, 1] * y + affine[1, 2]
    length = displacement_sem_px(affine, u - u_fit, v - v_fit)
    return {
        "drift_mean_px": float(length.mean()),
        "drift_p95_px": float(np.percentile(length, 95)),
        "drift_max_px": float(length.max()),
        "affine_fit": affine.tolist(),
    }
