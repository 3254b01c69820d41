"""Where a segmentation is least sure, so that review time goes where the errors are.

Two signals, both in [0, 1]:

- closeness to the threshold, ``1 - |p - threshold| / band``: the network hesitates between
  boundary and interior;
- flip disagreement: the spread (max - min) of the probabilities predicted for the image and its
  horizontal, vertical and double flips (test-time augmentation), divided by 0.5. A network that
  has learnt a boundary predicts it under any flip; a guess moves.

Every boundary has a thin rim where its probability crosses the threshold and where a flip moves
it by a pixel; those rims are one or two pixels wide, the regions worth a look (a faint boundary,
a gap, a pit, a twin the network half sees) are blobs. `uncertain_regions` therefore smooths the
map (Gaussian, ``sigma_px``) before it cuts regions out of it, which leaves the rims below the
level and keeps the blobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from grainseg.infer.tiling import Predictor, predict_tiled

#: The three flips of the test-time augmentation: axes of a (B, 1, h, w) batch to reverse.
FLIP_AXES = ((3,), (2,), (2, 3))


def threshold_closeness(probability: np.ndarray, threshold: float = 0.5, band: float = 0.25
                        ) -> np.ndarray:
    """``1 - |p - threshold| / band``, clipped to [0, 1]; (H, W) float32."""
    prob = np.asarray(probability, dtype=np.float32)
    return np.clip(1.0 - np.abs(prob - threshold) / band, 0.0, 1.0)


def flipped_predictor(predict: Predictor, axes: tuple[int, ...]) -> Predictor:
    """A predictor that flips each tile batch along ``axes``, predicts, and flips back."""

    def predict_flipped(tiles: np.ndarray) -> np.ndarray:
        return np.flip(np.asarray(predict(np.ascontiguousarray(np.flip(tiles, axes)))), axes)

    return predict_flipped


def flip_spread(network_input: np.ndarray, probability: np.ndarray, predict: Predictor,
                **tiling) -> np.ndarray:
    """Spread (max - min) of the probabilities of the image and its three flips.

    Parameters
    ----------
    network_input : (H, W) float32
        Preprocessed image (`grainseg.preprocess.preprocess_sem`).
    probability : (H, W) float32
        The unflipped prediction (already made by the segmentation).
    predict : callable
        Tile predictor.
    **tiling
        ``tile_px``, ``overlap``, ``batch``, ``multiple`` of `predict_tiled`.

    Returns
    -------
    (H, W) float32 in [0, 1]
    """
    low = np.array(probability, dtype=np.float32)
    high = low.copy()
    for axes in FLIP_AXES:
        flipped = predict_tiled(network_input, flipped_predictor(predict, axes), **tiling)
        np.minimum(low, flipped, out=low)
        np.maximum(high, flipped, out=high)
    return high - low


def uncertainty_map(probability: np.ndarray, spread: np.ndarray | None = None,
                    threshold: float = 0.5) -> np.ndarray:
    """Per-pixel uncertainty in [0, 1]: the larger of threshold closeness and flip spread / 0.5.

    Returns
    -------
    (H, W) float32
    """
    closeness = threshold_closeness(probability, threshold)
    if spread is None:
        return closeness
    return np.maximum(closeness, np.clip(np.asarray(spread, np.float32) / 0.5, 0.0, 1.0))


@dataclass(frozen=True)
class Region:
    """One uncertain region.

    Attributes
    ----------
    box : (row0, row1, col0, col1)
        Bounding box in pixels (end exclusive).
    centre_rc : (row, col)
        Centroid in pixels.
    score : float
        Summed uncertainty inside the region (pixels): the ranking key.
    """

    box: tuple[int, int, int, int]
    centre_rc: tuple[float, float]
    score: float


def uncertain_regions(uncertainty: np.ndarray, level: float = 0.35, sigma_px: float = 4.0,
                      min_px: int = 30) -> list[Region]:
    """Regions of high smoothed uncertainty, most uncertain first.

    Parameters
    ----------
    uncertainty : (H, W) float
        From `uncertainty_map`.
    level : float
        Smoothed uncertainty above which a pixel is in a region.
    sigma_px : float
        Gaussian smoothing in pixels (removes the thin rims along every boundary).
    min_px : int
        Regions with fewer pixels are left out.
    """
    raw = np.asarray(uncertainty, dtype=np.float32)
    regions, n = ndimage.label(ndimage.gaussian_filter(raw, sigma_px) > level)
    if n == 0:
        return []
    index = np.arange(1, n + 1)
    area = np.bincount(regions.ravel(), minlength=n + 1)[1:]
    score = ndimage.sum_labels(raw, regions, index)
    centres = ndimage.center_of_mass(np.ones_like(raw), regions, index)
    boxes = ndimage.find_objects(regions)
    order = np.argsort(-score, kind="stable")
    return [
        Region((boxes[i][0].start, boxes[i][0].stop, boxes[i][1].start, boxes[i][1].stop),
               (float(centres[i][0]), float(centres[i][1])), float(score[i]))
        for i in order if area[i] >= min_px
    ]

