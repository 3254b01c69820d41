"""Probability -> closed one-pixel-wide network: closure, width, tiny grains, blocks."""

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.segmentation import find_boundaries

from grainseg.grains.measure import grains_from_boundaries
from grainseg.infer.postprocess import network_blockwise, probability_to_network


def voronoi_probability(shape, n_grains, seed=0, noise=0.05, width_px=2.0):
    """Boundary probability of a Voronoi microstructure: high along cell edges, plus noise.

    Returns (probability float32, true cell labels int)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (n_grains, 2)) * np.array(shape)
    # nearest centre per pixel (a k-d tree query: vectorised over pixels)
    pixels = np.indices(shape).reshape(2, -1).T
    owner = cKDTree(centres).query(pixels)[1].reshape(shape) + 1
    gap = ndimage.distance_transform_edt(~find_boundaries(owner, mode="inner"))
    prob = np.exp(-0.5 * (gap / width_px) ** 2) + rng.normal(0, noise, shape)
    return np.clip(prob, 0, 1).astype(np.float32), owner


def assert_closed_thin_network(boundaries, grain_ids):
    assert boundaries.dtype == bool and grain_ids.dtype == np.uint32
    np.testing.assert_array_equal(grain_ids == 0, boundaries)  # every pixel: grain or boundary
    for axis in (0, 1):  # no two different grains touch without a boundary in between
        a = np.moveaxis(grain_ids, axis, 0)
        touching = (a[1:] != a[:-1]) & (a[1:] > 0) & (a[:-1] > 0)
        assert not touching.any()
    block = boundaries[1:, 1:] & boundaries[:-1, 1:] & boundaries[1:, :-1] & boundaries[:-1, :-1]
    assert not block.any()  # one pixel wide: no 2 x 2 square of boundary
    # every grain is one 4-connected piece, numbered 1..n, as grains_from_boundaries numbers
    relabelled = grains_from_boundaries(boundaries)
    assert relabelled.max() == grain_ids.max()
    inside = grain_ids > 0
    pairs = np.unique(np.stack([grain_ids[inside], relabelled[inside]]), axis=1)
    assert pairs.shape[1] == grain_ids.max()


def test_voronoi_network_is_closed_thin_and_finds_the_grains():
    prob, truth = voronoi_probability((256, 320), 30)
    boundaries, grain_ids = probability_to_network(prob, 0.5, min_grain_px=20)
    assert_closed_thin_network(boundaries, grain_ids)
    assert grain_ids.max() == 30
    # each found grain sits inside one true cell
    for label in range(1, 31):
        owners = truth[grain_ids == label]
        assert np.mean(owners == np.bincount(owners).argmax()) > 0.97


def test_tiny_spurious_grains_are_merged():
    prob, _ = voronoi_probability((200, 200), 12, seed=3, noise=0.0, width_px=4.0)
    ridge = np.argwhere(prob > 0.97)
    cy, cx = ridge[len(ridge) // 2]
    prob[cy - 3 : cy + 4, cx - 3 : cx + 4] = 0.1  # a 49-pixel dip inside a thick boundary
    _, kept = probability_to_network(prob, 0.5, min_grain_px=4)
    # the dip is kept as a grain: the dip and the ridge around it up to where the neighbours'
    # floods meet it (about 100 px), far smaller than any true cell (> 1600 px)
    assert kept.max() == 13
    dip_px = np.bincount(kept.ravel())[kept[cy, cx]]
    assert 49 <= dip_px < 150
    _, merged = probability_to_network(prob, 0.5, min_grain_px=150)
    areas = np.bincount(merged.ravel())[1:]
    assert areas.min() >= 150
    assert merged.max() == 12


@pytest.mark.parametrize("value", [0.0, 0.2, 0.9, np.nan])
def test_flat_probability_is_one_grain(value):
    boundaries, grain_ids = probability_to_network(np.full((40, 30), value, np.float32))
    assert not boundaries.any()
    assert np.all(grain_ids == 1)


def test_nan_counts_as_boundary():
    prob = np.zeros((50, 60), np.float32)
    prob[:, 29:31] = np.nan
    boundaries, grain_ids = probability_to_network(prob)
    assert grain_ids.max() == 2
    assert boundaries[:, 29:31].any(axis=1).all()


def test_blockwise_matches_whole_image():
    prob, _ = voronoi_probability((600, 700), 60, seed=5)
    whole_boundaries, whole_ids = probability_to_network(prob, 0.5, 20)
    assert whole_ids.max() == 60  # no cell cut in two at a narrowing, no stray pixel grains
    boundaries = np.zeros(prob.shape, bool)
    grain_ids = np.zeros(prob.shape, np.uint32)

    def writer(target):
        def write(y0, x0, block):
            target[y0 : y0 + block.shape[0], x0 : x0 + block.shape[1]] = block
        return write

    def reader(source):
        return lambda y0, y1, x0, x1: source[y0:y1, x0:x1].copy()

    n = network_blockwise(reader(prob), prob.shape, writer(boundaries), reader(boundaries),
                          writer(grain_ids), reader(grain_ids), 0.5, 20, block_px=200,
                          halo_px=64)
    assert n == grain_ids.max() == whole_ids.max()
    assert_closed_thin_network(boundaries, grain_ids)
    assert np.mean(boundaries == whole_boundaries) > 0.999


def test_gap_in_a_boundary_does_not_merge_the_grains():
    """Two grains whose dividing line has a 6-pixel gap stay two grains."""
    prob = np.full((80, 120), 0.05, np.float32)
    prob[:, 58:62] = 0.95
    prob[37:43, 58:62] = 0.05  # the gap
    boundaries, grain_ids = probability_to_network(prob)
    assert grain_ids.max() == 2
    assert_closed_thin_network(boundaries, grain_ids)
    assert boundaries[37:43, 55:65].any()



def test_one_pixel_lines_cut_the_interior():
    """Predicted lines one pixel wide separate grains (the smoothing must not erase them)."""
    prob = np.full((90, 120), 0.02, np.float32)
    prob[[30, 60], :] = 1.0
    prob[:, [40, 80]] = 1.0
    boundaries, grain_ids = probability_to_network(prob)
    assert grain_ids.max() == 9
    assert_closed_thin_network(boundaries, grain_ids)
    assert np.all(np.bincount(grain_ids.ravel())[1:] > 500)


def ring_probability(radius_px=6):
    """One grain with a ring (a pit's rim) drawn inside it, framed by a boundary."""
    yy, xx = np.mgrid[:100, :100]
    prob = np.full((100, 100), 0.02, np.float32)
    prob[np.abs(np.hypot(yy - 50, xx - 50) - radius_px) < 1.0] = 1.0
    return prob


def test_small_enclosed_rings_join_their_host_grain():
    boundaries, grain_ids = probability_to_network(ring_probability())
    assert grain_ids.max() == 1 and not boundaries.any()
    _, kept = probability_to_network(ring_probability(), island_px=0)
    assert kept.max() == 2  # the rule, not something else, removed the ring


def test_large_enclosed_grains_are_kept():
    _, grain_ids = probability_to_network(ring_probability(radius_px=20))  # ~1200 px inside
    assert grain_ids.max() == 2


def two_grains_with_a_weak_line(step, seed=0):
    """Left and right grains split by a line the network mostly missed (found over 30 of its
    80 px, so its median probability is low), and a grey step of ``step`` x the noise."""
    rng = np.random.default_rng(seed)
    prob = np.full((80, 120), 0.02, np.float32)
    prob[:15, 58:62] = prob[65:, 58:62] = 0.9
    grey = rng.normal(0.5, 0.1, prob.shape)
    noise_5x5 = 0.1 / 5  # white noise averaged over 5 x 5 pixels
    grey[:, 60:] += step * noise_5x5
    return prob, grey


def test_a_weak_line_between_different_greys_is_kept():
    prob, grey = two_grains_with_a_weak_line(step=3.0)
    assert probability_to_network(prob)[1].max() == 1
    boundaries, grain_ids = probability_to_network(prob, grey=grey)
    assert grain_ids.max() == 2
    assert_closed_thin_network(boundaries, grain_ids)


def test_a_weak_line_between_equal_greys_still_merges():
    prob, grey = two_grains_with_a_weak_line(step=0.0)
    assert probability_to_network(prob, grey=grey)[1].max() == 1
