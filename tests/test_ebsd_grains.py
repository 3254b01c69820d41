"""Boundary classes, grain reconstruction and the per-grain table."""

from collections import deque

import numpy as np
import pytest

from grainseg.ebsd.boundaries import (
    HIGH_ANGLE,
    LOW_ANGLE,
    NONE,
    NOT_INDEXED,
    PHASE,
    TWIN,
    boundary_classes,
    boundary_lengths_by_phase_um,
    boundary_map,
)
from grainseg.ebsd.grains import grain_properties, mean_orientations, reconstruct_grains
from grainseg.ebsd.misorientation import misorientation_deg, neighbour_misorientation_deg
from grainseg.ebsd.quaternion import quat_multiply, quat_to_euler, symmetry_quaternions
from grainseg.errors import GrainsegError
from grainseg.io.ebsd import read_ebsd
from grainseg.io.ebsd.map import EBSDMap, Phase


def _axis_angle(axis, angle_deg):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    half = np.radians(angle_deg) / 2
    return np.concatenate([[np.cos(half)], np.sin(half) * axis])


def _map(quats, phase_ids=None, phases=None, step=1.0):
    quats = np.asarray(quats, dtype=np.float32)
    if phase_ids is None:
        phase_ids = np.zeros(quats.shape[:2], dtype=np.int16)
    phase_ids = np.asarray(phase_ids, dtype=np.int16)
    return EBSDMap(
        quaternions=quats, phase_ids=phase_ids, indexed=phase_ids >= 0, step_um=step,
        phases=phases or [Phase("Nickel", "m-3m")],
    )


@pytest.fixture(scope="module")
def ni_map(shared_data):
    return read_ebsd(shared_data / "ebsd" / "ni_superalloy.cpr")


# --------------------------------------------------------------------- reference comparison


def _reference_flood_fill(ebsd_map, threshold_deg):
    """Independent slow reference: orix angles + breadth-first flood fill, 4-connectivity."""
    from orix.quaternion import Orientation, symmetry

    q = ebsd_map.quaternions.astype(np.float64)

    def angles(a, b):
        oa = Orientation(a.reshape(-1, 4), symmetry=symmetry.Oh)
        ob = Orientation(b.reshape(-1, 4), symmetry=symmetry.Oh)
        return oa.angle_with(ob, degrees=True).reshape(a.shape[:2])

    right = angles(q[:, :-1], q[:, 1:]) < threshold_deg
    down = angles(q[:-1], q[1:]) < threshold_deg
    rows, cols = ebsd_map.shape
    labels = np.zeros((rows, cols), dtype=np.int64)
    current = 0
    for r0 in range(rows):
        for c0 in range(cols):
            if labels[r0, c0] or not ebsd_map.indexed[r0, c0]:
                continue
            current += 1
            labels[r0, c0] = current
            queue = deque([(r0, c0)])
            while queue:
                r, c = queue.popleft()
                for nr, nc, ok in (
                    (r, c + 1, c + 1 < cols and right[r, c]),
                    (r, c - 1, c > 0 and right[r, c - 1]),
                    (r + 1, c, r + 1 < rows and down[r, c]),
                    (r - 1, c, r > 0 and down[r - 1, c]),
                ):
                    if ok and not labels[nr, nc] and ebsd_map.indexed[nr, nc]:
                        labels[nr, nc] = current
                        queue.append((nr, nc))
    return labels


def test_ni_superalloy_5deg_equals_reference_flood_fill(ni_map):
    ours = reconstruct_grains(ni_map, threshold_deg=5, min_size=0, max_island_points=0)
    assert ours.dtype == np.uint32 and ours.shape == (243, 359)
    reference = _reference_flood_fill(ni_map, 5)
    # both number grains in raster order of their first point: identical arrays = same partition
    np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize("min_size, expected", [(0, 141), (10, 109), (100, 76)])
def test_ni_superalloy_grain_counts_match_defdap(ni_map, min_size, expected):
    """DefDAP's test suite finds 141 / 109 / 76 grains on this file at 5 degrees."""
    grains = reconstruct_grains(ni_map, threshold_deg=5, min_size=min_size)
    assert grains.max() == expected
    sizes = np.bincount(grains.ravel())[1:]
    assert sizes.min() >= min_size
    assert (grains > 0).all()  # dissolved grains went to their neighbours, nothing unassigned


# ------------------------------------------------------------------------------ synthetic


