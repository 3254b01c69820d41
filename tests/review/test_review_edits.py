"""Grain-map edits (grainseg.review.edits): each keeps the network closed; no Qt needed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grainseg.errors import GrainsegError
from grainseg.infer.postprocess import probability_to_network
from grainseg.review import edits


def grid_map(rows: int = 3, cols: int = 3, cell_px: int = 20) -> np.ndarray:
    """A rows x cols grid of square grains parted by 1-px lines; IDs 1.. in raster order."""
    height, width = rows * cell_px + rows - 1, cols * cell_px + cols - 1
    ids = np.zeros((height, width), dtype=np.uint32)
    for r in range(rows):
        for c in range(cols):
            y, x = r * (cell_px + 1), c * (cell_px + 1)
            ids[y : y + cell_px, x : x + cell_px] = r * cols + c + 1
    return ids


def voronoi_map(seed: int, size_px: int = 96, n_grains: int = 25) -> np.ndarray:
    """A closed network from a random Voronoi partition, through the segment post-processing."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size_px, (n_grains, 2))
    yy, xx = np.mgrid[:size_px, :size_px]
    distance = np.hypot(yy[..., None] - centres[:, 0], xx[..., None] - centres[:, 1])
    nearest = np.sort(distance, axis=-1)
    probability = np.exp(-((nearest[..., 1] - nearest[..., 0]) ** 2) / 4.0).astype(np.float32)
    _, ids = probability_to_network(probability, min_grain_px=10)
    return edits.remove_dangling(ids)


def test_grid_is_closed_and_problems_are_found():
    ids = grid_map()
    assert edits.network_problems(ids) == []
    touching = ids.copy()
    touching[20, 5] = 1  # grain 1 reaches grain 4 through the line
    assert any("touch" in p for p in edits.network_problems(touching))
    stub = ids.copy()
    stub[5:10, 10] = 0  # a line ending inside grain 1
    assert any("dangling" in p for p in edits.network_problems(stub))
    twice = ids.copy()
    twice[0:5, 0:5] = 5  # ID 5 in two places
    twice[5, 0:6] = 0
    twice[0:5, 5] = 0
    assert any("more than one" in p for p in edits.network_problems(twice))


def test_merge_removes_the_line_between_two_grains_only():
    ids = grid_map()
    merged = edits.merge_grains(ids, 1, 2)
    assert edits.network_problems(merged) == []
    assert merged[5, 5] == merged[5, 30] != 0
    assert len(np.unique(merged[merged > 0])) == 8
    assert (merged[ids == 3] == 3).all()  # other grains keep their IDs
    assert merged[20, 5] == 0  # the line below the merged grains stays
    assert (merged[0:20, 20] > 0).all()  # the line between them is gone


def test_merge_refuses_grains_that_do_not_touch():
    with pytest.raises(GrainsegError, match="do not touch"):
        edits.merge_grains(grid_map(), 1, 9)
    with pytest.raises(GrainsegError, match="twice"):
        edits.merge_grains(grid_map(), 4, 4)
    with pytest.raises(GrainsegError, match="no grain with ID 42"):
        edits.merge_grains(grid_map(), 1, 42)


def test_split_cuts_one_grain_along_the_line_and_ignores_the_overshoot():
    ids = grid_map()
    # A vertical cut through grain 5 (rows 21..40, cols 21..40) that overshoots into 2 and 8.
    split = edits.split_grain(ids, np.array([[12.0, 30.0], [50.0, 30.0]]))
    assert edits.network_problems(split) == []
    assert split[30, 25] != split[30, 35]
    assert {split[30, 25], split[30, 35]} & {5}  # the larger piece keeps the ID
    assert split[30, 30] == 0
    assert (split[ids == 2] == 2).all() and (split[ids == 8] == 8).all()  # no stubs left
    assert len(np.unique(split[split > 0])) == 10


def test_split_that_does_not_cross_is_refused():
    with pytest.raises(GrainsegError, match="does not cut grain 5"):
        edits.split_grain(grid_map(), np.array([[25.0, 30.0], [35.0, 30.0]]))


