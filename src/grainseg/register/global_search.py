"""Global search: the flip or turn, rotation, scale and translation of the EBSD map on the SEM image.

Method (coarse, on a pyramid level where grains are still several pixels across): for each of the
eight flips/quarter turns between instruments and a few small rotations, the EBSD segment
boundaries are drawn on the SEM grid at the nominal scale, and the translation is the peak of the
masked normalised cross-correlation (Padfield's method, scikit-image) between that drawing and the
SEM edge strength. Every candidate is then scored with the same alignment score (correlation ratio
of SEM grey by EBSD segment) and the best one wins. Edges find the translation in one FFT even
when the two modalities disagree on grey levels; the correlation ratio decides between candidates
because it measures exactly what a label needs (grains where the image has grains).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from grainseg.register.mapping import AffineDriftMapping, nominal_mapping
from grainseg.register.score import alignment_score, mean_segment_diameter_points, smooth_valid

#: The dihedral group D4 as 2x2 matrices acting on (u, v): identity, quarter turns and flips.
D4 = np.array(
    [
        [[1, 0], [0, 1]],
        [[0, -1], [1, 0]],
        [[-1, 0], [0, -1]],
        [[0, 1], [-1, 0]],
        [[-1, 0], [0, 1]],
        [[1, 0], [0, -1]],
        [[0, 1], [1, 0]],
        [[0, -1], [-1, 0]],
    ],
    dtype=np.float64,
)
D4_NAMES = (
    "identity",
    "rotate 90",
    "rotate 180",
    "rotate 270",
    "flip left-right",
    "flip up-down",
    "transpose",
    "anti-transpose",
)


def segment_boundaries(segments: np.ndarray) -> np.ndarray:
    """EBSD points with a right or lower neighbour in another segment (both assigned).

    Parameters
    ----------
    segments : (R, C) int array, 0 = none

    Returns
    -------
    (R, C) bool
    """
    out = np.zeros(segments.shape, dtype=bool)
    right = (segments[:, 1:] != segments[:, :-1]) & (segments[:, 1:] > 0) & (segments[:, :-1] > 0)
    down = (segments[1:] != segments[:-1]) & (segments[1:] > 0) & (segments[:-1] > 0)
    out[:, :-1] |= right
    out[:, 1:] |= right
    out[:-1] |= down
    out[1:] |= down
    return out


def possible_overlap(valid: np.ndarray, segments: np.ndarray, sem_px_per_point: float) -> float:
    """Largest overlap fraction the EBSD map could reach: its area over the usable SEM area."""
    ebsd_area_px = np.count_nonzero(segments) * sem_px_per_point**2
    return min(1.0, ebsd_area_px / max(1, np.count_nonzero(valid)))


def coarse_factor(shape: tuple[int, int], grain_diameter_px: float, target_px: int = 256) -> int:
    """Pyramid factor for the search: about ``target_px`` on the long side, grains >= 6 px."""
    by_size = max(shape) / target_px
    by_grain = grain_diameter_px / 6.0
    return int(max(1, np.floor(min(by_size, by_grain))))


def _pad(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Zero-pad ``image`` at the bottom and right to ``shape``."""
    return np.pad(image, [(0, shape[0] - image.shape[0]), (0, shape[1] - image.shape[1])])


def _candidate(
    sem_edges: np.ndarray,
    sem_mask: np.ndarray,
    edges_e: np.ndarray,
    valid_e: np.ndarray,
    linear: np.ndarray,
    factor: int,
    overlap_ratio: float,
) -> np.ndarray:
    """Translation for one linear part: returns the (2, 3) affine SEM px -> EBSD points."""
    rows, cols = edges_e.shape
    inverse = np.linalg.inv(linear)
    corners = np.array(
        [[-0.5, -0.5], [cols - 0.5, -0.5], [-0.5, rows - 0.5], [cols - 0.5, rows - 0.5]]
    )
    xy = corners @ inverse.T
    x_min, y_min = xy.min(axis=0)
    x_max, y_max = xy.max(axis=0)
    n_x = int(np.ceil((x_max - x_min) / factor)) + 1
    n_y = int(np.ceil((y_max - y_min) / factor)) + 1
    jj, ii = np.meshgrid(np.arange(n_x), np.arange(n_y))
    cx = x_min + jj * factor
    cy = y_min + ii * factor
    u = linear[0, 0] * cx + linear[0, 1] * cy
    v = linear[1, 0] * cx + linear[1, 1] * cy
    moving = ndimage.map_coordinates(edges_e, [v, u], order=1, cval=0.0)
    moving_mask = ndimage.map_coordinates(valid_e, [v, u], order=1, cval=0.0) > 0.5
    # The masked correlation is reliable only for equal shapes: pad both, top-left aligned.
    shape = (max(sem_edges.shape[0], n_y), max(sem_edges.shape[1], n_x))
    shift = phase_cross_correlation(
        _pad(sem_edges, shape),
        _pad(moving, shape),
        reference_mask=_pad(sem_mask, shape),
        moving_mask=_pad(moving_mask, shape),
        overlap_ratio=overlap_ratio,
    )[0]
    # Canvas pixel (i, j) lands on SEM coarse pixel (i + shift_r, j + shift_c).
    origin = np.array([x_min - shift[1] * factor, y_min - shift[0] * factor])
    affine = np.zeros((2, 3))
    affine[:, :2] = linear
    affine[:, 2] = linear @ origin
    return affine


