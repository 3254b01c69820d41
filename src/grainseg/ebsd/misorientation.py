"""Disorientation angles between orientations, pairwise and for every neighbour pair of a map.

The misorientation from orientation ``a`` to ``b`` is ``d = b * a^-1`` (orix's convention,
``Orientation.angle_with``). With crystal symmetry acting from the left, the disorientation
angle is ``2 arccos(max_S |scalar(S * d)|)`` over the proper rotations ``S`` of the Laue group
(one-sided reduction is enough for the angle: rotation angles are invariant under conjugation).
The scalar part of ``S * d`` is linear in ``d``, so the maximum is one small matrix product.
For cubic m-3m the maximum has a closed form in the sorted absolute components of ``d`` (the 24
rotations of 432 are the signed permutations that reach max(a, (a+b)/sqrt 2, (a+b+c+d)/2)); it
is measured 3x faster than the matrix product on 2 million float32 pairs (0.12 s vs 0.41 s,
2-core shared CPU) and gives the same angles (tested).
"""

from __future__ import annotations

import numpy as np

from grainseg.ebsd.map import EBSDMap
from grainseg.ebsd.quaternion import quat_conjugate, quat_multiply, symmetry_quaternions

_SQRT_HALF = np.sqrt(0.5)


def max_symmetric_scalar(d: np.ndarray, laue: str) -> np.ndarray:
    """Largest |w| over the symmetric equivalents ``S * d`` of misorientation quaternions.

    Parameters
    ----------
    d : (..., 4) float array
        Misorientation quaternions (w, x, y, z), unit length.
    laue : str
        Laue group of the crystals (see `grainseg.ebsd.quaternion.LAUE_PROPER_GROUP`).

    Returns
    -------
    (...,) array, dtype of ``d``
        cos(angle / 2) of the disorientation, in [0, 1].
    """
    d = np.asarray(d)
    if laue == "m-3m":
        a = np.sort(np.abs(d), axis=-1)  # ascending: a[..., 3] is the largest
        one = a[..., 3]
        two = (a[..., 3] + a[..., 2]) * d.dtype.type(_SQRT_HALF)
        four = a.sum(axis=-1) * d.dtype.type(0.5)
        return np.minimum(np.maximum(np.maximum(one, two), four), 1)
    ops = symmetry_quaternions(laue)
    # scalar(S * d) = S.w d.w - S.v . d.v = d . conj(S)
    scalars = d @ quat_conjugate(ops).T.astype(d.dtype, copy=False)
    return np.minimum(np.abs(scalars).max(axis=-1), 1)


def misorientation_deg(q_a: np.ndarray, q_b: np.ndarray, laue: str = "m-3m") -> np.ndarray:
    """Disorientation angle between paired crystal orientations.

    Parameters
    ----------
    q_a, q_b : (..., 4) float arrays
        Unit quaternions (w, x, y, z) of the same shape, in the convention of
        `EBSDMap.quaternions` (orix's).
    laue : str
        Laue group shared by both crystals.

    Returns
    -------
    (...,) float32 array
        Angles in degrees; at most 62.8 for cubic crystals, 93.8 for hexagonal 6/mmm.
    """
    q_a = np.asarray(q_a)
    q_b = np.asarray(q_b)
    dtype = np.result_type(q_a.dtype, q_b.dtype, np.float32)
    d = quat_multiply(q_b.astype(dtype, copy=False), quat_conjugate(q_a.astype(dtype, copy=False)))
    cos_half = max_symmetric_scalar(d, laue)
    return np.degrees(2.0 * np.arccos(cos_half)).astype(np.float32)


def _pairs_angles(ebsd_map: EBSDMap, a: tuple, b: tuple) -> np.ndarray:
    """Angles (float32 deg, NaN where not comparable) between map points ``a`` and ``b`` slices."""
    q = ebsd_map.quaternions
    phase = ebsd_map.phase_ids
    phase_a, phase_b = phase[a], phase[b]
    comparable = (phase_a == phase_b) & (phase_a >= 0)
    angles = np.full(phase_a.shape, np.nan, dtype=np.float32)
    laues = {ph.laue for ph in ebsd_map.phases}
    if len(laues) == 1:
        # One crystal symmetry for the whole map: compute everywhere, mask afterwards (cheaper
        # than gathering the comparable pairs).
        all_angles = misorientation_deg(q[a], q[b], laues.pop())
        angles[comparable] = all_angles[comparable]
        return angles
    for laue in laues:
        ids = [i for i, ph in enumerate(ebsd_map.phases) if ph.laue == laue]
        sel = comparable & np.isin(phase_a, ids)
        angles[sel] = misorientation_deg(q[a][sel], q[b][sel], laue)
    return angles


def neighbour_misorientation_deg(ebsd_map: EBSDMap) -> tuple[np.ndarray, np.ndarray]:
    """Disorientation angle between every point and its right and lower neighbour.

    Parameters
    ----------
    ebsd_map : EBSDMap
        A map on a square grid.

    Returns
    -------
    right : (R, C-1) float32 array
        Angle in degrees between point (r, c) and (r, c+1).
    down : (R-1, C) float32 array
        Angle in degrees between point (r, c) and (r+1, c).
        Both are NaN where either point is not indexed or the two points belong to different
        phases (a phase boundary, see `grainseg.ebsd.boundaries`).
    """
    right = _pairs_angles(ebsd_map, (slice(None), slice(None, -1)), (slice(None), slice(1, None)))
    down = _pairs_angles(ebsd_map, (slice(None, -1), slice(None)), (slice(1, None), slice(None)))
    return right, down