def test_draw_boundary_closes_a_grain_and_drops_stubs():
    ids = grid_map()
    # An L-shaped path from the top line of grain 5 to its left line: cuts off a corner.
    drawn = edits.draw_boundary(ids, np.array([[18.0, 30.0], [30.0, 30.0], [30.0, 18.0]]))
    assert edits.network_problems(drawn) == []
    assert drawn[25, 25] != drawn[35, 35]
    assert (drawn[2:20, 30] == 2).all()  # the overshoot into grain 2 is no boundary
    with pytest.raises(GrainsegError, match="divides no grain"):
        edits.draw_boundary(ids, np.array([[25.0, 25.0], [30.0, 30.0]]))


def test_erase_a_piece_of_boundary_merges_and_removes_the_rest_of_the_line():
    ids = grid_map()
    erased = edits.erase_boundary(ids, np.array([[10.0, 20.0]]), radius_px=1.5)
    assert edits.network_problems(erased) == []
    assert erased[5, 5] == erased[5, 30]
    assert (erased[0:20, 20] > 0).all()
    with pytest.raises(GrainsegError, match="no boundary under"):
        edits.erase_boundary(ids, np.array([[10.0, 10.0]]), radius_px=1.0)


def test_delete_pit_gives_its_pixels_to_the_grain_around_it():
    ids = grid_map(1, 1, 40)
    yy, xx = np.mgrid[:40, :40]
    ring = np.hypot(yy - 20, xx - 20)
    ids[ring <= 6] = 0
    ids[ring <= 5] = 2  # a pit: a small grain inside grain 1
    assert edits.network_problems(ids) == []
    deleted = edits.delete_grain(ids, 2)
    assert (deleted == 1).all()
    # A pit on the line between two grains: its pixels are shared, the line stays closed.
    two = grid_map(1, 2, 30)
    yy, xx = np.mgrid[: two.shape[0], : two.shape[1]]
    disc = np.hypot(yy - 15, xx - 30)
    two[disc <= 5] = 0
    two[disc <= 4] = 3
    assert edits.network_problems(two) == []
    deleted = edits.delete_grain(two, 3)
    assert edits.network_problems(deleted) == []
    assert set(np.unique(deleted)) == {0, 1, 2}
    assert deleted[15, 26] == 1 and deleted[15, 34] == 2


def test_edits_never_modify_their_input():
    ids = grid_map()
    before = ids.copy()
    edits.merge_grains(ids, 1, 2)
    edits.split_grain(ids, np.array([[12.0, 30.0], [50.0, 30.0]]))
    edits.erase_boundary(ids, np.array([[10.0, 20.0]]))
    edits.delete_grain(ids, 5)
    assert np.array_equal(ids, before)


def test_grain_at_a_boundary_pixel_takes_a_neighbour():
    ids = grid_map()
    assert edits.grain_at(ids, (5.2, 5.7)) == 1
    assert edits.grain_at(ids, (5, 20)) in (1, 2)
    with pytest.raises(GrainsegError, match="outside"):
        edits.grain_at(ids, (-1, 5))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), data=st.data())
def test_every_edit_keeps_a_random_network_closed(seed, data):
    ids = voronoi_map(seed)
    assert edits.network_problems(ids) == []
    grains = np.unique(ids[ids > 0])
    size = ids.shape[0]
    point = st.tuples(st.floats(0, size - 1), st.floats(0, size - 1))
    path = np.array(data.draw(st.lists(point, min_size=2, max_size=4)))
    kind = data.draw(st.sampled_from(["merge", "split", "draw", "erase", "delete"]))
    try:
        if kind == "merge":
            a = edits.grain_at(ids, path[0])
            result = edits.merge_grains(ids, a, int(data.draw(st.sampled_from(list(grains)))))
        elif kind == "split":
            result = edits.split_grain(ids, path)
        elif kind == "draw":
            result = edits.draw_boundary(ids, path)
        elif kind == "erase":
            result = edits.erase_boundary(ids, path, radius_px=data.draw(st.floats(0, 4)))
        else:
            result = edits.delete_grain(ids, int(data.draw(st.sampled_from(list(grains)))))
    except GrainsegError:
        return  # a refused edit is fine; a broken network is not
    assert edits.network_problems(result) == [], kind
