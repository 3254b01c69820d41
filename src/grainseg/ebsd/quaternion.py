"""Vectorised unit-quaternion maths in orix's convention.

Quaternions are arrays whose last axis holds (w, x, y, z). Orientations follow orix: the
quaternion of Bunge Euler angles (phi1, Phi, phi2) is ``orix.quaternion.Rotation.from_euler``
of those angles (the passive convention of Rowenhorst et al. 2015, P = +1), crystal symmetry
acts from the left (``S * g`` is the same orientation as ``g``) and the misorientation from
``a`` to ``b`` is ``b * a^-1``. The tests check every function here against orix.

Crystal symmetry is given by the Laue group in Hermann-Mauguin notation; misorientations only
need its proper rotations (the point group with the inversion removed), generated here from the
same axes orix uses (2-fold axes of the dihedral groups along x, 3-fold axes of the cubic
groups along <111>).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from grainseg.errors import GrainsegError

#: Laue groups (Hermann-Mauguin) this package knows, with their proper rotation group.
LAUE_PROPER_GROUP = {
    "-1": "1",
    "2/m": "2",
    "mmm": "222",
    "4/m": "4",
    "4/mmm": "422",
    "-3": "3",
    "-3m": "32",
    "6/m": "6",
    "6/mmm": "622",
    "m-3": "23",
    "m-3m": "432",
}


def _axis_angle(axis: tuple[float, float, float], angle_rad: float) -> np.ndarray:
    """One unit quaternion (4,) float64 for a rotation of ``angle_rad`` about ``axis``."""
    axis_arr = np.asarray(axis, dtype=np.float64)
    axis_arr = axis_arr / np.linalg.norm(axis_arr)
    return np.concatenate([[np.cos(angle_rad / 2)], np.sin(angle_rad / 2) * axis_arr])


_GENERATORS = {
    "1": [],
    "2": [((0, 0, 1), np.pi)],
    "222": [((0, 0, 1), np.pi), ((1, 0, 0), np.pi)],
    "4": [((0, 0, 1), np.pi / 2)],
    "422": [((0, 0, 1), np.pi / 2), ((1, 0, 0), np.pi)],
    "3": [((0, 0, 1), 2 * np.pi / 3)],
    "32": [((0, 0, 1), 2 * np.pi / 3), ((1, 0, 0), np.pi)],
    "6": [((0, 0, 1), np.pi / 3)],
    "622": [((0, 0, 1), np.pi / 3), ((1, 0, 0), np.pi)],
    "23": [((0, 0, 1), np.pi), ((1, 1, 1), 2 * np.pi / 3)],
    "432": [((0, 0, 1), np.pi / 2), ((1, 1, 1), 2 * np.pi / 3)],
}


def quat_multiply(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product ``p * q`` of broadcastable quaternion arrays.

    Parameters
    ----------
    p, q : (..., 4) float arrays
        Quaternions (w, x, y, z); shapes broadcast.

    Returns
    -------
    (..., 4) array
        The product, in the common floating dtype of the inputs.
    """
    p = np.asarray(p)
    q = np.asarray(q)
    pw, px, py, pz = np.moveaxis(p, -1, 0)
    qw, qx, qy, qz = np.moveaxis(q, -1, 0)
    return np.stack(
        [
            pw * qw - px * qx - py * qy - pz * qz,
            pw * qx + px * qw + py * qz - pz * qy,
            pw * qy - px * qz + py * qw + pz * qx,
            pw * qz + px * qy - py * qx + pz * qw,
        ],
        axis=-1,
    )


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse, for unit quaternions) of (..., 4) quaternions."""
    q = np.asarray(q)
    return q * np.array([1, -1, -1, -1], dtype=q.dtype)


def quat_to_euler(q: np.ndarray) -> np.ndarray:
    """Bunge Euler angles of unit quaternions, as ``orix`` ``Rotation.to_euler``.

    Parameters
    ----------
    q : (..., 4) float array
        Unit quaternions (w, x, y, z).

    Returns
    -------
    (..., 3) float64 array
        (phi1, Phi, phi2) in radians, phi1 and phi2 in [0, 2 pi), Phi in [0, pi].
    """
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    q03 = w * w + z * z
    q12 = x * x + y * y
    chi = np.sqrt(q03 * q12)
    big_phi = 2.0 * np.arctan2(np.sqrt(q12), np.sqrt(q03))
    # General case (Rowenhorst et al. 2015, eq. A.14, P = +1) and the two degenerate cases
    # Phi = 0 and Phi = pi, where only phi1 + phi2 (or phi1 - phi2) is defined and phi2 = 0.
    with np.errstate(invalid="ignore", divide="ignore"):
        phi1 = np.arctan2((x * z - w * y) / chi, (-w * x - y * z) / chi)
        phi2 = np.arctan2((w * y + x * z) / chi, (y * z - w * x) / chi)
    small = q12 < 1e-12
    large = q03 < 1e-12
    phi1 = np.where(small, np.arctan2(-2 * w * z, w * w - z * z), phi1)
    phi1 = np.where(large, np.arctan2(2 * x * y, x * x - y * y), phi1)
    phi2 = np.where(small | large, 0.0, phi2)
    big_phi = np.where(small, 0.0, np.where(large, np.pi, big_phi))
    euler = np.stack([phi1, big_phi, phi2], axis=-1)
    euler[..., [0, 2]] = np.mod(euler[..., [0, 2]], 2 * np.pi)
    return euler


@cache
def symmetry_quaternions(laue: str) -> np.ndarray:
    """The proper rotations of a Laue group as unit quaternions.

    Parameters
    ----------
    laue : str
        Laue group in Hermann-Mauguin notation, a key of `LAUE_PROPER_GROUP`.

    Returns
    -------
    (K, 4) float64 array, read-only
        One quaternion per rotation (w >= 0; the identity first): K = 24 for m-3m, 12 for 6/mmm.

    Raises
    ------
    GrainsegError
        For a Laue group this package does not know.
    """
    if laue not in LAUE_PROPER_GROUP:
        raise GrainsegError(
            f"unknown Laue group {laue!r}; expected one of {', '.join(LAUE_PROPER_GROUP)}"
        )
    generators = [_axis_angle(axis, angle) for axis, angle in _GENERATORS[LAUE_PROPER_GROUP[laue]]]
    group = [np.array([1.0, 0.0, 0.0, 0.0])]
    frontier = list(group)
    while frontier:  # closure of the generators: at most 24 elements, a few passes
        new = []
        for element in frontier:
            for gen in generators:
                product = quat_multiply(gen, element)
                product = product if product[0] > 1e-9 or (
                    abs(product[0]) <= 1e-9 and _first_nonzero_positive(product)
                ) else -product
                if not any(np.allclose(product, known, atol=1e-9) for known in group + new):
                    new.append(product)
        group.extend(new)
        frontier = new
    ops = np.array(group)
    ops.setflags(write=False)
    return ops


def _first_nonzero_positive(q: np.ndarray) -> bool:
    """Whether the first component of ``q`` that is not ~0 is positive (sign canonicalisation)."""
    nonzero = q[np.abs(q) > 1e-9]
    return bool(nonzero.size and nonzero[0] > 0)
