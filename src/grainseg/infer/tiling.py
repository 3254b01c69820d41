"""Whole-image inference by overlapping tiles, blended with a smooth separable window.

Tiles are laid on a product grid: per axis the fewest tiles of at most ``tile`` pixels that
overlap by at least ``overlap_px``, spread evenly and shrunk to the image so that little work is
wasted (a 2048-wide image with 512-pixel tiles and 128 pixels of overlap takes 5 tiles of 512).
Each tile's probability is multiplied by a window that ramps from near 0 at the tile edge to 1
over the overlap (a raised cosine), summed, and divided by the summed windows. Because the grid
is a product and the window separable, the summed weight is an outer product of two 1-D sums
and never needs an image-sized array; predictions are accumulated one row of tiles at a time in
a band buffer of ``tile`` rows, so memory is bounded by the image width, not its area.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from grainseg.progress import progress_bar

#: Largest tile side on a CPU. The overlap's share of the work falls as tiles grow, and a CPU
#: runs a large convolution as fast per FLOP as a small one (the full-width U-Net on 2048 x 1536
#: took 1.20 x its untiled FLOP time with 1024 px tiles and 1.58 x with 512 px ones,
#: BENCHMARKS.md).
CPU_TILE_PX = 1024
#: Largest tile side on a GPU, whose memory decides the batch (see `choose_tiling`).
GPU_TILE_PX = 1024
#: Overlap of neighbouring tiles at the defaults, in pixels: the blend ramp, wide enough that
#: a tile edge leaves no seam (see docs/segment.md for the check against untiled inference).
DEFAULT_OVERLAP_PX = 64
#: Share of the free GPU memory the tile batch may use for activations.
GPU_MEMORY_SHARE = 0.5
#: Most tiles per forward pass chosen automatically on a GPU.
GPU_MAX_BATCH = 16

#: A predictor maps a batch (B, 1, h, w) float32 of network inputs to probabilities of the same
#: shape (float32, in [0, 1]).
Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class AxisTiling:
    """Tiles along one axis.

    Attributes
    ----------
    starts : (n,) int64
        First pixel of each tile, increasing; the last tile ends at the axis length.
    size_px : int
        Tile length in pixels (the same for every tile of this axis).
    """

    starts: np.ndarray
    size_px: int


@dataclass(frozen=True)
class TilePlan:
    """Tiling settings for `predict_tiled`.

    Attributes
    ----------
    tile_px : int
        Largest tile side in pixels.
    overlap : float
        Smallest overlap as a fraction of ``tile_px``.
    batch : int
        Tiles per forward pass.
    """

    tile_px: int
    overlap: float
    batch: int


def choose_tiling(
    device_type: str,
    tile_px: int | None = None,
    overlap: float | None = None,
    batch: int | None = None,
    activation_bytes_per_px: float | None = None,
    free_bytes: int | None = None,
) -> TilePlan:
    """Tile side, overlap and batch for a device; values given are kept, None ones chosen.

    On a CPU: `CPU_TILE_PX` tiles, one per pass (a large tile already keeps every core busy,
    and a batch only adds memory). On a GPU: `GPU_TILE_PX` tiles and as many per pass as fit in
    `GPU_MEMORY_SHARE` of ``free_bytes`` at ``activation_bytes_per_px`` (measured by
    `grainseg.infer.segment.activation_bytes_per_px`), at most `GPU_MAX_BATCH`. The overlap is
    `DEFAULT_OVERLAP_PX` pixels. `axis_tiling` then spreads the tiles evenly over each image
    axis and shrinks them to it, so small images get one tile of their own size.

    Parameters
    ----------
    device_type : str
        ``"cpu"`` or ``"cuda"`` (`torch.device.type`).
    tile_px, overlap, batch
        Settings fixed by the user (None: choose).
    activation_bytes_per_px, free_bytes : float, int or None
        GPU memory per tile pixel of one forward pass, and free GPU memory, in bytes.

    Returns
    -------
    TilePlan
    """
    gpu = device_type == "cuda"
    budget = GPU_MEMORY_SHARE * free_bytes * 1.0 if gpu and free_bytes else None
    per_px = activation_bytes_per_px if gpu and activation_bytes_per_px else None
    if tile_px is None:
        tile_px = GPU_TILE_PX if gpu else CPU_TILE_PX
        # Halve the tile until one fits in the memory budget.
        while budget and per_px and tile_px > 128 and per_px * tile_px**2 > budget:
            tile_px //= 2
    if overlap is None:
        overlap = min(0.5, DEFAULT_OVERLAP_PX / tile_px)
    if batch is None:
        batch = 1
        if budget and per_px:
            batch = int(np.clip(budget / (per_px * tile_px**2), 1, GPU_MAX_BATCH))
    return TilePlan(int(tile_px), float(overlap), int(batch))


def axis_tiling(length_px: int, tile_px: int, overlap_px: int, multiple: int = 1) -> AxisTiling:
    """The fewest tiles of at most ``tile_px`` covering ``length_px`` with the given overlap.

    Parameters
    ----------
    length_px : int
        Axis length in pixels (>= 1).
    tile_px : int
        Largest tile length in pixels.
    overlap_px : int
        Smallest overlap between neighbouring tiles, in pixels (< ``tile_px``).
    multiple : int
        Tile lengths are rounded up to a multiple of this (the network's size multiple) as long
        as that stays within ``tile_px`` and the axis; shorter axes get one tile of their length.

    Returns
    -------
    AxisTiling
    """
    if length_px <= tile_px:
        return AxisTiling(np.zeros(1, dtype=np.int64), int(length_px))
    n = math.ceil((length_px - overlap_px) / (tile_px - overlap_px))
    size = math.ceil((length_px + (n - 1) * overlap_px) / n)
    size = min(tile_px, length_px, math.ceil(size / multiple) * multiple)
    starts = np.round(np.linspace(0, length_px - size, n)).astype(np.int64)
    return AxisTiling(starts, int(size))


def blend_window_1d(size_px: int, ramp_px: int) -> np.ndarray:
    """Raised-cosine window: rises from near 0 to 1 over ``ramp_px`` at both ends.

    Returns
    -------
    (size_px,) float64
        Strictly positive weights, 1 in the middle.
    """
    ramp_px = int(min(ramp_px, size_px // 2))
    window = np.ones(size_px, dtype=np.float64)
    if ramp_px > 0:
        rise = np.sin(0.5 * np.pi * (np.arange(ramp_px) + 0.5) / ramp_px) ** 2
        window[:ramp_px] = rise
        window[size_px - ramp_px :] = rise[::-1]
    return window


def _summed_window(length_px: int, tiling: AxisTiling, window: np.ndarray) -> np.ndarray:
    total = np.zeros(length_px, dtype=np.float64)
    for start in tiling.starts:
        total[start : start + tiling.size_px] += window
    return total


def predict_tiled(
    image: np.ndarray,
    predict: Predictor,
    tile_px: int = 512,
    overlap: float = 0.25,
    batch: int = 8,
    multiple: int = 1,
    out: Callable[[int, np.ndarray], None] | np.ndarray | None = None,
    progress: bool = False,
    rows: tuple[int, int] | None = None,
) -> np.ndarray | None:
    """Blend tile predictions over a whole image, one row of tiles at a time.

    Parameters
    ----------
    image : (H, W) float32 array-like
        Network input (the output of `grainseg.preprocess.preprocess_sem`). Anything that can be
        sliced ``image[y0:y1, x0:x1]`` into a NumPy array works, so a large image can be read
        lazily (see `grainseg.infer.large`).
    predict : callable
        ``(B, 1, h, w) float32 -> (B, 1, h, w) float32`` probabilities.
    tile_px : int
        Largest tile side in pixels.
    overlap : float
        Smallest overlap between neighbouring tiles as a fraction of ``tile_px``, in [0, 0.5].
    batch : int
        Tiles per call of ``predict``.
    multiple : int
        Tile sides are rounded to a multiple of this where the image allows; ``predict`` must
        accept any size (pad inside) for images smaller than a tile.
    out : None, (H, W) float32 array, or callable ``(row0, rows) -> None``
        Where finished rows go: None allocates and returns an array; a callable receives each
        finished band of rows (this keeps memory bounded for huge images).
    progress : bool
        Show a tqdm bar over tiles.
    rows : (row0, row1) or None
        Compute only the tiles that reach rows ``row0:row1`` and give only those rows (to the
        callable ``out``, which this needs): the tiling, and so every value, is that of the
        whole image, so bands computed apart join without a trace.

    Returns
    -------
    (H, W) float32 or None
        Probability in [0, 1] (None when ``out`` is a callable).
    """
    height, width = image.shape
    overlap_px = int(round(overlap * tile_px))
    tiles_y = axis_tiling(height, tile_px, overlap_px, multiple)
    tiles_x = axis_tiling(width, tile_px, overlap_px, multiple)
    th, tw = tiles_y.size_px, tiles_x.size_px
    win_y, win_x = blend_window_1d(th, overlap_px), blend_window_1d(tw, overlap_px)
    weight_y = _summed_window(height, tiles_y, win_y)
    weight_x = _summed_window(width, tiles_x, win_x).astype(np.float32)
    window = np.outer(win_y, win_x).astype(np.float32)

    result = np.empty((height, width), dtype=np.float32) if out is None else out
    if callable(result):
        sink, result = result, None
    else:

        def sink(row0: int, rows: np.ndarray) -> None:
            result[row0 : row0 + rows.shape[0]] = rows

    first_row, last_row = (0, height) if rows is None else rows
    if rows is not None and not callable(sink):
        raise ValueError("rows= needs a callable out")

    def emit(row0: int, acc_rows: np.ndarray) -> None:
        lo, hi = max(row0, first_row), min(row0 + acc_rows.shape[0], last_row)
        if lo >= hi:
            return
        acc_rows = acc_rows[lo - row0 : hi - row0]
        done = acc_rows / weight_y[lo:hi, None].astype(np.float32)
        done /= weight_x[None, :]
        sink(lo, np.clip(done, 0.0, 1.0, out=done))

    needed = [int(y0) for y0 in tiles_y.starts if y0 < last_row and y0 + th > first_row]
    band = np.zeros((th, width), dtype=np.float32)
    band_row0 = needed[0] if needed else 0
    bar = progress_bar(total=len(needed) * len(tiles_x.starts), desc="tiles", unit="tile",
                       show=progress, leave=False)
    for row, y0 in enumerate(needed):
        shift = y0 - band_row0
        if shift:
            emit(band_row0, band[:shift])
            band[: th - shift] = band[shift:]
            band[th - shift :] = 0.0
            band_row0 = y0
        strip = np.ascontiguousarray(image[y0 : y0 + th, :], dtype=np.float32)
        for first in range(0, len(tiles_x.starts), batch):
            xs = tiles_x.starts[first : first + batch]
            tiles = np.stack([strip[:, x0 : x0 + tw] for x0 in xs])[:, None]
            probs = np.asarray(predict(tiles), dtype=np.float32).reshape(len(xs), th, tw)
            for x0, prob in zip(xs, probs, strict=True):
                band[:, x0 : x0 + tw] += prob * window
            bar.update(len(xs))
        if row == len(needed) - 1:
            emit(band_row0, band[: min(height, band_row0 + th) - band_row0])
    bar.close()
    return result
