"""Quaternion maths, symmetry groups, misorientation and the Sigma 3 test, checked against orix."""

import numpy as np
import pytest
from orix.quaternion import Orientation, Rotation, symmetry

from grainseg.ebsd.boundaries import s3_deviation_deg
from grainseg.ebsd.misorientation import disorientation_angle_deg, misorientation_deg
from grainseg.ebsd.quaternion import (
    LAUE_PROPER_GROUP,
    quat_conjugate,
    quat_multiply,
    quat_to_euler,
    symmetry_quaternions,
)
from grainseg.errors import GrainsegError

ORIX_GROUPS = {
    "-1": symmetry.Ci, "2/m": symmetry.C2h, "mmm": symmetry.D2h, "4/m": symmetry.C4h,
    "4/mmm": symmetry.D4h, "-3": symmetry.S6, "-3m": symmetry.D3d, "6/m": symmetry.C6h,
    "6/mmm": symmetry.D6h, "m-3": symmetry.Th, "m-3m": symmetry.Oh,
}


def _random_quats(n, seed):
    """(n, 4) uniformly random unit quaternions, seeded (w >= 0)."""
    q = np.random.default_rng(seed).normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return np.where(q[:, :1] < 0, -q, q)


def euler_to_quat(euler_rad):
    """Quaternions (n, 4) of Bunge Euler angles (n, 3), radians, by orix."""
    return Rotation.from_euler(euler_rad).data


def test_quat_to_euler_inverts_orix_from_euler():
    rng = np.random.default_rng(0)
    euler = rng.uniform([0, 0, 0], [2 * np.pi, np.pi, 2 * np.pi], (500, 3))
    np.testing.assert_allclose(quat_to_euler(euler_to_quat(euler)), euler, atol=1e-9)


def test_quat_to_euler_matches_orix_including_degenerate_cases():
    q = _random_quats(300, 1)
    special = euler_to_quat(np.array([[0.3, 0.0, 0.0], [1.2, np.pi, 0.0], [0, 0, 0]]))
    q = np.concatenate([q, special])
    ours = quat_to_euler(q)
    # Same rotation back (Euler angles are not unique at Phi = 0 or pi, the rotation is).
    back = euler_to_quat(ours)
    assert np.allclose(np.abs(np.sum(back * q, axis=1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(ours[:300], Rotation(q[:300]).to_euler(), atol=1e-9)


@pytest.mark.parametrize("laue", list(LAUE_PROPER_GROUP))
def test_symmetry_groups_equal_orix_proper_subgroups(laue):
    ours = symmetry_quaternions(laue)
    theirs = ORIX_GROUPS[laue].proper_subgroup.data
    assert len(ours) == len(theirs)
    # every element of ours equals exactly one of orix's, up to sign
    match = np.isclose(np.abs(ours @ theirs.T), 1.0, atol=1e-9)
    assert (match.sum(axis=1) == 1).all()


def test_unknown_laue_group_is_a_user_error():
    with pytest.raises(GrainsegError, match="unknown Laue group"):
        symmetry_quaternions("m3m")


@pytest.mark.parametrize("laue", ["m-3m", "6/mmm", "m-3", "-3m", "4/mmm", "mmm"])
def test_misorientation_matches_orix_angle_with_on_random_pairs(laue):
    a = _random_quats(3000, 2)
    b = _random_quats(3000, 3)
    sym = ORIX_GROUPS[laue]
    expected = Orientation(a, symmetry=sym).angle_with(Orientation(b, symmetry=sym), degrees=True)
    ours = misorientation_deg(a, b, laue)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    # float32 input (as stored in EBSDMap) stays within 1e-3 degrees
    ours32 = misorientation_deg(a.astype(np.float32), b.astype(np.float32), laue)
    np.testing.assert_allclose(ours32, expected, atol=2e-3)


def test_wrong_composition_order_would_be_tens_of_degrees_off():
    a = _random_quats(2000, 4)
    b = _random_quats(2000, 5)
    right = misorientation_deg(a, b, "m-3m")
    wrong = disorientation_angle_deg(quat_multiply(quat_conjugate(a), b), "m-3m")
    assert np.abs(right - wrong).max() > 20  # the convention matters, and we use orix's


def test_cubic_closed_form_equals_matrix_product():
    d = _random_quats(5000, 4)
    ops = symmetry_quaternions("m-3m")
    generic = np.degrees(2 * np.arccos(np.minimum(np.abs(d @ quat_conjugate(ops).T).max(1), 1)))
    np.testing.assert_allclose(disorientation_angle_deg(d, "m-3m"), generic, atol=1e-4)


@pytest.mark.parametrize("laue", ["m-3m", "6/mmm"])
def test_small_angles_stay_precise_from_float32_maps(laue):
    """Neighbouring points differ by fractions of a degree; float32 storage must not blur it."""
    rng = np.random.default_rng(8)
    a = _random_quats(2000, 9)
    axes = rng.normal(size=(2000, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angle = rng.uniform(0.01, 1.0, 2000)
    rot = np.column_stack([np.cos(np.radians(angle) / 2), np.sin(np.radians(angle) / 2)[:, None]
                           * axes])
    b = quat_multiply(rot, a)
    ours = misorientation_deg(a.astype(np.float32), b.astype(np.float32), laue)
    np.testing.assert_allclose(ours, angle, atol=2e-3)


def test_max_cubic_disorientation_is_62_8_degrees():
    a = _random_quats(20000, 7)
    b = _random_quats(20000, 8)
    assert misorientation_deg(a, b, "m-3m").max() <= 62.81


def _axis_angle(axis, angle_deg):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    half = np.radians(angle_deg) / 2
    return np.concatenate([[np.cos(half)], np.sin(half) * axis])


def _brute_force_s3_deviation(a, b):
    """min over S1, S2 of angle(t^-1 * S1 * (b a^-1) * S2): 576 products, independent path."""
    ops = symmetry_quaternions("m-3m")
    t_inv = quat_conjugate(_axis_angle([1, 1, 1], 60))
    d = quat_multiply(b, quat_conjugate(a))
    left = quat_multiply(ops[:, None, None, :], d[None, None, :, :])  # S1 d
    both = quat_multiply(left, ops[None, :, None, :])  # S1 d S2
    dev = quat_multiply(t_inv, both)
    return np.degrees(2 * np.arccos(np.clip(np.abs(dev[..., 0]), 0, 1))).min(axis=(0, 1))


def test_s3_deviation_zero_for_exact_twins_and_matches_brute_force():
    parent = _random_quats(50, 9)
    twin = quat_multiply(_axis_angle([1, 1, 1], 60), parent)
    assert np.abs(s3_deviation_deg(parent, twin)).max() < 1e-3
    # a symmetric variant of the twin axis, applied on either side, is still a twin
    twin2 = quat_multiply(_axis_angle([-1, 1, 1], 60), parent)
    assert np.abs(s3_deviation_deg(twin2, parent)).max() < 1e-3
    # a twin tilted by 5 degrees deviates by 5 degrees
    tilt = quat_multiply(_axis_angle([1, 0, 0], 5), twin)
    np.testing.assert_allclose(s3_deviation_deg(parent, tilt), 5.0, atol=1e-3)
    a = _random_quats(200, 10)
    b = _random_quats(200, 11)
    np.testing.assert_allclose(s3_deviation_deg(a, b), _brute_force_s3_deviation(a, b), atol=1e-3)
