"""Boundary classes between neighbouring EBSD points, and their raster on the map grid.

Every pair of 4-neighbours (a point and its right or lower neighbour) is one boundary segment of
one step length. Its class:

- ``NOT_INDEXED`` (5): either point is not indexed;
- ``PHASE`` (4): both indexed, different phases;
- otherwise from the disorientation angle ``theta`` (same phase): ``NONE`` (0) below
  ``low_deg``; ``LOW_ANGLE`` (1) for ``low_deg <= theta < high_deg``; ``HIGH_ANGLE`` (2) from
  ``high_deg`` on, or ``TWIN`` (3) when the phase is cubic (m-3m) and the misorientation lies
  within the Brandon criterion of Sigma 3 (60 degrees about <111>): its deviation from the
  Sigma 3 rotation, minimised over both crystals' symmetry, is at most 15 / sqrt(3) = 8.66
  degrees. A twin is therefore always a high-angle boundary (its angle is >= 51.3 degrees).

`boundary_map` rasterises the segments onto the points: a point carries the class of its right
or lower segment (the boundary is drawn on the upper / left side, one point wide), the more
important one when both are boundaries (phase > high-angle > twin > low-angle); not-indexed
points carry ``NOT_INDEXED``.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from grainseg.ebsd.misorientation import neighbour_misorientation_deg
from grainseg.ebsd.quaternion import quat_conjugate, quat_multiply, symmetry_quaternions
from grainseg.errors import GrainsegError
from grainseg.io.ebsd.map import EBSDMap

NONE, LOW_ANGLE, HIGH_ANGLE, TWIN, PHASE, NOT_INDEXED = 0, 1, 2, 3, 4, 5
#: Class names by code, for tables and summaries.
CLASS_NAMES = {
    NONE: "none",
    LOW_ANGLE: "low_angle",
    HIGH_ANGLE: "high_angle",
    TWIN: "twin_s3",
    PHASE: "phase",
    NOT_INDEXED: "not_indexed",
}
#: Brandon tolerance for Sigma 3: 15 degrees / sqrt(3).
BRANDON_S3_DEG = 15.0 / np.sqrt(3.0)
#: Sigma 3 twin misorientation angle (about <111>), degrees.
S3_ANGLE_DEG = 60.0
# Raster priority: higher wins when a point's right and lower segments differ.
_PRIORITY = np.array([0, 1, 3, 2, 4, 0], dtype=np.uint8)  # indexed by class code


@cache
def _s3_equivalents() -> np.ndarray:
    """Conjugated quaternions of the distinct rotations ``S2 * t^-1 * S1`` (S1, S2 in 432).

    The deviation of a misorientation ``d`` from Sigma 3 is the smallest angle of
    ``t^-1 * S1 * d * S2``, equal (by conjugation with S2) to the smallest angle of
    ``(S2 * t^-1 * S1) * d``: one matrix product against this (K, 4) set.
    """
    ops = symmetry_quaternions("m-3m")
    angle = np.radians(S3_ANGLE_DEG)
    t = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * np.ones(3) / np.sqrt(3)])
    left = quat_multiply(quat_conjugate(t)[None, :], ops)  # t^-1 * S1, (24, 4)
    products = quat_multiply(ops[:, None, :], left[None, :, :]).reshape(-1, 4)
    products = np.where(products[:, :1] < 0, -products, products)
    unique = np.unique(np.round(products, 9), axis=0)
    return quat_conjugate(unique)


def s3_deviation_deg(q_a: np.ndarray, q_b: np.ndarray) -> np.ndarray:
    """Angular deviation of cubic misorientations from the Sigma 3 twin relation.

    Parameters
    ----------
    q_a, q_b : (..., 4) float arrays
        Unit quaternions (w, x, y, z) of paired cubic (m-3m) orientations.

    Returns
    -------
    (...,) float32 array
        Smallest rotation angle, degrees, between ``b * a^-1`` and 60 degrees about <111> over
        all symmetric equivalents; 0 for an exact twin.
    """
    q_a = np.asarray(q_a, dtype=np.float64)
    q_b = np.asarray(q_b, dtype=np.float64)
    d = quat_multiply(q_b, quat_conjugate(q_a))
    cos_half = np.minimum(np.abs(d @ _s3_equivalents().T).max(axis=-1), 1.0)
    return np.degrees(2.0 * np.arccos(cos_half)).astype(np.float32)


def _classify(
    ebsd_map: EBSDMap,
    angles: np.ndarray,
    a: tuple,
    b: tuple,
    low_deg: float,
    high_deg: float,
    twin_tolerance_deg: float,
) -> np.ndarray:
    """Class codes (uint8) of the segments between point slices ``a`` and ``b``."""
    phase_a = ebsd_map.phase_ids[a]
    phase_b = ebsd_map.phase_ids[b]
    with np.errstate(invalid="ignore"):  # NaN angles (not comparable) compare False: NONE
        classes = (angles >= low_deg).astype(np.uint8) + (angles >= high_deg)  # 0, 1 or 2
    cubic_ids = [i for i, ph in enumerate(ebsd_map.phases) if ph.laue == "m-3m"]
    if cubic_ids and twin_tolerance_deg > 0:
        # Only angles within the tolerance of 60 degrees can be within it of Sigma 3.
        maybe = np.abs(angles - S3_ANGLE_DEG) <= twin_tolerance_deg
        if len(cubic_ids) < len(ebsd_map.phases):
            maybe &= np.isin(phase_a, cubic_ids)
        rows, cols = np.nonzero(maybe)
        q = ebsd_map.quaternions
        qa = q[a][rows, cols]
        qb = q[b][rows, cols]
        twin = s3_deviation_deg(qa, qb) <= twin_tolerance_deg
        classes[rows[twin], cols[twin]] = TWIN
    indexed_both = (phase_a >= 0) & (phase_b >= 0)
    classes[indexed_both & (phase_a != phase_b)] = PHASE
    classes[~indexed_both] = NOT_INDEXED
    return classes


def boundary_classes(
    ebsd_map: EBSDMap,
    low_deg: float = 2.0,
    high_deg: float = 10.0,
    twin_tolerance_deg: float = BRANDON_S3_DEG,
    misorientation: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class of every segment between 4-neighbours (see the module notes for the rules).

    Parameters
    ----------
    ebsd_map : EBSDMap
    low_deg, high_deg : float
        Lower bounds, degrees, of the low-angle and the high-angle class.
    twin_tolerance_deg : float
        Largest deviation from Sigma 3 still called a twin (Brandon: 8.66); 0 disables twins.
    misorientation : (right, down) arrays, optional
        The result of `neighbour_misorientation_deg` if already computed.

    Returns
    -------
    right : (R, C-1) uint8 array
        Class of the segment between (r, c) and (r, c+1).
    down : (R-1, C) uint8 array
        Class of the segment between (r, c) and (r+1, c).

    Raises
    ------
    GrainsegError
        If the thresholds are not 0 <= low_deg <= high_deg.
    """
    if not 0 <= low_deg <= high_deg:
        raise GrainsegError(
            f"boundary thresholds must satisfy 0 <= low <= high, got low={low_deg}, "
            f"high={high_deg}"
        )
    right, down = misorientation or neighbour_misorientation_deg(ebsd_map)
    horiz = ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))
    vert = ((slice(None, -1), slice(None)), (slice(1, None), slice(None)))
    args = (low_deg, high_deg, twin_tolerance_deg)
    return (
        _classify(ebsd_map, right, *horiz, *args),
        _classify(ebsd_map, down, *vert, *args),
    )


