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
from tqdm import tqdm

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

    def emit(row0: int, acc_rows: np.ndarray) -> None:
        rows = acc_rows / weight_y[row0 : row0 + acc_rows.shape[0], None].astype(np.float32)
        rows /= weight_x[None, :]
        sink(row0, np.clip(rows, 0.0, 1.0, out=rows))

    band = np.zeros((th, width), dtype=np.float32)
    band_row0 = 0
    bar = tqdm(total=len(tiles_y.starts) * len(tiles_x.starts), desc="tiles", unit="tile",
               disable=not progress, leave=False)
    for row, y0 in enumerate(tiles_y.starts):
        y0 = int(y0)
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
        if row == len(tiles_y.starts) - 1:
            emit(band_row0, band[: height - band_row0])
    bar.close()
    return result
