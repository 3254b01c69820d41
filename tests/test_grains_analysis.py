"""Reading grain maps (mask vs IDs) and comparing to a reference with different heights."""

from __future__ import annotations

import numpy as np
import pytest

from grainseg.errors import GrainsegError
from grainseg.grains.analysis import analyse_grains, compare_to_reference, grain_map_from_array


def test_grain_ids_without_zeros_get_one_pixel_boundaries():
    ids = np.repeat(np.repeat(np.arange(1, 17, dtype=np.uint32).reshape(4, 4), 20, 0), 20, 1)
    grain_map = grain_map_from_array(ids, pixel_size_um=1.0)
    assert "no boundary pixels" in grain_map.kind
    assert grain_map.boundary.sum() == 3 * 80 * 2 - 9  # three lines each way, crossings shared
    analysis = analyse_grains(grain_map, min_diameter_px=0)
    assert analysis.summary["n_grains"] == 16
    assert analysis.summary["width"]["median_width_px"] == 1.0
    # Jeffries counts grains touching an edge as cut: 4 inside + 8 edge / 2 + 4 corners / 4.
    assert analysis.summary["planimetric"]["equivalent_count"] == pytest.approx(9.0)
    # 0-degree lines: 4 rows of grains, 3 crossings per 80 px line.
    assert analysis.summary["intercept"]["by_angle"][0]["mean_intercept_px"] == pytest.approx(80 / 3)


def test_reference_with_a_taller_image_is_compared_over_common_rows():
    mask = np.zeros((100, 120), np.uint8)
    mask[:, 30:33] = 255
    mask[:, 80:83] = 255
    mask[50:53, :] = 255
    reference = np.zeros((130, 120), np.uint8)  # e.g. the truth including the data bar rows
    reference[:, 31] = 255
    reference[:, 81] = 255
    reference[51, :] = 255
    a = grain_map_from_array(mask, 0.1)
    r = grain_map_from_array(reference, 0.1)
    distances, diff = compare_to_reference(analyse_grains(a, 0), analyse_grains(r, 0), a, r)
    assert np.median(diff) == 2.0  # 3-px bands against 1-px lines
    assert distances["width_difference"]["median_px"] == 2.0


def test_units_must_match_for_comparison():
    mask = np.zeros((40, 40), np.uint8)
    mask[20] = 255
    with pytest.raises(GrainsegError, match="pixel-size-um"):
        compare_to_reference(analyse_grains(grain_map_from_array(mask, 0.5)),
                             analyse_grains(grain_map_from_array(mask)))
