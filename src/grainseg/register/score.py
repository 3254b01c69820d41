"""Alignment score: how well EBSD grains explain the SEM grey levels under a mapping.

In orientation-contrast SEM images each grain has nearly one grey level, so when the EBSD map
lies where it should, painting every EBSD segment with the mean SEM grey of the pixels it covers
reproduces the image. The score is the correlation ratio (eta squared): the share of the SEM
grey-level variance explained by the EBSD segments, ``1 - within-segment variance / total
variance``, in [0, 1]. It needs no model of how orientation turns into grey level, works with any
number of phases and compares mappings of any kind (affine, drift, thin plate).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from grainseg.register.mapping import PixelMapping, pixel_grid

#: Below this score a registration is reported as failed or doubtful. Measured (1024 x 768
#: synthetic specimens, benchmarks/results/register.md): right registrations 0.76-0.91, an SEM
#: image registered to another specimen's EBSD map 0.46-0.65.
MIN_SCORE = 0.7
#: Below this share of the overlap the EBSD map could reach (its area over the usable SEM area)
#: a registration is doubtful too: right ones reach 0.95 and more, mismatched files about 0.35.
MIN_COVERAGE = 0.5
#: Below this fraction of the usable SEM area covered by indexed EBSD points there is no overlap
#: worth labelling.
MIN_OVERLAP = 0.2
#: A search needs this many EBSD grains: on 256 x 192 px synthetic pairs of 3-6 grains even the
#: true mapping scored 0.49-0.64, and a 90-degree turned placement 0.80.
MIN_GRAINS = 8
#: Gaussian blur (SEM px) applied to the image before scoring, to take out pixel noise.
SCORE_SIGMA_PX = 1.5


def smooth_valid(image: np.ndarray, valid: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur using only ``valid`` pixels (normalised convolution).

    Parameters
    ----------
    image : (H, W) float array
    valid : (H, W) bool array
    sigma_px : float
        Standard deviation in pixels.

    Returns
    -------
    (H, W) float32
        Blurred image; pixels with no valid neighbourhood are 0.
    """
    weight = valid.astype(np.float32)
    num = ndimage.gaussian_filter(np.where(valid, image, 0).astype(np.float32), sigma_px)
    den = ndimage.gaussian_filter(weight, sigma_px)
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0).astype(np.float32)


def sample_segments(segments: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """EBSD segment under each mapped point (nearest point; 0 outside the map).

    Parameters
    ----------
    segments : (R, C) int array
        Segment (grain) id per EBSD point, 0 = none (not indexed or unassigned).
    u, v : float arrays
        EBSD column and row coordinates.

    Returns
    -------
    int array of the shape of ``u``
    """
    rows, cols = segments.shape
    ci = np.rint(u).astype(np.int64)
    ri = np.rint(v).astype(np.int64)
    inside = (ci >= 0) & (ci < cols) & (ri >= 0) & (ri < rows)
    out = np.zeros(u.shape, dtype=np.int64)
    out[inside] = segments[ri[inside], ci[inside]]
    return out


def correlation_ratio(values: np.ndarray, groups: np.ndarray) -> float:
    """Share of the variance of ``values`` explained by the group means (eta squared).

    Parameters
    ----------
    values : (n,) float array
    groups : (n,) non-negative int array
        Group label per value.

    Returns
    -------
    float
        Adjusted for the number of groups ``k`` among ``n`` values:
        ``1 - (1 - eta2) (n - 1) / (n - k)``, clipped to [0, 1]; 0 when there are no more values
        than groups or no variance.
    """
    if values.size < 2:
        return 0.0
    values = values.astype(np.float64)
    total = np.sum((values - values.mean()) ** 2)
    if total <= 0:
        return 0.0
    counts = np.bincount(groups)
    sums = np.bincount(groups, weights=values)
    used = counts > 0
    between = np.sum(sums[used] ** 2 / counts[used]) - values.sum() ** 2 / values.size
    n_groups = int(used.sum())
    if values.size <= n_groups:
        return 0.0
    # Adjusted for the number of groups (as adjusted R squared): a small overlap cut into many
    # segments would otherwise look well explained by chance.
    eta2 = between / total
    adjusted = 1.0 - (1.0 - eta2) * (values.size - 1) / (values.size - n_groups)
    return float(np.clip(adjusted, 0.0, 1.0))


def _eta2_and_overlap(sem, valid, segments, mapping, stride, offset=(0.0, 0.0)):
    x, y = pixel_grid(sem.shape, stride)
    keep = valid[::stride, ::stride]
    u, v = mapping(x[keep], y[keep])
    seg = sample_segments(segments, u + offset[0], v + offset[1])
    on = seg > 0
    overlap = float(on.mean()) if on.size else 0.0
    return correlation_ratio(sem[::stride, ::stride][keep][on], seg[on]), overlap


def alignment_score(
    sem: np.ndarray,
    valid: np.ndarray,
    segments: np.ndarray,
    mapping: PixelMapping,
    stride: int = 2,
) -> tuple[float, float]:
    """Score a mapping: chance-corrected correlation ratio of SEM grey by EBSD segment.

    Neighbouring SEM pixels are not independent (a grain is one grey level), so even a wrong
    mapping explains a good part of the variance when segments are about as large as grains.
    The chance level is measured on the same geometry: the median correlation ratio with the
    mapping displaced by 1.5 mean segment diameters in eight directions. The score is
    ``(eta2 - chance) / (1 - chance)``: 1 = perfect, 0 = no better than a displaced map.

    Parameters
    ----------
    sem : (H, W) float array
        Smoothed SEM image (`smooth_valid` of the preprocessed image, `SCORE_SIGMA_PX`).
    valid : (H, W) bool array
        SEM pixels that may be used (above the data bar).
    segments : (R, C) int array
        EBSD segment ids, 0 = none.
    mapping : PixelMapping
        SEM pixel -> EBSD point.
    stride : int
        Score every ``stride``-th pixel along each axis.

    Returns
    -------
    score : float
        Chance-corrected correlation ratio in [0, 1] over the overlap.
    overlap : float
        Fraction of the valid SEM pixels that fall on an EBSD segment.
    """
    eta2, overlap = _eta2_and_overlap(sem, valid, segments, mapping, stride)
    if overlap == 0.0:
        return 0.0, 0.0
    distance = 1.5 * mean_segment_diameter_points(segments)
    angles = np.arange(8) * np.pi / 4
    chance = np.median(
        [
            _eta2_and_overlap(
                sem, valid, segments, mapping, stride, (distance * np.cos(a), distance * np.sin(a))
            )[0]
            for a in angles
        ]
    )
    if chance >= 1.0:
        return 0.0, overlap
    return float(np.clip((eta2 - chance) / (1.0 - chance), 0.0, 1.0)), overlap


def mean_segment_diameter_points(segments: np.ndarray) -> float:
    """Area-weighted mean equivalent-circle diameter of the EBSD segments, in EBSD points.

    Weighted by area so that single mis-indexed points (segments of their own) do not make the
    microstructure look finer than it is.
    """
    counts = np.bincount(segments.ravel())[1:].astype(np.float64)
    if counts.sum() == 0:
        return 0.0
    return float(np.sqrt(4.0 * np.sum(counts**2) / counts.sum() / np.pi))
