"""Test images with exact truth for `bench_accuracy.py`: real EBSD grain geometry and hard synth.

*Real geometry*: the grain maps of the real EBSD files in ``../shared/data/ebsd`` (grains at
10 deg with Sigma3 twins as grains of their own, as `grainseg ebsd-grains` gives them), scaled
up to several SEM pixels per EBSD step and rendered with a contrast model written for this
benchmark only, so that no network has seen it: the grey level falls off with the angle between
the beam and the nearest low-index zone axis of the crystal (a channelling-like response, not the
cubic harmonics of `grainseg.synth`), then a quadratic shading, blur, dark pits with bright rims,
Poisson shot noise with Gaussian read noise correlated along x by an exponential kernel (not the
streaks of `grainseg.synth`) and 8-bit quantisation. No groove is drawn along any boundary.

*Hard synthetic*: `grainseg.synth` specimens in the "hard" look with seeds from 900100 on,
which no training recipe of this project uses.

*Development set* (`development_cases`): the same kinds of image at other magnifications (4 and
5 SEM pixels per EBSD step, another noise seed) and 4 other hard specimens (seeds from 800100,
also unused by training). Post-processing settings are chosen on it, never on the benchmark;
the real-geometry images share their grain maps with the benchmark's (only 4 real maps exist),
so it is a check of settings, not an independent test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from orix.quaternion import Rotation
from orix.vector import Vector3d
from scipy import ndimage

from grainseg.synth.microstructure import boundary_mask

SHARED_EBSD = Path(__file__).resolve().parents[2] / "shared" / "data" / "ebsd"
#: The real maps (copper_hex.osc is the same scan as copper_hex.ang; nickel_tiny is 40 x 4).
EBSD_FILES = ("ni_superalloy.cpr", "sdss_ferrite_austenite.ang", "copper_hex.ang",
              "edax_ni_oim.h5")
#: SEM pixels per EBSD step.
SCALES = (3, 6)
HARD_SEEDS = (900100, 900101, 900102, 900103)
HARD_GRAIN_UM = (3.0, 5.0, 8.0, 4.0)
DEV_SCALES = (4, 5)
DEV_SEEDS = (800100, 800101, 800102, 800103)


@dataclass
class Case:
    """One test image with its truth.

    Attributes
    ----------
    name : str
    part : str
        "real geometry" or "hard synthetic".
    image : (H, W) uint8 or uint16
        The SEM-like image (no data bar).
    truth_boundaries : (H, W) bool
        Pixels with a 4-neighbour in another true grain (2 px wide).
    valid : (H, W) bool
        Pixels to score (not-indexed EBSD areas left out).
    pixel_size_um : float
    """

    name: str
    part: str
    image: np.ndarray
    truth_boundaries: np.ndarray
    valid: np.ndarray
    pixel_size_um: float


#: Low-index zone axes of a cubic crystal and how bright a grain is when the beam runs along
#: one (channelling falls off within ~15 deg of the axis; weights differ per axis family).
_ZONE_AXES = (((0, 0, 1), 1.0, 14.0), ((1, 0, 1), 0.7, 10.0), ((1, 1, 1), 0.5, 8.0))


def zone_axis_grey(quaternions: np.ndarray, tilt_deg: float = 12.0) -> np.ndarray:
    """Grey level (0..1) of grains from the angle between the beam and their zone axes.

    Parameters
    ----------
    quaternions : (N, 4) float
        Orientations (sample -> crystal, orix convention).
    tilt_deg : float
        Beam direction tilted from the sample normal about x, degrees.

    Returns
    -------
    (N,) float64
    """
    from orix.quaternion.symmetry import Oh

    beam = Vector3d([0.0, np.sin(np.deg2rad(tilt_deg)), np.cos(np.deg2rad(tilt_deg))])
    crystal_beam = (Rotation(quaternions) * beam).unit  # beam in crystal coordinates
    level = np.full(len(quaternions), 0.15)
    for axis, weight, width_deg in _ZONE_AXES:
        family = (Oh * Vector3d(axis)).unit.flatten()
        cosines = np.abs(crystal_beam.dot_outer(family))
        angle = np.rad2deg(np.arccos(np.clip(cosines.max(axis=-1), -1.0, 1.0)))
        level += weight * np.exp(-0.5 * (angle / width_deg) ** 2)
    return np.clip(level, 0.0, None) ** 0.7  # the detector's sub-linear response


def render_orientation_contrast(ids: np.ndarray, grey: np.ndarray,
                                rng: np.random.Generator) -> np.ndarray:
    """SEM-like 8-bit image of a grain map with per-grain levels ``grey`` (index = grain ID)."""
    height, width = ids.shape
    image = grey[ids].astype(np.float64)
    yy, xx = np.mgrid[-1:1:height * 1j, -1:1:width * 1j]
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    a, b, c = rng.uniform(-0.08, 0.08, 3)
    image *= 1.0 + a * xx + b * yy + c * xx * yy
    image = ndimage.gaussian_filter(image, rng.uniform(0.8, 1.4))
    n_pits = rng.poisson(40e-6 * height * width)
    for _ in range(n_pits):  # a few tens of pits per image; each one vectorised
        r0, c0 = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(1.5, 5.0)
        dist = np.hypot(rows - r0, cols - c0)
        image -= 0.5 * np.exp(-0.5 * (dist / radius) ** 2)
        image += 0.15 * np.exp(-0.5 * ((dist - 1.6 * radius) / 0.8) ** 2)
    counts = rng.uniform(25.0, 60.0)
    shot = rng.poisson(np.clip(image, 0.0, None) * counts) / counts
    read = rng.normal(0.0, rng.uniform(0.02, 0.05), image.shape)
    # Causal exponential kernel (centred, so zeros on one side): the detector's decay along x.
    kernel = np.exp(-np.arange(4) / rng.uniform(0.5, 1.5))
    read = ndimage.convolve1d(read, np.concatenate([np.zeros(3), kernel]), axis=1)
    read *= 0.04 / (read.std() or 1.0)
    out = shot + read
    lo, hi = np.percentile(out, [0.5, 99.5])
    return np.clip((out - lo) / (hi - lo) * 230 + 12, 0, 255).astype(np.uint8)


def real_geometry_cases(ebsd_dir: Path = SHARED_EBSD, scales: tuple[int, ...] = SCALES,
                        max_side_px: int = 512, seed: int = 0) -> list[Case]:
    """Rendered images of the real EBSD grain maps found in ``ebsd_dir`` (see the module notes)."""
    from grainseg.ebsd.grains import mean_orientations, reconstruct_grains
    from grainseg.io.ebsd import read_ebsd

    cases = []
    rng = np.random.default_rng(seed)
    for name in EBSD_FILES:
        path = ebsd_dir / name
        if not path.is_file():
            continue
        ebsd = read_ebsd(path)
        grain_ids = reconstruct_grains(ebsd, 10.0, min_size=4)
        quaternions, _ = mean_orientations(ebsd, grain_ids)
        for scale in scales:
            side = max_side_px // scale
            ids = grain_ids[:side, :side]
            ids = np.kron(ids, np.ones((scale, scale), ids.dtype))
            unassigned = ids == 0
            # Render not-indexed points in the grey of the nearest grain; they are not scored.
            if unassigned.any() and not unassigned.all():
                _, (near_r, near_c) = ndimage.distance_transform_edt(
                    unassigned, return_indices=True)
                filled = ids[near_r, near_c]
            else:
                filled = ids
            grey = np.concatenate([[0.0], zone_axis_grey(quaternions)])
            image = render_orientation_contrast(filled, grey, rng)
            valid = ~ndimage.binary_dilation(unassigned, iterations=3)
            cases.append(Case(f"{path.stem} x{scale}", "real geometry", image,
                              boundary_mask(filled) & valid, valid,
                              ebsd.step_um / scale))
    return cases


def hard_synthetic_cases(size_px: int = 512,
                         seeds: tuple[int, ...] = HARD_SEEDS) -> list[Case]:
    """Held-out `grainseg.synth` specimens in the "hard" look (grain sizes `HARD_GRAIN_UM`)."""
    from grainseg.preprocess import data_bar_start_row
    from grainseg.synth import generate_specimen

    cases = []
    for seed, grain_um in zip(seeds, HARD_GRAIN_UM, strict=True):
        s = generate_specimen(size_px, size_px, seed, grain_size_um=grain_um,
                              pixel_size_um=0.05, appearance="hard", max_drift_px=5.0)
        rows = data_bar_start_row(s.sem)
        truth = s.boundaries[:rows] > 0
        cases.append(Case(f"hard seed {seed}", "hard synthetic", s.sem[:rows], truth,
                          np.ones(truth.shape, bool), s.pixel_size_um))
    return cases


def visibility(case: Case, step_sigma: float = 1.0,
               window_px: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Which true boundaries the image shows, and the best grain map that shows only those.

    A boundary between two true grains counts as visible when the difference of their mean grey
    levels (measured on the image, over each grain's interior) is at least ``step_sigma`` times
    the noise of the image averaged over ``window_px`` x ``window_px`` pixels (the median over
    grains of its standard deviation inside each grain; correlated noise included), about the
    patch over which a person compares two sides of a boundary. Where neighbouring grains have nearly the same orientation response, no method that
    reads grey levels can find their boundary; the score of the truth with those boundaries
    removed is the ceiling of the grain scores.

    Returns
    -------
    visible : (H, W) bool
        True boundary pixels next to a visible step (within 2 px).
    ceiling_boundaries : (H, W) bool
        The true boundaries with every invisible one removed (neighbours merged).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from grainseg.grains.measure import label_edges
    from grainseg.infer.postprocess import region_grey_levels

    ids, n = ndimage.label(~case.truth_boundaries)
    _, (near_r, near_c) = ndimage.distance_transform_edt(ids == 0, return_indices=True)
    filled = ids[near_r, near_c]
    mean, noise = region_grey_levels(case.image, ids, window_px)
    pairs = [(filled[:, :-1], filled[:, 1:]), (filled[:-1, :], filled[1:, :])]
    a = np.concatenate([p[0][p[0] != p[1]] for p in pairs])
    b = np.concatenate([p[1][p[0] != p[1]] for p in pairs])
    faint = np.abs(mean[a] - mean[b]) < step_sigma * noise
    graph = coo_matrix((np.ones(int(faint.sum())), (a[faint], b[faint])), shape=(n + 1, n + 1))
    _, merged = connected_components(graph, directed=False)
    ceiling = label_edges(merged[filled])
    visible = case.truth_boundaries & ndimage.binary_dilation(ceiling, iterations=2)
    return visible, ceiling


def development_cases(ebsd_dir: Path = SHARED_EBSD) -> list[Case]:
    """The development set (see the module notes): real geometry at `DEV_SCALES`, render seed
    1, and hard specimens `DEV_SEEDS`."""
    return (real_geometry_cases(ebsd_dir, scales=DEV_SCALES, seed=1)
            + hard_synthetic_cases(seeds=DEV_SEEDS))