def _two_grain_map(angle_deg, axis=(0, 0, 1), shape=(6, 8)):
    g = _axis_angle([1, 2, 3], 40)
    h = quat_multiply(_axis_angle(axis, angle_deg), g)
    quats = np.empty((*shape, 4))
    quats[:, : shape[1] // 2] = g
    quats[:, shape[1] // 2 :] = h
    return _map(quats)


@pytest.mark.parametrize(
    "angle, expected",
    [(1.0, NONE), (5.0, LOW_ANGLE), (30.0, HIGH_ANGLE), (60.0, TWIN), (55.0, TWIN),
     (50.0, HIGH_ANGLE)],
)
def test_boundary_class_of_a_straight_boundary(angle, expected):
    axis = (1, 1, 1) if angle >= 50 else (0, 0, 1)
    m = _two_grain_map(angle, axis)
    right, down = boundary_classes(m)
    assert (right[:, 3] == expected).all()
    assert (np.delete(right, 3, axis=1) == NONE).all() and (down == NONE).all()


def test_boundary_classes_phase_and_not_indexed():
    q = np.tile(_axis_angle([0, 0, 1], 10), (3, 4, 1))
    phase = np.array([[0, 0, 1, 1], [0, -1, 1, 1], [0, 0, 0, 1]])
    m = _map(q, phase, [Phase("Austenite", "m-3m"), Phase("Ferrite", "m-3m")])
    right, down = boundary_classes(m)
    np.testing.assert_array_equal(right[0], [NONE, PHASE, NONE])
    np.testing.assert_array_equal(right[1], [NOT_INDEXED, NOT_INDEXED, NONE])
    np.testing.assert_array_equal(down[:, 1], [NOT_INDEXED, NOT_INDEXED])
    raster = boundary_map(right, down, m.indexed)
    assert raster[1, 1] == NOT_INDEXED
    assert raster[0, 1] == PHASE  # right segment (0,1)-(0,2) is a phase boundary
    assert raster[2, 2] == PHASE


def test_raster_priority_prefers_high_angle_over_twin():
    right = np.array([[TWIN]], dtype=np.uint8)
    down = np.array([[HIGH_ANGLE, NONE]], dtype=np.uint8)
    raster = boundary_map(right, down, np.ones((2, 2), bool))
    assert raster[0, 0] == HIGH_ANGLE


def test_bad_thresholds_are_user_errors():
    m = _two_grain_map(30)
    with pytest.raises(GrainsegError):
        boundary_classes(m, low_deg=10, high_deg=2)
    with pytest.raises(GrainsegError):
        reconstruct_grains(m, threshold_deg=0)


def test_hexagonal_neighbour_angles_use_hexagonal_symmetry():
    # 60 degrees about c is a symmetry of 6/mmm: no boundary at all; for a cubic phase it is one
    m = _two_grain_map(60, (0, 0, 1))
    m.phases = [Phase("Titanium", "6/mmm")]
    right, _ = neighbour_misorientation_deg(m)
    assert np.nanmax(right) < 1e-2
    assert reconstruct_grains(m, 5).max() == 1


def test_merge_twins_joins_parent_and_twin_band():
    parent = _axis_angle([1, 2, 3], 40)
    twin = quat_multiply(_axis_angle([1, 1, 1], 60), parent)
    q = np.tile(parent, (12, 12, 1))
    q[:, 5:8] = twin  # a band across the whole map splits the parent in two
    m = _map(q)
    assert reconstruct_grains(m, 10).max() == 3
    merged = reconstruct_grains(m, 10, merge_twins=True)
    assert merged.max() == 1
    # a high-angle neighbour is not merged
    q[:, 10:] = _axis_angle([0, 1, 0], 35)
    assert reconstruct_grains(_map(q), 10, merge_twins=True).max() == 2


def test_not_indexed_islands_small_filled_large_kept():
    q = np.tile(_axis_angle([1, 0, 0], 20), (20, 20, 1))
    phase = np.zeros((20, 20), dtype=int)
    phase[3:5, 3:5] = -1  # 4-point island inside the grain
    phase[10:16, 10:16] = -1  # 36-point area
    grains = reconstruct_grains(_map(q, phase), 10, max_island_points=8)
    assert grains.max() == 1
    assert (grains[3:5, 3:5] == 1).all()
    assert (grains[10:16, 10:16] == 0).all()
    assert (reconstruct_grains(_map(q, phase), 10, max_island_points=0)[3:5, 3:5] == 0).all()


def test_min_size_dissolves_into_the_surrounding_grain():
    q = np.tile(_axis_angle([1, 0, 0], 20), (10, 10, 1))
    q[4:6, 4:6] = _axis_angle([0, 1, 0], 45)  # 4-point grain inside
    assert reconstruct_grains(_map(q), 10).max() == 2
    grains = reconstruct_grains(_map(q), 10, min_size=5)
    assert grains.max() == 1 and (grains == 1).all()


def test_mean_orientation_is_symmetry_aware():
    rng = np.random.default_rng(5)
    g = _axis_angle([1, 2, 3], 40)
    ops = symmetry_quaternions("m-3m")
    noise = np.array([_axis_angle(rng.normal(size=3), rng.uniform(0, 1)) for _ in range(50)])
    pts = quat_multiply(noise, g)
    # store each point as a different symmetric equivalent and a random sign
    pts = quat_multiply(ops[rng.integers(0, 24, 50)], pts) * rng.choice([-1, 1], (50, 1))
    m = _map(pts.reshape(5, 10, 4))
    mean, phase = mean_orientations(m, np.ones((5, 10), dtype=np.uint32))
    assert phase.tolist() == [0]
    assert misorientation_deg(mean, g[None], "m-3m")[0] < 0.3
    # the naive average of the stored quaternions is far off
    naive = pts.mean(axis=0) / np.linalg.norm(pts.mean(axis=0))
    assert misorientation_deg(naive[None], g[None], "m-3m")[0] > 5


def test_grain_table_columns_and_units(ni_map):
    grains = reconstruct_grains(ni_map, 5)
    table = grain_properties(ni_map, grains)
    n = int(grains.max())
    assert all(len(v) == n for v in table.values())
    assert table["grain_id"].tolist() == list(range(1, n + 1))
    np.testing.assert_array_equal(table["area_points"], np.bincount(grains.ravel())[1:])
    np.testing.assert_allclose(table["area_um2"], table["area_points"] * 0.12**2)
    np.testing.assert_allclose(table["ecd_um"], np.sqrt(4 * table["area_um2"] / np.pi))
    assert ((table["aspect_ratio"] > 0) & (table["aspect_ratio"] <= 1)).all()
    assert (table["phase"] == "Ni-superalloy").all()
    # the mean orientation of each grain is within a few degrees of its points
    quats, _ = mean_orientations(ni_map, grains)
    euler = np.radians(np.column_stack([table["phi1_deg"], table["Phi_deg"], table["phi2_deg"]]))
    np.testing.assert_allclose(quat_to_euler(quats), euler)
    big = np.argmax(table["area_points"])
    pts = ni_map.quaternions[grains == big + 1]
    spread = misorientation_deg(pts, np.broadcast_to(quats[big], pts.shape), "m-3m")
    assert np.median(spread) < 3


def test_duplex_phase_boundaries_and_austenite_twin_fraction(shared_data):
    m = read_ebsd(shared_data / "ebsd" / "sdss_ferrite_austenite.ang")
    right, down = boundary_classes(m)
    differs_r = m.phase_ids[:, :-1] != m.phase_ids[:, 1:]
    differs_d = m.phase_ids[:-1] != m.phase_ids[1:]
    np.testing.assert_array_equal(right == PHASE, differs_r)
    np.testing.assert_array_equal(down == PHASE, differs_d)
    by_phase = boundary_lengths_by_phase_um(m, right, down)
    aus = by_phase["austenite/austenite"]
    in_aus_r = (m.phase_ids[:, :-1] == 0) & ~differs_r
    in_aus_d = (m.phase_ids[:-1] == 0) & ~differs_d
    n_twin = (right[in_aus_r] == TWIN).sum() + (down[in_aus_d] == TWIN).sum()
    n_high = (right[in_aus_r] == HIGH_ANGLE).sum() + (down[in_aus_d] == HIGH_ANGLE).sum()
    assert aus["twin_s3"] == pytest.approx(n_twin * 1.5)
    assert aus["twin_fraction_of_high_angle"] == pytest.approx(n_twin / (n_twin + n_high))
    # annealed austenite is twin-rich, ferrite (BCC) is not
    assert aus["twin_fraction_of_high_angle"] > 0.5
    assert by_phase["ferrite/ferrite"]["twin_fraction_of_high_angle"] < 0.2
    # grains never cross a phase boundary
    grains = reconstruct_grains(m, 10)
    for g in range(1, grains.max() + 1, 7):
        assert np.unique(m.phase_ids[grains == g]).size == 1