def boundary_map(right: np.ndarray, down: np.ndarray, indexed: np.ndarray) -> np.ndarray:
    """Rasterise segment classes onto the map's points.

    Parameters
    ----------
    right : (R, C-1) uint8, down : (R-1, C) uint8
        Segment classes from `boundary_classes`.
    indexed : (R, C) bool
        The map's indexed mask.

    Returns
    -------
    (R, C) uint8 array
        0 none, 1 low-angle, 2 high-angle, 3 twin, 4 phase on the point above / left of each
        boundary segment, 5 on not-indexed points.
    """
    rows, cols = indexed.shape
    pad_right = np.zeros((rows, cols), dtype=np.uint8)
    pad_down = np.zeros((rows, cols), dtype=np.uint8)
    pad_right[:, :-1] = np.where(right == NOT_INDEXED, NONE, right)
    pad_down[:-1, :] = np.where(down == NOT_INDEXED, NONE, down)
    out = np.where(_PRIORITY[pad_down] > _PRIORITY[pad_right], pad_down, pad_right)
    out[~indexed] = NOT_INDEXED
    return out.astype(np.uint8)


def boundary_lengths_um(
    right: np.ndarray, down: np.ndarray, step_um: float
) -> dict[str, float]:
    """Total segment length of every class.

    Parameters
    ----------
    right, down : uint8 arrays
        Segment classes from `boundary_classes`.
    step_um : float
        Grid step, micrometres (the length of one segment).

    Returns
    -------
    dict of class name -> float
        Length in micrometres of the segments of each class (``CLASS_NAMES``), ``none``
        included.
    """
    counts = np.bincount(right.ravel(), minlength=6) + np.bincount(down.ravel(), minlength=6)
    return {name: float(counts[code] * step_um) for code, name in CLASS_NAMES.items()}


def boundary_lengths_by_phase_um(
    ebsd_map: EBSDMap, right: np.ndarray, down: np.ndarray
) -> dict[str, dict[str, float]]:
    """Segment lengths of every class inside each phase (both points of that phase).

    Parameters
    ----------
    ebsd_map : EBSDMap
    right, down : uint8 arrays
        Segment classes from `boundary_classes`.

    Returns
    -------
    dict of phase name -> dict of class name -> float
        Lengths in micrometres, as `boundary_lengths_um` restricted to segments within the phase,
        plus ``twin_fraction_of_high_angle``: twin length over high-angle + twin length (NaN
        without high-angle boundaries).
    """
    phase = ebsd_map.phase_ids
    out: dict[str, dict[str, float]] = {}
    for index, ph in enumerate(ebsd_map.phases):
        in_right = (phase[:, :-1] == index) & (phase[:, 1:] == index)
        in_down = (phase[:-1, :] == index) & (phase[1:, :] == index)
        lengths = boundary_lengths_um(right[in_right], down[in_down], ebsd_map.step_um)
        high = lengths["high_angle"] + lengths["twin_s3"]
        lengths["twin_fraction_of_high_angle"] = lengths["twin_s3"] / high if high else float("nan")
        out[ph.name] = lengths
    return out