def search_global(
    sem: np.ndarray,
    valid: np.ndarray,
    segments: np.ndarray,
    sem_px_per_point: float,
    angles_deg: tuple[float, ...] = (-4.0, 0.0, 4.0),
    flips: bool = True,
    overlap_ratio: float = 0.3,
) -> tuple[list[AffineDriftMapping], list[dict]]:
    """Coarse global transform of the EBSD map onto the SEM image.

    Parameters
    ----------
    sem : (H, W) float32
        Preprocessed SEM image (`grainseg.preprocess.preprocess_sem`).
    valid : (H, W) bool
        Usable SEM pixels (above the data bar).
    segments : (R, C) int
        EBSD segment (grain) ids, 0 = none.
    sem_px_per_point : float
        Nominal scale: EBSD step divided by the SEM pixel size.
    angles_deg : tuple of float
        Small rotations tried for each flip/turn, degrees.
    flips : bool
        Try all eight flips/quarter turns (else the identity only).
    overlap_ratio : float
        Smallest overlap (fraction of the smaller image) a translation may have.

    Returns
    -------
    mappings : list of AffineDriftMapping
        Every candidate (affine only), best first.
    candidates : list of dict
        ``flip``, ``angle_deg``, ``score``, ``overlap`` and ``rank`` (score x overlap / possible
        overlap, what decides) for every candidate tried, best first.
    """
    diameter_px = mean_segment_diameter_points(segments) * sem_px_per_point
    factor = coarse_factor(sem.shape, diameter_px)
    sigma = max(1.0, factor / 2.0)
    sem_edges = ndimage.gaussian_gradient_magnitude(smooth_valid(sem, valid, sigma), sigma)
    sem_mask = ndimage.binary_erosion(valid, iterations=int(2 * sigma) + 1)
    sem_edges = sem_edges[::factor, ::factor]
    sem_mask = sem_mask[::factor, ::factor]
    sigma_points = sigma / sem_px_per_point
    valid_e = (segments > 0).astype(np.float32)
    edges_e = smooth_valid(
        segment_boundaries(segments).astype(np.float32), segments > 0, sigma_points
    )
    score_sem = smooth_valid(sem, valid, max(1.0, factor / 2.0))
    candidates = []
    for index in range(len(D4) if flips else 1):
        for angle in angles_deg:
            theta = np.deg2rad(angle)
            rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
            linear = D4[index] @ rot / sem_px_per_point
            affine = _candidate(
                sem_edges, sem_mask, edges_e, valid_e, linear, factor, overlap_ratio
            )
            mapping = AffineDriftMapping(affine)
            score, overlap = alignment_score(score_sem, valid, segments, mapping, stride=factor)
            candidates.append(
                {
                    "flip": D4_NAMES[index],
                    "angle_deg": float(angle),
                    "score": score,
                    "overlap": overlap,
                    "mapping": mapping,
                }
            )
    # The placement the files imply (no turn, corners together) competes too: with few grains in
    # view an edge correlation can pick a wrong peak where the nominal placement is right.
    nominal = nominal_mapping(sem_px_per_point)
    score, overlap = alignment_score(score_sem, valid, segments, nominal, stride=factor)
    candidates.append(
        {
            "flip": "as in the files",
            "angle_deg": 0.0,
            "score": score,
            "overlap": overlap,
            "mapping": nominal,
        }
    )
    # A map that could cover the image but is placed to cover a corner of it is unlikely, and a
    # small overlap of a few grains scores high by chance: rank by score x achieved / possible
    # overlap.
    possible = possible_overlap(valid, segments, sem_px_per_point)
    for c in candidates:
        c["rank"] = c["score"] * min(1.0, c["overlap"] / possible)
    candidates.sort(key=lambda c: -c["rank"])
    keys = ("flip", "angle_deg", "score", "overlap", "rank")
    return [c["mapping"] for c in candidates], [{k: c[k] for k in keys} for c in candidates]
