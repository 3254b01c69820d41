"""Edits of a grain map that keep its boundary network closed: merge, split, draw, erase, delete.

A grain map is a (H, W) uint32 array of grain IDs with 0 on boundary pixels, grains being
4-connected (the convention of `grainseg.infer.postprocess` and `grainseg.grains.measure`). It
is *closed* when (see `network_problems`):

- no two 4-neighbouring pixels carry different non-zero IDs (every pair of grains is parted by
  boundary pixels; an 8-connected line parts 4-connected grains);
- every ID is one 4-connected piece;
- no boundary pixel is dangling: none touches (in its 3 x 3 neighbourhood) exactly one grain
  that is also one of its 4-neighbours, which is the case of a line ending inside a grain.

Every edit changes the boundary mask only, then `settle` derives the grain IDs from it: grains
are the 4-connected pieces of the non-boundary pixels, each keeping the ID most of its pixels had
(a grain cut in two keeps its ID on the larger piece; the other piece gets a new ID), and
dangling boundary pixels near the edit go to the grain around them, in four passes over the
pixel parities so that two neighbouring pixels are never given to two grains at once. So a line
drawn beyond a boundary leaves no stub, and erasing part of the boundary between two grains
removes the rest of it too (they are now one grain).

All functions take the grain map and return a new one; the input is never modified. Paths are
(N, 2) arrays of (row, col) points in pixels (floats allowed), joined by straight 8-connected
lines.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.draw import line as draw_line

from grainseg.errors import GrainsegError

_FOUR = ndimage.generate_binary_structure(2, 1)
_EIGHT = np.ones((3, 3), dtype=bool)


def _check_ids(grain_ids: np.ndarray) -> np.ndarray:
    grain_ids = np.asarray(grain_ids)
    if grain_ids.ndim != 2 or not np.issubdtype(grain_ids.dtype, np.integer):
        raise GrainsegError(f"expected a 2-D integer grain-ID map, got {grain_ids.dtype} "
                            f"of shape {grain_ids.shape}")
    return grain_ids.astype(np.uint32, copy=False)


def _neighbourhood_range(grain_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and smallest non-zero ID in each pixel's 3 x 3 neighbourhood (0 / max+1: none)."""
    big = np.uint32(np.iinfo(np.uint32).max)
    highest = ndimage.maximum_filter(grain_ids, size=3, mode="constant", cval=0)
    lowest = ndimage.minimum_filter(np.where(grain_ids > 0, grain_ids, big), size=3,
                                    mode="constant", cval=big)
    return highest, lowest


