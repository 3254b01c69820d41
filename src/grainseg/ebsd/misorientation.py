"""Disorientation angles between orientations, pairwise and for every neighbour pair of a map.

The misorientation from orientation ``a`` to ``b`` is ``d = b * a^-1`` (orix's convention,
``Orientation.angle_with``). With crystal symmetry acting from the left, the disorientation
angle is ``2 arccos(max_S |scalar(S * d)|)`` over the proper rotations ``S`` of the Laue group
(one-sided reduction is enough for the angle: rotation angles are invariant under conjugation).
The scalar part of ``S * d`` is linear in ``d``, so the maximum is one small matrix product.
For cubic m-3m the maximum has a closed form in the sorted absolute components of ``d`` (the 24
rotations of 432 are the signed permutations that reach max(a, (a+b)/sqrt 2, (a+b+c+d)/2)),
evaluated on separate component planes with a four-element sorting network: measured about
3x faster than the matrix product (and than ``np.sort``) on a 1000 x 1000 map, same angles
(tested against orix).
"""

from __future__ import annotations

import numpy as np

from grainseg.ebsd.quaternion import quat_conjugate, quat_multiply, symmetry_quaternions
from grainseg.io.ebsd.map import EBSDMap


def _planes(q: np.ndarray, dtype) -> tuple[np.ndarray, ...]:
    """The four component planes (w, x, y, z) of a (..., 4) quaternion array, as ``dtype``."""
    return tuple(np.ascontiguousarray(np.moveaxis(np.asarray(q), -1, 0), dtype=dtype))


def _misorientation_planes(a: tuple, b: tuple) -> tuple[np.ndarray, ...]:
    """Planes of ``b * conj(a)`` from the planes of ``a`` and ``b``."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return (
        bw * aw + bx * ax + by * ay + bz * az,
        -bw * ax + bx * aw - by * az + bz * ay,
        -bw * ay + bx * az + by * aw - bz * ax,
        -bw * az - bx * ay + by * ax + bz * aw,
    )


def _cubic_angle_deg(d: tuple) -> np.ndarray:
    """m-3m disorientation angle (degrees, float32) from the planes of a misorientation.

    The 24 rotations of 432 are the signed permutations reaching the three candidate scalars
    a, (a + b) / sqrt 2, (a + b + c + d) / 2 of the sorted absolute components a >= b >= c >= d.
    The angle is taken from the sine of the best candidate, written as sums of squares of small
    numbers (stable in float32 down to 1e-5 degrees, where the cosine would lose 0.05 degrees).
    """
    v0, v1, v2, v3 = (np.abs(c) for c in d)
    # sorting network for four planes (ascending s0 <= s1 <= s2 <= s3)
    lo01, hi01 = np.minimum(v0, v1), np.maximum(v0, v1)
    lo23, hi23 = np.minimum(v2, v3), np.maximum(v2, v3)
    s0, s3 = np.minimum(lo01, lo23), np.maximum(hi01, hi23)
    m1, m2 = np.minimum(hi01, hi23), np.maximum(lo01, lo23)
    s1, s2 = np.minimum(m1, m2), np.maximum(m1, m2)
    small = s0 * s0 + s1 * s1
    sin2_one = small + s2 * s2  # 1 - s3^2
    sin2_two = small + 0.5 * (s3 - s2) ** 2  # 1 - ((s3 + s2) / sqrt 2)^2
    sin2_four = 0.25 * (  # 1 - ((s0 + s1 + s2 + s3) / 2)^2
        (s3 - s2) ** 2 + (s3 - s1) ** 2 + (s3 - s0) ** 2 + (s2 - s1) ** 2 + (s2 - s0) ** 2
        + (s1 - s0) ** 2
    )
    sin2 = np.minimum(np.minimum(sin2_one, sin2_two), sin2_four)
    return np.degrees(2.0 * np.arcsin(np.minimum(np.sqrt(sin2), 1))).astype(np.float32)


def disorientation_angle_deg(d: np.ndarray, laue: str) -> np.ndarray:
    """Disorientation angle of misorientation quaternions under a Laue group.

    Parameters
    ----------
    d : (..., 4) float array
        Misorientation quaternions (w, x, y, z), unit length (``b * a^-1``).
    laue : str
        Laue group of the crystals (see `grainseg.ebsd.quaternion.LAUE_PROPER_GROUP`).

    Returns
    -------
    (...,) float32 array
        Smallest rotation angle, degrees, over the symmetric equivalents ``S * d``.
    """
    d = np.asarray(d)
    if laue == "m-3m":
        return _cubic_angle_deg(_planes(d, np.result_type(d.dtype, np.float32)))
    ops = symmetry_quaternions(laue)
    d = d.astype(np.float64)
    # scalar(S * d) = S.w d.w - S.v . d.v = d . conj(S): one matrix product finds the best S
    best = np.abs(d @ quat_conjugate(ops).T).argmax(axis=-1)
    equivalent = quat_multiply(ops[best], d)
    # atan2 of |vector| and |scalar| is exact for small angles and for inputs that are unit
    # quaternions only to float32 precision, where arccos(scalar) would be off by 0.05 degrees
    half = np.arctan2(np.linalg.norm(equivalent[..., 1:], axis=-1), np.abs(equivalent[..., 0]))
    return np.degrees(2.0 * half).astype(np.float32)


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
    # float32 suffices for the cubic closed form (sine-based); the cosine of the generic path
    # needs float64 to resolve sub-degree angles
    dtype = np.float32 if laue == "m-3m" else np.float64
    d = _misorientation_planes(_planes(q_a, dtype), _planes(q_b, dtype))
    if laue == "m-3m":
        return _cubic_angle_deg(d)
    return disorientation_angle_deg(np.stack(d, axis=-1), laue)


def _pairs_angles(ebsd_map: EBSDMap, planes: tuple, a: tuple, b: tuple) -> np.ndarray:
    """Angles (float32 deg, NaN where not comparable) between map points ``a`` and ``b`` slices.

    ``planes`` are the map's quaternion component planes (`_planes`).
    """
    phase = ebsd_map.phase_ids
    phase_a, phase_b = phase[a], phase[b]
    comparable = (phase_a == phase_b) & (phase_a >= 0)
    laues = {ph.laue for ph in ebsd_map.phases}
    if len(laues) == 1:
        # One crystal symmetry for the whole map: compute everywhere, mask afterwards (cheaper
        # than gathering the comparable pairs).
        d = _misorientation_planes(tuple(p[a] for p in planes), tuple(p[b] for p in planes))
        laue = laues.pop()
        all_angles = (
            _cubic_angle_deg(d) if laue == "m-3m"
            else disorientation_angle_deg(np.stack(d, axis=-1), laue)
        )
        return np.where(comparable, all_angles, np.float32(np.nan))
    angles = np.full(phase_a.shape, np.nan, dtype=np.float32)
    q = ebsd_map.quaternions
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
    cubic = all(ph.laue == "m-3m" for ph in ebsd_map.phases)
    planes = _planes(ebsd_map.quaternions, np.float32 if cubic else np.float64)
    right = _pairs_angles(
        ebsd_map, planes, (slice(None), slice(None, -1)), (slice(None), slice(1, None))
    )
    down = _pairs_angles(
        ebsd_map, planes, (slice(None, -1), slice(None)), (slice(1, None), slice(None))
    )
    return right, down
