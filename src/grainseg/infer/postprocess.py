"""Boundary probability -> a closed network of one-pixel-wide boundaries and grain IDs.

Rule (`probability_to_network`):

1. Grain interior: the pixels with probability below ``threshold``. The probability is also
   smoothed (Gaussian, sigma 1 px) for steps 3 and 4; the interior is taken from the raw map so
   that thin predicted lines (1-2 px, which smoothing lowers below the threshold) still cut it.
2. Seeds: the h-maxima (h = ``neck_px``) of the distance from each interior pixel to the nearest
   non-interior pixel. Two grains joined through a gap in their boundary form one interior
   region, but one whose width narrows at the gap: the distance map has one maximum in each
   grain and a saddle at the gap, so each grain gets its own seed. Interior pieces less than
   ``neck_px`` deep give no seed (noise dips inside boundaries). The h-maxima are found on the
   distance map max-pooled over 2 x 2 pixels (4 times fewer pixels for the grey-level
   reconstruction, the slow part: 0.09 s instead of 0.5 s on a 1024 x 884 map, shared 2-core
   CPU), the seeds being the interior pixels of the pooled maxima; a narrowing is seen to
   within about one pixel.
3. A marker-controlled watershed of the smoothed probability (`skimage.segmentation.watershed`,
   4-connectivity) grows the seeds into a partition of the image; where two grains meet across
   a gap, the line follows the probability ridge.
4. Spurious splits are undone: two neighbouring regions merge when the median
   probability along their shared boundary is below ``merge_below`` (a real boundary with a gap
   keeps a high median while the gap is under half its length; a line drawn through a grain
   interior has a low one, even when it ends on the high slopes of the boundaries it joins,
   which would lift a mean). A cut across a neck only a few pixels wider than the boundaries
   is mostly those slopes and stays: such a grain is split in two. The median is taken of
   the larger of the raw and smoothed probability, so that a one-pixel line (which smoothing
   lowers to 0.4) counts at its full height. When the image is given (``grey``), it is
   evidence too: a weak line stays when the mean grey levels of its two regions differ by at
   least ``step_sigma`` times the noise of the image averaged over 5 x 5 px (the median over
   regions of its standard deviation inside each region). With that evidence the default
   ``merge_below`` can be 0.5 instead of 0.15: on the development set of
   `benchmarks/bench_accuracy.py` (real-geometry images at other magnifications and 4 other
   hard specimens; shipped model) the grain ARI went from 0.378 to 0.392 (real geometry) and
   0.544 to 0.568 (hard synthetic), while 0.5 without the image fell to 0.267 and 0.507
   (step_sigma 0.5 chosen there from 0.25 to 2). It costs grain count: 392 -> 368 of 577
   grains found on real geometry, since lines of the network that the image does not support
   are merged, real ones among them.
5. Islands: a region smaller than ``island_px`` pixels that has a single neighbour and does not
   reach the image edge joins that neighbour. On the accuracy benchmark and its development
   set (`benchmarks/bench_accuracy.py`) every one of the 29 islands the shipped network drew
   was an artefact (a ring around a pit or a contamination spot), not a grain: the network does
   not find the small grains that real sections enclose in a single neighbour, so dropping its
   islands costs nothing measured.
6. Tiny spurious grains: a region smaller than ``min_grain_px`` pixels is dropped and its
   pixels flooded again (watershed from the kept regions around it), so they go to the
   neighbours they were least separated from (the flood crosses the lowest probability
   first). A region includes its share of the boundary ridge, so a dip of N pixels inside a
   thick boundary makes a region of about 2N pixels.
7. Boundary pixels are the pixels whose right or lower neighbour lies in another region (this
   separates every pair of regions in 4-connectivity). Pieces of grain under ``min_grain_px``
   that these lines cut off (a pixel or two where a region narrows) join the boundary. The
   boundary is thinned to one-pixel-wide lines:
   `skimage.morphology.thin` (framed by a boundary border so lines ending on the image edge
   stay), then any 2 x 2 square thinning leaves at junctions loses its simple points (pixels
   whose removal joins no two grains and cuts no line, decided by a 3 x 3 lookup table). Grain
   IDs are the 4-connected components of the rest (the definition of
   `grainseg.grains.measure.grains_from_boundaries`), so IDs and boundaries always agree.

A probability map with no pixel below the threshold gives one grain and no boundary.

Images too large for memory go through `network_blockwise`: the same rule in overlapping square
blocks (the halo makes each block see the whole of every grain that reaches its core), the
cores' boundaries stitched, and grain IDs labelled block by block with the labels of grains that
cross block edges merged through a union-find (`grainseg.grains.merge.merge_labels`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from scipy import ndimage
from skimage.morphology import h_maxima, thin
from skimage.segmentation import watershed

from grainseg.grains.measure import label_edges
from grainseg.grains.merge import merge_labels
from grainseg.progress import progress_bar

_FOUR = ndimage.generate_binary_structure(2, 1)


def probability_to_network(
    probability: np.ndarray,
    threshold: float = 0.5,
    min_grain_px: int = 20,
    merge_below: float = 0.5,
    neck_px: float = 2.0,
    island_px: int = 300,
    grey: np.ndarray | None = None,
    step_sigma: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Closed one-pixel-wide boundary network from a boundary probability map.

    Parameters
    ----------
    probability : (H, W) float array
        Boundary probability in [0, 1]; NaN counts as boundary.
    threshold : float
        Pixels whose smoothed probability is below it are grain interior.
    min_grain_px : int
        Grains with fewer pixels are merged into their neighbours (0 keeps all).
    merge_below : float
        Neighbouring grains whose shared boundary has a median probability below this merge
        (unless ``grey`` tells them apart).
    neck_px : float
        Depth in pixels an interior must have, and the narrowing at a gap needed to split it
        (> 0).
    island_px : int
        Regions with fewer pixels, a single neighbour and no pixel on the image edge join that
        neighbour (0 keeps all).
    grey : (H, W) float array, optional
        The image the probability was computed from (any affine grey scale, e.g. the network
        input); with it, weak lines between regions of different grey are kept.
    step_sigma : float
        Grey step, in units of the 5 x 5-averaged noise, that keeps a weak line.

    Returns
    -------
    boundaries : (H, W) bool
        True on the boundary network.
    grain_ids : (H, W) uint32
        1..n for grains (4-connected), 0 on boundaries.
    """
    prob = np.nan_to_num(np.asarray(probability, dtype=np.float32), nan=1.0)
    smooth = ndimage.gaussian_filter(prob, 1.0)
    markers, n_markers = _depth_seeds(prob < threshold, neck_px)
    if n_markers == 0:
        return np.zeros(prob.shape, bool), np.ones(prob.shape, np.uint32)
    regions = _merge_weak_boundaries(watershed(smooth, markers, connectivity=1),
                                     np.maximum(smooth, prob), merge_below, grey, step_sigma)
    if island_px > 0:
        regions = _merge_islands(regions, island_px)
    if min_grain_px > 0:
        area = np.bincount(regions.ravel())
        tiny = area < min_grain_px
        if tiny[area > 0].any() and not tiny[area > 0].all():
            regions = _reflood(smooth, regions, tiny[regions])
    boundaries = label_edges(regions)
    if min_grain_px > 0:
        pieces, _ = ndimage.label(~boundaries, structure=_FOUR)
        boundaries |= (np.bincount(pieces.ravel()) < min_grain_px)[pieces]
    boundaries = thin_network(boundaries)
    grain_ids, _ = ndimage.label(~boundaries, structure=_FOUR, output=np.uint32)
    return boundaries, grain_ids