def _four_neighbour_has(grain_ids: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Whether any 4-neighbour of each pixel carries ``value`` (an array of IDs, > 0)."""
    padded = np.pad(grain_ids, 1)
    found = np.zeros(grain_ids.shape, dtype=bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        found |= padded[1 + dy : padded.shape[0] - 1 + dy, 1 + dx : padded.shape[1] - 1 + dx] == value
    return found & (value > 0)


def _dangling(grain_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dangling boundary pixels and the one grain around each."""
    highest, lowest = _neighbourhood_range(grain_ids)
    dangling = (grain_ids == 0) & (highest > 0) & (highest == lowest)
    return dangling & _four_neighbour_has(grain_ids, highest), highest


def _remove_dangling(grain_ids: np.ndarray, frozen: np.ndarray) -> np.ndarray:
    """Give dangling boundary pixels to their grain until none is left (in place, returned).

    ``frozen`` (bool, same shape) marks pixels that must not change: the frame of a crop, whose
    neighbours outside the crop are not seen.
    """
    rows, cols = np.indices(grain_ids.shape)
    parity = (rows % 2) * 2 + cols % 2
    while True:
        changed = False
        for phase in range(4):  # pixels of one parity are never 8-neighbours of each other
            dangling, grain = _dangling(grain_ids)
            take = dangling & (parity == phase) & ~frozen
            if take.any():
                grain_ids[take] = grain[take]
                changed = True
        if not changed:
            return grain_ids


def remove_dangling(grain_ids: np.ndarray) -> np.ndarray:
    """A copy of the grain map with every dangling boundary pixel given to its grain.

    Segmentations may hold a few one-pixel stubs; this closes the whole map before review.
    """
    ids = _check_ids(grain_ids)
    return _remove_dangling(ids.copy(), np.zeros(ids.shape, dtype=bool))


def settle(grain_ids: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Grain IDs for an edited boundary mask, keeping the old IDs where the grains are the same.

    Parameters
    ----------
    grain_ids : (H, W) uint32
        The grain map before the edit.
    boundary : (H, W) bool
        The edited boundary mask.

    Returns
    -------
    (H, W) uint32
        Grains = 4-connected pieces of ``~boundary``; each keeps the ID most of its pixels had
        (the largest piece of a split grain keeps it), the others get IDs above the old
        largest; then dangling boundary pixels near the changed grains are removed.
    """
    old = _check_ids(grain_ids)
    pieces, n_pieces = ndimage.label(~boundary, structure=_FOUR)
    new_id = np.zeros(n_pieces + 1, dtype=np.uint32)
    top = int(old.max())
    kept = (pieces > 0) & (old > 0)
    key = pieces[kept].astype(np.int64) * (top + 1) + old[kept]
    pairs, counts = np.unique(key, return_counts=True)
    piece, old_id = pairs // (top + 1), pairs % (top + 1)
    # Majority old ID of each piece: the first pair per piece after sorting by count, descending.
    order = np.lexsort((-counts, piece))
    first = order[np.r_[True, piece[order][1:] != piece[order][:-1]]]
    best_piece, best_old, best_count = piece[first], old_id[first], counts[first]
    # An old ID claimed by several pieces stays with the piece holding most of it.
    order = np.lexsort((-best_count, best_old))
    owner = order[np.r_[True, best_old[order][1:] != best_old[order][:-1]]]
    new_id[best_piece[owner]] = best_old[owner]
    orphans = np.flatnonzero(new_id[1:] == 0) + 1
    new_id[orphans] = np.arange(top + 1, top + 1 + len(orphans), dtype=np.uint32)
    result = new_id[pieces]

    changed = (result != old) | (boundary != (old == 0))
    if not changed.any():
        return result
    ys, xs = np.nonzero(ndimage.binary_dilation(changed, _EIGHT, iterations=2))
    window = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    affected = np.unique(result[changed])
    near = np.isin(result, affected[affected > 0])
    # Dangling lines lie along the changed grains: widen the window to cover their borders.
    ys, xs = np.nonzero(ndimage.binary_dilation(near, _EIGHT) | changed)
    if len(ys):
        window = (slice(min(window[0].start, ys.min()), max(window[0].stop, ys.max() + 1)),
                  slice(min(window[1].start, xs.min()), max(window[1].stop, xs.max() + 1)))
    y0, x0 = max(window[0].start - 1, 0), max(window[1].start - 1, 0)
    y1 = min(window[0].stop + 1, result.shape[0])
    x1 = min(window[1].stop + 1, result.shape[1])
    frozen = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    frozen[0, :] = y0 > 0
    frozen[-1, :] |= y1 < result.shape[0]
    frozen[:, 0] |= x0 > 0
    frozen[:, -1] |= x1 < result.shape[1]
    result[y0:y1, x0:x1] = _remove_dangling(result[y0:y1, x0:x1].copy(), frozen)
    return result


def network_problems(grain_ids: np.ndarray) -> list[str]:
    """What keeps a grain map from being a closed network (empty list: closed).

    Parameters
    ----------
    grain_ids : (H, W) integer array
        0 = boundary.

    Returns
    -------
    list of str
        One line per kind of problem, with its count.
    """
    ids = _check_ids(grain_ids)
    problems = []
    touching = (
        np.count_nonzero((ids[:, 1:] != ids[:, :-1]) & (ids[:, 1:] > 0) & (ids[:, :-1] > 0))
        + np.count_nonzero((ids[1:] != ids[:-1]) & (ids[1:] > 0) & (ids[:-1] > 0))
    )
    if touching:
        problems.append(f"{touching} pixel pairs of two grains touch without a boundary")
    pieces, _ = ndimage.label(ids > 0, structure=_FOUR)
    pairs = np.unique(np.stack([pieces[ids > 0], ids[ids > 0]]), axis=1)
    split = np.count_nonzero(np.bincount(pairs[1]) > 1)
    if split:
        problems.append(f"{split} grain IDs are in more than one 4-connected piece")
    dangling = np.count_nonzero(_dangling(ids)[0])
    if dangling:
        problems.append(f"{dangling} dangling boundary pixels")
    return problems


def rasterise_path(path_rc: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of the 8-connected polyline through ``path_rc`` (clipped to the image).

    Parameters
    ----------
    path_rc : (N, 2) float array
        (row, col) points in pixels; N >= 1.
    shape : (H, W)
    """
    points = np.rint(np.asarray(path_rc, dtype=float)).astype(np.int64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise GrainsegError(f"a path is an (N, 2) array of (row, col) points, got shape "
                            f"{points.shape}")
    mask = np.zeros(shape, dtype=bool)
    if len(points) == 1:
        points = np.repeat(points, 2, axis=0)
    rows, cols = [], []
    for (r0, c0), (r1, c1) in zip(points[:-1], points[1:], strict=True):
        rr, cc = draw_line(r0, c0, r1, c1)
        rows.append(rr)
        cols.append(cc)
    rr, cc = np.concatenate(rows), np.concatenate(cols)
    inside = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
    mask[rr[inside], cc[inside]] = True
    return mask


def grain_at(grain_ids: np.ndarray, point_rc) -> int:
    """ID of the grain under a point; on a boundary pixel, the most frequent grain within 2 px.

    Raises
    ------
    GrainsegError
        If the point is outside the map or no grain lies within 2 px of it.
    """
    ids = _check_ids(grain_ids)
    row, col = (int(round(v)) for v in point_rc)
    if not (0 <= row < ids.shape[0] and 0 <= col < ids.shape[1]):
        raise GrainsegError(f"point ({row}, {col}) is outside the {ids.shape[0]} x "
                            f"{ids.shape[1]} px grain map")
    if ids[row, col]:
        return int(ids[row, col])
    window = ids[max(row - 2, 0) : row + 3, max(col - 2, 0) : col + 3]
    found = window[window > 0]
    if not found.size:
        raise GrainsegError(f"point ({row}, {col}) lies on a boundary with no grain within 2 px")
    values, counts = np.unique(found, return_counts=True)
    return int(values[np.argmax(counts)])


def _require_grain(ids: np.ndarray, grain_id: int) -> np.ndarray:
    mask = ids == grain_id
    if grain_id <= 0 or not mask.any():
        raise GrainsegError(f"no grain with ID {grain_id} in the map")
    return mask


def merge_grains(grain_ids: np.ndarray, grain_a: int, grain_b: int) -> np.ndarray:
    """Merge two touching grains into one (the boundary between them is removed).

    Raises
    ------
    GrainsegError
        If an ID is missing, both are the same, or the grains do not share a boundary.
    """
    ids = _check_ids(grain_ids)
    if grain_a == grain_b:
        raise GrainsegError(f"grain {grain_a} was picked twice: pick two different grains")
    near_a = ndimage.binary_dilation(_require_grain(ids, grain_a), _EIGHT, iterations=2)
    near_b = ndimage.binary_dilation(_require_grain(ids, grain_b), _EIGHT, iterations=2)
    others = (ids > 0) & (ids != grain_a) & (ids != grain_b)
    between = near_a & near_b & (ids == 0) & ~ndimage.binary_dilation(others, _EIGHT)
    if not between.any():
        raise GrainsegError(f"grains {grain_a} and {grain_b} do not touch: merge neighbours only")
    merged = settle(ids, (ids == 0) & ~between)
    if merged[ids == grain_a][0] != merged[ids == grain_b][0]:
        raise GrainsegError(f"grains {grain_a} and {grain_b} are parted by more than a line: "
                            "erase the boundary between them instead")
    return merged


def draw_boundary(grain_ids: np.ndarray, path_rc: np.ndarray) -> np.ndarray:
    """Add a boundary along a drawn path; parts that close no grain are dropped.

    Raises
    ------
    GrainsegError
        If the path divides no grain (it must run from boundary to boundary).
    """
    ids = _check_ids(grain_ids)
    result = settle(ids, (ids == 0) | rasterise_path(path_rc, ids.shape))
    if np.array_equal(result, ids):
        raise GrainsegError("the drawn line divides no grain: draw it from boundary to boundary")
    return result


def split_grain(grain_ids: np.ndarray, path_rc: np.ndarray, grain_id: int | None = None
                ) -> np.ndarray:
    """Cut one grain in two along a line drawn across it; the line outside that grain is ignored.

    Parameters
    ----------
    grain_ids : (H, W) uint32
    path_rc : (N, 2) float
        The cut, from boundary to boundary across the grain.
    grain_id : int, optional
        The grain to cut; default: the grain the line crosses most.

    Raises
    ------
    GrainsegError
        If the line crosses no grain or does not cut it in two.
    """
    ids = _check_ids(grain_ids)
    cut = rasterise_path(path_rc, ids.shape)
    if grain_id is None:
        crossed = ids[cut & (ids > 0)]
        if not crossed.size:
            raise GrainsegError("the line crosses no grain")
        grain_id = int(np.bincount(crossed).argmax())
    inside = _require_grain(ids, grain_id)
    result = settle(ids, (ids == 0) | (cut & inside))
    if len(np.unique(result[inside])) < 3:  # 0 and one grain: not cut in two
        raise GrainsegError(f"the line does not cut grain {grain_id} in two: draw it across the "
                            "grain, from boundary to boundary")
    return result


def erase_boundary(grain_ids: np.ndarray, path_rc: np.ndarray, radius_px: float = 2.0
                   ) -> np.ndarray:
    """Erase the boundary under a brush stroke; grains it no longer parts become one.

    Parameters
    ----------
    grain_ids : (H, W) uint32
    path_rc : (N, 2) float
        The stroke.
    radius_px : float
        Brush radius in pixels (>= 0).

    Raises
    ------
    GrainsegError
        If no boundary lies under the stroke.
    """
    ids = _check_ids(grain_ids)
    if not radius_px >= 0:
        raise GrainsegError(f"brush radius must be >= 0 px, got {radius_px}")
    stroke = rasterise_path(path_rc, ids.shape)
    if radius_px > 0:
        stroke = ndimage.distance_transform_edt(~stroke) <= radius_px
    erased = stroke & (ids == 0)
    if not erased.any():
        raise GrainsegError("no boundary under the stroke")
    return settle(ids, (ids == 0) & ~erased)


def delete_grain(grain_ids: np.ndarray, grain_id: int) -> np.ndarray:
    """Delete a false grain (a pit, a speck): its pixels go to the grain(s) around it.

    Raises
    ------
    GrainsegError
        If the ID is missing or it is the only grain.
    """
    ids = _check_ids(grain_ids)
    inside = _require_grain(ids, grain_id)
    if not ((ids > 0) & ~inside).any():
        raise GrainsegError(f"grain {grain_id} is the only grain: nothing to give its pixels to")
    return settle(ids, (ids == 0) | inside)
