"""Random cubic orientations and annealing twins with the exact Sigma3 relation.

Conventions (orix): an orientation ``o`` maps sample vectors to crystal vectors, crystal
symmetry multiplies on the left, and a twin of parent ``o`` is ``R(n, 60 deg) * o`` with ``n`` the
<111> normal of the twin plane in crystal coordinates. Sample axes on the image: x along
columns, y along rows (down), z into the specimen (the beam direction).
"""

from __future__ import annotations

import numpy as np
from orix.quaternion import Rotation
from orix.vector import Vector3d

#: The four {111} plane normals of a cubic crystal (crystal frame, unit length).
PLANES_111 = np.array([[1, 1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, -1]], dtype=np.float64) / np.sqrt(
    3.0
)


def random_orientations(n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random rotations as unit quaternions.

    Parameters
    ----------
    n : int
    rng : numpy Generator

    Returns
    -------
    (n, 4) float64
        (w, x, y, z) with w >= 0 (Shoemake's method, uniform on SO(3)).
    """
    u1, u2, u3 = rng.uniform(0.0, 1.0, (3, n))
    q = np.stack(
        [
            np.sqrt(u1) * np.cos(2 * np.pi * u3),
            np.sqrt(1 - u1) * np.sin(2 * np.pi * u2),
            np.sqrt(1 - u1) * np.cos(2 * np.pi * u2),
            np.sqrt(u1) * np.sin(2 * np.pi * u3),
        ],
        axis=1,
    )
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


def twin_orientations(parents: np.ndarray, plane_index: np.ndarray) -> np.ndarray:
    """Sigma3 twins: 60 degrees about the twin-plane normal <111>, in the parent's crystal frame.

    Parameters
    ----------
    parents : (n, 4) float
        Parent quaternions (w, x, y, z).
    plane_index : (n,) int
        Which of `PLANES_111` is the twin plane.

    Returns
    -------
    (n, 4) float64
        Twin quaternions ``R(n, 60) * parent``.
    """
    twist = Rotation.from_axes_angles(PLANES_111[plane_index], np.full(len(plane_index), np.pi / 3))
    return (twist * Rotation(parents)).data


def plane_traces(orientations: np.ndarray) -> np.ndarray:
    """In-plane normals of the traces of the four {111} planes on the section.

    Parameters
    ----------
    orientations : (n, 4) float
        Quaternions mapping sample to crystal.

    Returns
    -------
    (n, 4, 3) float64
        For each grain and plane: (row component, column component, in-plane length) of the
        plane normal in sample coordinates; the first two are normalised to unit length, the
        third (0..1) is how steeply the plane stands (1 = perpendicular to the surface).
    """
    crystal_to_sample = ~Rotation(orientations)
    normals = crystal_to_sample.outer(Vector3d(PLANES_111)).data  # (n, 4, 3) as x, y, z
    in_plane = np.hypot(normals[..., 0], normals[..., 1])
    safe = np.maximum(in_plane, 1e-9)
    return np.stack([normals[..., 1] / safe, normals[..., 0] / safe, in_plane], axis=-1)


def add_twin_bands(
    labels: np.ndarray,
    orientations: np.ndarray,
    rng: np.random.Generator,
    *,
    twin_fraction: float,
    mean_diameter_px: float,
    max_bands: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut straight, parallel-sided twin bands into a fraction of the grains.

    Each twinned grain gets 1..``max_bands`` parallel lamellae on the trace of one {111} plane
    (the steepest of two random ones); a lamella either crosses the grain or stops inside it at a
    straight end, as in annealed FCC metals.

    Parameters
    ----------
    labels : (H, W) int32
        Parent labels 0..n-1.
    orientations : (n, 4) float
        Parent quaternions.
    rng : numpy Generator
    twin_fraction : float
        Fraction of grains (0..1) that hold twins.
    mean_diameter_px : float
        Mean grain diameter, which sets lamella widths.
    max_bands : int

    Returns
    -------
    labels : (H, W) int32
        Parents keep their labels; the lamellae of the k-th twinned grain get label n + k.
    orientations : (n + n_twinned, 4) float64
    is_twin : (n + n_twinned,) bool
    family : (n + n_twinned,) int64
        The parent label each label belongs to (itself for parents).
    """
    n = len(orientations)
    height, width = labels.shape
    counts = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    flat = labels.ravel()
    present = counts > 0
    cent_r = np.bincount(flat, weights=rows.ravel(), minlength=n) / np.maximum(counts, 1)
    cent_c = np.bincount(flat, weights=cols.ravel(), minlength=n) / np.maximum(counts, 1)
    size_px = np.sqrt(counts)

    twinned = np.flatnonzero(present & (rng.uniform(size=n) < twin_fraction) & (size_px > 12))
    n_bands_per = rng.integers(1, max_bands + 1, size=twinned.size)
    parent = np.repeat(twinned, n_bands_per)
    traces = plane_traces(orientations[twinned])
    pick = rng.integers(0, 4, size=(twinned.size, 2))
    steep = np.take_along_axis(traces[..., 2], pick, axis=1)
    plane = pick[np.arange(twinned.size), np.argmax(steep, axis=1)]
    normal = traces[np.arange(twinned.size), plane, :2]
    # One twin variant (and one twin label) per twinned grain: its lamellae are parallel and
    # placed side by side with parent between them, so they never overlap.
    lamella_label = n + np.repeat(np.arange(twinned.size), n_bands_per)
    twin_plane = plane
    normal = np.repeat(normal, n_bands_per, axis=0)
    n_bands = parent.size

    size = size_px[parent]
    width_px = np.clip(
        mean_diameter_px * np.exp(rng.normal(np.log(0.09), 0.6, n_bands)), 3.0, 0.4 * size
    )
    # Centre lines: a random start, then each lamella one gap (0.3-2 widths) after the last.
    gap = rng.uniform(0.3, 2.0, n_bands) * width_px
    first = np.ones(n_bands, dtype=bool)
    first[1:] = parent[1:] != parent[:-1]
    advance = np.where(first, 0.0, gap + 0.5 * (width_px + np.roll(width_px, 1)))
    group_start = np.flatnonzero(first)
    cumulative = np.cumsum(advance)
    within = cumulative - np.repeat(cumulative[group_start], n_bands_per)
    offset = np.repeat(rng.uniform(-0.4, 0.2, twinned.size), n_bands_per) * size + within
    # Lamellae that stop inside the grain: keep the side t < end along the trace direction.
    stops = rng.uniform(size=n_bands) < 0.35
    end = np.where(stops, rng.uniform(-0.2, 0.3, n_bands) * size, np.inf)
    side = rng.choice([-1.0, 1.0], n_bands)

    out = labels.copy()
    # Vectorised over pixels: every pixel tests the k-th band of its own grain.
    band_of = np.full((n, max_bands), -1, dtype=np.int64)
    slot = np.concatenate([np.arange(k) for k in n_bands_per]) if n_bands else np.zeros(0, int)
    band_of[parent, slot] = np.arange(n_bands)
    for k in range(max_bands):
        band = band_of[labels, k]
        hit = band >= 0
        b = band[hit]
        dr = rows[hit] - cent_r[parent[b]]
        dc = cols[hit] - cent_c[parent[b]]
        across = dr * normal[b, 0] + dc * normal[b, 1] - offset[b]
        along = side[b] * (-dr * normal[b, 1] + dc * normal[b, 0])
        inside = (np.abs(across) <= width_px[b] / 2) & (along <= end[b])
        idx = np.flatnonzero(hit.ravel())[inside.ravel()]
        out.ravel()[idx] = lamella_label[b[inside]]

    twins = twin_orientations(orientations[twinned], twin_plane)
    all_orientations = np.concatenate([orientations, twins], axis=0)
    is_twin = np.concatenate([np.zeros(n, bool), np.ones(twinned.size, bool)])
    family = np.concatenate([np.arange(n), twinned])
    return out, all_orientations, is_twin, family