def _depth_seeds(interior: np.ndarray, neck_px: float) -> tuple[np.ndarray, int]:
    """Seeds: interior pixels of the h-maxima (h = ``neck_px``) of the 2 x 2 max-pooled depth.

    Parameters
    ----------
    interior : (H, W) bool
        Grain interior.
    neck_px : float
        h of the h-maxima, in pixels of depth (> 0).

    Returns
    -------
    markers : (H, W) int32
        0 outside seeds, 1..n on seeds (each 8-connected pooled maximum is one seed).
    n : int
        Number of seeds.
    """
    depth = ndimage.distance_transform_edt(interior)
    height, width = depth.shape
    pad_y, pad_x = height % 2, width % 2
    pooled = np.pad(depth, ((0, pad_y), (0, pad_x))).reshape(
        (height + pad_y) // 2, 2, (width + pad_x) // 2, 2).max(axis=(1, 3))
    labels, n = ndimage.label(h_maxima(pooled, neck_px), structure=np.ones((3, 3)))
    markers = labels.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    return np.where(interior, markers, 0), n


def _reflood(prob: np.ndarray, regions: np.ndarray, lost: np.ndarray) -> np.ndarray:
    """Give the ``lost`` pixels to the neighbouring regions by a watershed of ``prob``.

    Only the lost pixels are flooded, from the one-pixel ring of kept pixels around them: the
    same result as flooding the whole image from all kept pixels (the inner pixels of a marker
    never reach anything first), in a fraction of the time.

    Parameters
    ----------
    prob : (H, W) float32
        Flooding relief.
    regions : (H, W) int array
        Region labels >= 1.
    lost : (H, W) bool
        Pixels whose region is dropped; at least one pixel must be kept.

    Returns
    -------
    (H, W) int array
        ``regions`` with every lost pixel relabelled to a kept region.
    """
    ring = ndimage.binary_dilation(lost, structure=_FOUR) & ~lost
    flooded = watershed(prob, np.where(ring, regions, 0), mask=lost | ring, connectivity=1)
    return np.where(lost, flooded, regions)


def _neighbour_pairs(regions: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The region pairs of every 4-neighbour pixel pair of a label image that straddles two
    regions (horizontal pixel pairs, then vertical).

    Returns ``key``, (P,) int64, the pair as ``low * n + high`` (``n`` > every label), and
    ``differ``, (H*(W-1) + (H-1)*W,) bool, which pixel pairs those are.
    """
    first = np.concatenate([regions[:, :-1].ravel(), regions[:-1, :].ravel()]).astype(np.int64)
    second = np.concatenate([regions[:, 1:].ravel(), regions[1:, :].ravel()]).astype(np.int64)
    differ = first != second
    first, second = first[differ], second[differ]
    return np.minimum(first, second) * n + np.maximum(first, second), differ


def region_grey_levels(grey: np.ndarray, labels: np.ndarray,
                       window_px: int = 5) -> tuple[np.ndarray, float]:
    """Mean grey level of each region and the noise that a grey step between two is judged by.

    Parameters
    ----------
    grey : (H, W) float array
        Image (NaN counts as 0).
    labels : (H, W) int array
        Region labels >= 0; label 0, if present, is left out of the noise (boundary pixels).
    window_px : int
        Side of the averaging window of the noise.

    Returns
    -------
    mean : (labels.max() + 1,) float64
        Mean grey of each label (0 for labels with no pixel).
    noise : float
        The median over regions (labels >= 1 with pixels) of the standard deviation, inside the
        region, of the image averaged over ``window_px`` x ``window_px`` px (5: about the patch
        over which a person compares the two sides of a boundary).
    """
    grey = np.nan_to_num(np.asarray(grey, dtype=np.float64))
    local = ndimage.uniform_filter(grey, window_px).ravel()
    flat, n = labels.ravel(), int(labels.max()) + 1
    # Per-region sums by bincount: one pass, and no NaN for labels with no pixel.
    area = np.bincount(flat, minlength=n)
    size = np.maximum(area, 1)
    mean = np.bincount(flat, grey.ravel(), n) / size
    local_mean = np.bincount(flat, local, n) / size
    local_var = np.bincount(flat, local**2, n) / size - local_mean**2
    present = area > 0
    present[0] = False
    return mean, float(np.median(np.sqrt(np.maximum(local_var[present], 0))))


def _merge_islands(regions: np.ndarray, island_px: int) -> np.ndarray:
    """Merge each region under ``island_px`` pixels enclosed by a single other region into it.

    Parameters
    ----------
    regions : (H, W) int array
        Region labels >= 1, a partition of the image (every pixel labelled).
    island_px : int
        Area in pixels under which an enclosed region is merged.

    Returns
    -------
    (H, W) int array
        Labels (not renumbered).
    """
    n = int(regions.max()) + 1
    key = np.unique(_neighbour_pairs(regions, n)[0])
    low, high = key // n, key % n
    degree = np.bincount(low, minlength=n) + np.bincount(high, minlength=n)
    neighbour = np.zeros(n, np.int64)
    neighbour[low], neighbour[high] = high, low  # right for the regions with one pair
    on_edge = np.zeros(n, bool)
    for side in (regions[0], regions[-1], regions[:, 0], regions[:, -1]):
        on_edge[side] = True
    island = (degree == 1) & ~on_edge & (np.bincount(regions.ravel(), minlength=n) < island_px)
    # Nested islands need no order: a region enclosing an island has two neighbours.
    target = np.arange(n)
    target[island] = neighbour[island]
    return target[regions]


def _merge_weak_boundaries(regions: np.ndarray, prob: np.ndarray, merge_below: float,
                           grey: np.ndarray | None = None, step_sigma: float = 0.5) -> np.ndarray:
    """Merge neighbouring regions whose shared boundary has median ``prob`` below ``merge_below``.

    Every 4-neighbour pixel pair in two regions contributes the larger of its two
    probabilities; the median (not the mean) is used so that a short line cut through a grain
    at a narrowing is not kept by its two ends, which lie on the high slopes of the real
    boundaries it joins. Merges are transitive (connected components of the graph of weak
    boundaries).

    Parameters
    ----------
    regions : (H, W) int array
        Region labels >= 1.
    prob : (H, W) float32
        Boundary probability.
    merge_below : float
        Median probability under which two regions merge.
    grey : (H, W) float array, optional
        Image; two regions whose mean grey differs by ``step_sigma`` x the 5 x 5-averaged
        noise or more do not merge.
    step_sigma : float
        See ``grey``.

    Returns
    -------
    (H, W) int array
        Merged labels, from 1.
    """
    n = int(regions.max()) + 1
    key, differ = _neighbour_pairs(regions, n)
    value = np.concatenate([np.maximum(prob[:, :-1], prob[:, 1:]).ravel(),
                            np.maximum(prob[:-1, :], prob[1:, :]).ravel()])[differ]
    order = np.lexsort((value, key))
    pairs, start, count = np.unique(key[order], return_index=True, return_counts=True)
    value = value[order]
    median = (value[start + (count - 1) // 2] + value[start + count // 2]) / 2
    weak = median < merge_below
    if grey is not None:
        mean, noise = region_grey_levels(grey, regions)
        weak &= np.abs(mean[pairs // n] - mean[pairs % n]) < step_sigma * noise
    weak = pairs[weak]
    return merge_labels(n, weak // n, weak % n)[regions] + 1  # labels from 1: 0 means 'no marker' to the watershed


def thin_network(boundaries: np.ndarray) -> np.ndarray:
    """Thin a boundary mask to one-pixel-wide lines without joining or splitting any grain.

    Parameters
    ----------
    boundaries : (H, W) bool
        Boundary mask; grains are the 4-connected components of the rest.

    Returns
    -------
    (H, W) bool
        The thinned mask: no 2 x 2 square of boundary pixels except where every pixel of it
        is needed to keep the grains apart.
    """
    framed = thin(np.pad(boundaries, 1, constant_values=True))
    simple = _simple_point_table()
    for _ in range(8):  # each round removes at least one pixel of every reducible square
        removed = False
        for parity in ((0, 0), (0, 1), (1, 0), (1, 1)):
            square = framed[1:, 1:] & framed[:-1, 1:] & framed[1:, :-1] & framed[:-1, :-1]
            in_square = np.zeros_like(framed)
            for dy in (0, 1):
                for dx in (0, 1):
                    in_square[dy : dy + square.shape[0], dx : dx + square.shape[1]] |= square
            in_square[[0, -1], :] = in_square[:, [0, -1]] = False  # keep the frame
            candidates = np.zeros_like(framed)
            candidates[parity[0] :: 2, parity[1] :: 2] = in_square[parity[0] :: 2, parity[1] :: 2]
            if not candidates.any():
                continue
            ys, xs = np.nonzero(candidates)
            codes = np.zeros(len(ys), dtype=np.int64)
            for bit, (dy, dx) in enumerate(_RING):
                codes |= framed[ys + dy, xs + dx].astype(np.int64) << bit
            drop = simple[codes]
            framed[ys[drop], xs[drop]] = False
            removed |= bool(drop.any())
        if not removed:
            break
    return framed[1:-1, 1:-1]


#: The 8 neighbours of a pixel, in the bit order of `_simple_point_table`.
_RING = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


@functools.cache
def _simple_point_table() -> np.ndarray:
    """(256,) bool: whether a boundary pixel with this 8-neighbourhood is simple.

    Simple (8-connected boundary, 4-connected grains): its boundary neighbours form exactly one
    8-connected piece and its grain neighbours exactly one 4-connected piece touching it, so
    removing it neither cuts a line nor joins two grains.
    """
    table = np.zeros(256, dtype=bool)
    for code in range(256):
        patch = np.zeros((3, 3), dtype=bool)
        for bit, (dy, dx) in enumerate(_RING):
            patch[1 + dy, 1 + dx] = bool(code >> bit & 1)
        _, n_lines = ndimage.label(patch, structure=np.ones((3, 3)))
        background = ~patch
        background[1, 1] = False
        grains, _ = ndimage.label(background, structure=_FOUR)
        touching = np.unique(grains[[0, 1, 1, 2], [1, 0, 2, 1]])
        table[code] = n_lines == 1 and np.count_nonzero(touching) == 1
    return table


def _blocks(length_px: int, block_px: int) -> list[tuple[int, int]]:
    return [(s, min(s + block_px, length_px)) for s in range(0, length_px, block_px)]


def network_blockwise(
    read_probability: Callable[[int, int, int, int], np.ndarray],
    shape: tuple[int, int],
    write_boundaries: Callable[[int, int, np.ndarray], None],
    read_boundaries: Callable[[int, int, int, int], np.ndarray],
    write_grain_ids: Callable[[int, int, np.ndarray], None],
    read_grain_ids: Callable[[int, int, int, int], np.ndarray],
    threshold: float = 0.5,
    min_grain_px: int = 20,
    merge_below: float = 0.5,
    neck_px: float = 2.0,
    island_px: int = 300,
    block_px: int = 2048,
    halo_px: int = 128,
    progress: bool = False,
    read_grey: Callable[[int, int, int, int], np.ndarray] | None = None,
    step_sigma: float = 0.5,
) -> int:
    """`probability_to_network` in overlapping blocks, with bounded memory.

    Parameters
    ----------
    read_probability : callable ``(y0, y1, x0, x1) -> (y1-y0, x1-x0) float32``
        Reads a window of the probability map.
    shape : (H, W)
        Size of the map in pixels.
    write_boundaries, write_grain_ids : callable ``(y0, x0, block) -> None``
        Store a block (bool, uint32) with its top-left corner at (y0, x0).
    read_boundaries, read_grain_ids : callable ``(y0, y1, x0, x1) -> array``
        Read back a window of what was written.
    threshold, min_grain_px, merge_below, neck_px, island_px
        As in `probability_to_network`.
    block_px, halo_px : int
        Core block side and the margin of context around it, in pixels. Grains wider than the
        halo may be split or merged differently on the two sides of a block edge.
    progress : bool
        Show tqdm bars.
    read_grey : callable ``(y0, y1, x0, x1) -> (y1-y0, x1-x0) float``, optional
        Reads a window of the image, the grey evidence of `probability_to_network` (the noise
        is then estimated per block).
    step_sigma : float
        As in `probability_to_network`.

    Returns
    -------
    int
        Number of grains; IDs 1..n are written, 0 on boundaries.
    """
    height, width = shape
    rows, cols = _blocks(height, block_px), _blocks(width, block_px)
    grid = [(r, c) for r in rows for c in cols]
    for (y0, y1), (x0, x1) in progress_bar(grid, desc="network", show=progress, leave=False):
        hy0, hx0 = max(0, y0 - halo_px), max(0, x0 - halo_px)
        hy1, hx1 = min(height, y1 + halo_px), min(width, x1 + halo_px)
        boundaries, _ = probability_to_network(
            read_probability(hy0, hy1, hx0, hx1), threshold, min_grain_px, merge_below, neck_px,
            island_px, None if read_grey is None else read_grey(hy0, hy1, hx0, hx1), step_sigma,
        )
        write_boundaries(y0, x0, boundaries[y0 - hy0 : y1 - hy0, x0 - hx0 : x1 - hx0])

    # Label each core block with its own label range, then merge across block edges.
    offset = 0
    for (y0, y1), (x0, x1) in progress_bar(grid, desc="labels", show=progress, leave=False):
        labels, n = ndimage.label(
            ~read_boundaries(y0, y1, x0, x1), structure=_FOUR, output=np.uint32
        )
        labels[labels > 0] += np.uint32(offset)
        write_grain_ids(y0, x0, labels)
        offset += n
    pairs = []
    for _, x1 in cols[:-1]:
        pairs.append(read_grain_ids(0, height, x1 - 1, x1 + 1).reshape(-1, 2))
    for _, y1 in rows[:-1]:
        pairs.append(read_grain_ids(y1 - 1, y1 + 1, 0, width).T.reshape(-1, 2))
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.uint32)
    pairs = pairs[(pairs > 0).all(axis=1)]
    component = merge_labels(offset + 1, pairs[:, 0], pairs[:, 1])
    # Renumber so that the boundary label 0 stays 0 and grains are 1..n.
    new_id = np.zeros(offset + 1, dtype=np.uint32)
    kept, inverse = np.unique(component[1:], return_inverse=True)
    new_id[1:] = inverse + 1
    for (y0, y1), (x0, x1) in grid:
        write_grain_ids(y0, x0, new_id[read_grain_ids(y0, y1, x0, x1)])
    return len(kept)
