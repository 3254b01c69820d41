"""Grain table and grains from boundaries: exact answers on shapes with known geometry."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.draw import disk, ellipse

from grainseg.errors import GrainsegError
from grainseg.grains.measure import grain_table, grains_from_boundaries


def test_rectangle_aspect_ratio_is_exact_and_orientation_follows_major_axis():
    ids = np.zeros((60, 80), np.int32)
    ids[10:20, 10:50] = 1  # 10 rows x 40 cols: major axis along x
    ids[25:55, 60:66] = 2  # 30 rows x 6 cols: major axis along y
    table = grain_table(ids)
    np.testing.assert_allclose(table["aspect_ratio"], [10 / 40, 6 / 30], rtol=1e-12)
    np.testing.assert_allclose(table["orientation_deg"], [0.0, 90.0], atol=1e-9)
    np.testing.assert_array_equal(table["area_px"], [400, 180])
    np.testing.assert_allclose(table["centroid_row_px"], [14.5, 39.5])
    np.testing.assert_allclose(table["centroid_col_px"], [29.5, 62.5])


@pytest.mark.parametrize("radius", [25, 60, 150])
def test_disc_ecd_and_aspect_within_one_percent(radius):
    ids = np.zeros((2 * radius + 10, 2 * radius + 10), np.uint16)
    rr, cc = disk((radius + 5, radius + 5), radius)
    ids[rr, cc] = 9
    table = grain_table(ids, pixel_size_um=0.25)
    assert table["label"].tolist() == [9]
    assert table["ecd_px"][0] == pytest.approx(2 * radius, rel=0.01)
    assert table["ecd_um"][0] == pytest.approx(0.5 * radius, rel=0.01)
    assert table["aspect_ratio"][0] == pytest.approx(1.0, rel=0.01)
    assert table["area_um2"][0] == pytest.approx(table["area_px"][0] * 0.0625)


@pytest.mark.parametrize("angle_deg", [0.0, 30.0, 75.0, -45.0])
def test_rotated_ellipse_aspect_and_orientation(angle_deg):
    ids = np.zeros((300, 300), np.int32)
    # skimage's rotation turns the row semi-axis; with y up the c semi-axis (120 px) then lies
    # at angle_deg counter-clockwise from +x.
    rr, cc = ellipse(150, 150, 40, 120, rotation=np.deg2rad(angle_deg))
    ids[rr, cc] = 1
    table = grain_table(ids)
    assert table["aspect_ratio"][0] == pytest.approx(40 / 120, rel=0.01)
    assert table["ecd_px"][0] == pytest.approx(2 * np.sqrt(40 * 120), rel=0.01)
    assert table["orientation_deg"][0] == pytest.approx(angle_deg, abs=0.5)


def test_one_pixel_grains_lines_and_a_grain_filling_the_image():
    ids = np.zeros((5, 7), np.int32)
    ids[2, 3] = 4
    ids[0, :] = 2  # one-pixel-wide line of 7 pixels, on the border
    table = grain_table(ids)
    np.testing.assert_allclose(table["aspect_ratio"], [1 / 7, 1.0])
    assert table["touches_border"].tolist() == [True, False]
    assert np.all(table["aspect_ratio"] > 0) and np.all(table["aspect_ratio"] <= 1)

    full = grain_table(np.ones((30, 40), np.uint32))
    assert full["area_px"].tolist() == [1200]
    assert full["aspect_ratio"][0] == pytest.approx(0.75)
    assert full["touches_border"].tolist() == [True]


def test_empty_map_and_sparse_huge_labels():
    empty = grain_table(np.zeros((4, 4), np.int32))
    assert all(v.size == 0 for v in empty.values())
    ids = np.zeros((10, 10), np.uint32)
    ids[:5] = 4_000_000_000
    ids[6:] = 17
    table = grain_table(ids)
    assert table["label"].tolist() == [17, 4_000_000_000]
    assert table["area_px"].tolist() == [40, 50]


def test_grains_from_boundaries_uses_four_connectivity():
    boundary = np.zeros((9, 9), bool)
    boundary[4, :] = True
    boundary[:, 4] = True
    ids = grains_from_boundaries(boundary)
    assert ids.dtype == np.uint32
    assert np.unique(ids).tolist() == [0, 1, 2, 3, 4]
    assert np.all(ids[boundary] == 0)
    # A diagonal one-pixel boundary separates under 4-connectivity.
    diag = np.eye(6, dtype=bool)
    assert grains_from_boundaries(diag).max() == 2


def test_bad_inputs_raise_grainseg_error():
    with pytest.raises(GrainsegError, match="pixel size"):
        grain_table(np.ones((3, 3), np.int32), pixel_size_um=0.0)
    with pytest.raises(GrainsegError, match="pixel size"):
        grain_table(np.ones((3, 3), np.int32), pixel_size_um=-1.0)
    with pytest.raises(GrainsegError, match="integer"):
        grain_table(np.ones((3, 3), np.float32))
    with pytest.raises(GrainsegError, match="non-negative"):
        grain_table(-np.ones((3, 3), np.int32))
    with pytest.raises(GrainsegError, match="2-D"):
        grains_from_boundaries(np.zeros((2, 2, 2), bool))
