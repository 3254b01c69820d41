"""Orientation-contrast SEM image of a synthetic grain structure.

The image is built the way a backscatter / channelling-contrast micrograph forms: each grain's
grey level is a smooth function of its crystal orientation (the crystal directions along the
beam and towards the detector), boundaries are steps between those levels (only some with a
thin polishing groove), with pits, particles and scratches, slow shading, probe blur,
Poisson-Gaussian noise correlated along the fast scan axis, scan-line offsets and an optional
instrument data bar.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from orix.quaternion import Rotation
from orix.vector import Vector3d
from scipy import ndimage
from scipy.signal import lfilter

from grainseg.synth.fields import smooth_noise

#: 16-bit levels of the 1st and 99th percentiles above the data bar in the real images
#: (../shared/data/sem), which hold 8-bit data scaled by 257, and their data-bar background.
_LOW_LEVEL, _HIGH_LEVEL, _BAR_LEVEL = 15400.0, 49700.0, 11822


@dataclass
class SemStyle:
    """How the synthetic micrograph looks; every field has a default matching the real images.

    Intensities are in units of the image's 1-99 % grey range unless named otherwise.
    """

    grain_contrast: float = 0.13  #: standard deviation of grain grey levels
    detector_weight: float = 0.5  #: 0 = beam-direction channelling only, 1 = detector only
    detector_tilt_deg: float = 55.0  #: angle of the detector direction from the beam
    harmonic_mix: float = 0.5  #: weight of the sixth-order cubic harmonic vs the fourth
    mottling: float = 0.025  #: slow intensity variation inside grains
    shading: float = 0.06  #: slow shading across the field
    groove_fraction: float = 0.3  #: fraction of general boundaries with a groove
    groove_depth: float = 0.12  #: darkening of a groove
    pits_per_mpx: float = 12.0  #: polishing pits per megapixel
    particles_per_mpx: float = 25.0  #: small precipitate particles per megapixel
    spots_per_mpx: float = 20.0  #: faint dark etch spots (ovals a few tens of pixels wide)
    spot_depth: float = 0.06
    scratches: int = 3  #: faint straight scratches across the field
    scratch_depth: float = 0.03
    blur_px: float = 1.0  #: probe blur, Gaussian sigma in pixels
    noise_sigma: float = 0.10  #: noise level as measured by `sem_noise_statistics`
    noise_corr_x: float = 0.15  #: lag-1 correlation of the fine noise along the scan direction
    streak_share: float = 0.45  #: share of the noise variance in streaks along the scan
    streak_length_px: float = 8.0  #: correlation length of the streaks along x, pixels
    poisson_share: float = 0.6  #: share of the noise variance that is signal dependent
    scanline_sigma: float = 0.012  #: standard deviation of the per-row offset
    data_bar_fraction: float = 0.073  #: data bar height / image height; 0 = no bar
    similar_share: float = 0.0  #: share of grains given nearly a neighbour's grey level
    similar_step: float = 0.5  #: largest such grey step, in units of the pixel noise
    pit_radius_px: float = 4.0  #: largest pit radius, pixels (the smallest is 1)
    pit_rim: float = 0.2  #: brightening of the rim around a pit
    rings_per_mpx: float = 0.0  #: contamination rings (thin annuli, not boundaries) per megapixel
    ring_depth: float = 0.08  #: darkening (or, for half of them, brightening) of a ring

    def to_dict(self) -> dict:
        """Plain dict for the truth JSON."""
        return asdict(self)


def random_style(rng: np.random.Generator) -> SemStyle:
    """A widely randomised `SemStyle` (for training data that must cover many instruments)."""
    return SemStyle(
        grain_contrast=float(rng.uniform(0.06, 0.25)),
        detector_weight=float(rng.uniform(0.0, 1.0)),
        detector_tilt_deg=float(rng.uniform(20.0, 80.0)),
        harmonic_mix=float(rng.uniform(0.0, 1.0)),
        mottling=float(rng.uniform(0.0, 0.06)),
        shading=float(rng.uniform(0.0, 0.2)),
        groove_fraction=float(rng.uniform(0.0, 0.9)),
        groove_depth=float(rng.uniform(0.04, 0.4)),
        pits_per_mpx=float(rng.uniform(0.0, 60.0)),
        particles_per_mpx=float(rng.uniform(0.0, 100.0)),
        spots_per_mpx=float(rng.uniform(0.0, 60.0)),
        spot_depth=float(rng.uniform(0.0, 0.12)),
        scratches=int(rng.integers(0, 12)),
        scratch_depth=float(rng.uniform(0.005, 0.04)),
        blur_px=float(rng.uniform(0.5, 2.0)),
        noise_sigma=float(rng.uniform(0.03, 0.2)),
        noise_corr_x=float(rng.uniform(0.0, 0.5)),
        streak_share=float(rng.uniform(0.0, 0.7)),
        streak_length_px=float(rng.uniform(2.0, 20.0)),
        poisson_share=float(rng.uniform(0.0, 1.0)),
        scanline_sigma=float(rng.uniform(0.0, 0.03)),
        data_bar_fraction=float(rng.choice([0.0, rng.uniform(0.05, 0.1)])),
    )


def hard_style(base: SemStyle, rng: np.random.Generator) -> SemStyle:
    """`base` with the failure modes of boundary detection made common (held-out tests and
    training data that must contain them): neighbours whose grey step is below the pixel noise,
    low grain contrast, few grooves, many pits with bright rims, contamination rings."""
    return replace(
        base,
        grain_contrast=float(rng.uniform(0.08, 0.2)),
        noise_sigma=float(rng.uniform(0.05, 0.15)),
        groove_fraction=float(rng.uniform(0.0, 0.3)),
        similar_share=float(rng.uniform(0.2, 0.4)),
        similar_step=float(rng.uniform(0.3, 1.0)),
        pits_per_mpx=float(rng.uniform(20.0, 120.0)),
        pit_radius_px=float(rng.uniform(3.0, 8.0)),
        pit_rim=float(rng.uniform(0.15, 0.5)),
        rings_per_mpx=float(rng.uniform(10.0, 40.0)),
        ring_depth=float(rng.uniform(0.04, 0.15)),
    )


def _cubic_harmonics(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fourth- and sixth-order cubic invariants of unit vectors (..., 3), each scaled to 0..1."""
    x2, y2, z2 = v[..., 0] ** 2, v[..., 1] ** 2, v[..., 2] ** 2
    k4 = (x2**2 + y2**2 + z2**2 - 1.0 / 3.0) * 1.5
    k6 = 27.0 * x2 * y2 * z2
    return k4, k6


def grain_grey_levels(
    orientations: np.ndarray, style: SemStyle, rng: np.random.Generator
) -> np.ndarray:
    """Grey level of each grain as a smooth function of its orientation.

    Channelling contrast depends on which crystal direction lies along the beam and, for a
    tilted or forward-scatter detector, towards the detector. Each enters through cubic
    harmonics (invariant under the cubic symmetry), with random signs per specimen, so that
    symmetric equivalents look identical, twins differ from their parents and some neighbours
    come out nearly equal.

    Parameters
    ----------
    orientations : (n, 4) float
        Quaternions (sample -> crystal).
    style : SemStyle
    rng : numpy Generator

    Returns
    -------
    (n,) float32
        Levels with mean 0.5 and standard deviation ``style.grain_contrast``.
    """
    tilt = np.deg2rad(style.detector_tilt_deg)
    azimuth = rng.uniform(0.0, 2.0 * np.pi)
    directions = Vector3d(
        [
            [0.0, 0.0, 1.0],
            [np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)],
        ]
    )
    crystal = Rotation(orientations).outer(directions).unit.data  # (n, 2, 3)
    k4, k6 = _cubic_harmonics(crystal)
    signs = rng.choice([-1.0, 1.0], size=(2, 2))
    mix = style.harmonic_mix
    per_direction = (1 - mix) * signs[:, 0] * k4 + mix * signs[:, 1] * k6  # (n, 2)
    level = (1 - style.detector_weight) * per_direction[
        :, 0
    ] + style.detector_weight * per_direction[:, 1]
    std = level.std()
    level = (level - level.mean()) / (std if std > 0 else 1.0)
    return (0.5 + style.grain_contrast * level).astype(np.float32)


def _discs(
    shape: tuple[int, int], count: int, radius_px: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Random discs: distance to the nearest disc centre in units of that disc's radius.

    Returns
    -------
    (H, W) float32
        < 1 inside a disc, 1..1.6 on its rim, ``inf`` far from every disc.
    """
    height, width = shape
    out = np.full(shape, np.inf, dtype=np.float32)
    if count == 0:
        return out
    centre_r = rng.uniform(0, height, count)
    centre_c = rng.uniform(0, width, count)
    radii = rng.uniform(*radius_px, count)
    # All discs at once: a (count, k, k) stack of windows around the centres.
    reach = int(np.ceil(1.6 * radius_px[1])) + 1
    offsets = np.arange(-reach, reach + 1)
    rows = np.floor(centre_r).astype(np.int64)[:, None, None] + offsets[None, :, None]
    cols = np.floor(centre_c).astype(np.int64)[:, None, None] + offsets[None, None, :]
    rows, cols = np.broadcast_arrays(rows, cols)
    scaled = np.hypot(rows + 0.5 - centre_r[:, None, None], cols + 0.5 - centre_c[:, None, None])
    scaled /= radii[:, None, None]
    keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width) & (scaled < 1.6)
    np.minimum.at(out, (rows[keep], cols[keep]), scaled[keep].astype(np.float32))
    return out


def _rings(shape: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """Contamination rings: thin closed annuli, each dark or bright, (H, W) float32 in -1..1.

    Beam contamination and drying stains leave rings 10-60 px across that look like a small
    grain's outline; they are drawn so that a network learns they are not boundaries.
    """
    if count == 0:
        return np.zeros(shape, dtype=np.float32)
    # A ring is the rim zone of a disc: distance ratio within 1 +- (width / radius).
    dist = _discs(shape, count, (5.0, 30.0), rng)
    width_ratio = rng.uniform(0.06, 0.15)
    profile = np.exp(-0.5 * ((dist - 1.0) / width_ratio) ** 2)
    # One sign for the whole image keeps this vectorised; half the specimens get bright rings.
    return (rng.choice([-1.0, 1.0]) * profile).astype(np.float32)


def blend_neighbour_levels(
    ids: np.ndarray, grey: np.ndarray, style: SemStyle, rng: np.random.Generator
) -> np.ndarray:
    """Give a share of the grains nearly the grey level of one of their neighbours.

    Real orientation contrast often leaves two neighbouring grains a step apart that is smaller
    than the pixel noise; random orientations make that rare, so it is put in on purpose for
    training data that must contain the faint boundaries.

    Parameters
    ----------
    ids : (H, W) uint32
        Grain IDs 1..n.
    grey : (n + 1,) float32
        Levels from `grain_grey_levels`.
    style : SemStyle
        ``similar_share`` of the grains are changed; their step to the neighbour is drawn up to
        ``similar_step`` times the pixel noise (``noise_sigma`` of the grey-level range).
    rng : numpy Generator

    Returns
    -------
    (n + 1,) float32
        New levels (the input is not modified).
    """
    out = grey.copy()
    if style.similar_share <= 0 or grey.size < 3:
        return out
    # Neighbouring pairs from horizontal and vertical steps, one row per distinct pair.
    a = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    b = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    step = a != b
    pairs = np.unique(np.stack([a[step], b[step]], axis=1), axis=0)
    pairs = np.concatenate([pairs, pairs[:, ::-1]])
    pairs = pairs[rng.permutation(len(pairs))]
    # One neighbour per grain: the first pair (after shuffling) that names it.
    grain, first = np.unique(pairs[:, 0], return_index=True)
    neighbour = pairs[first, 1]
    chosen = rng.uniform(size=grain.size) < style.similar_share
    grain, neighbour = grain[chosen], neighbour[chosen]
    value_range = float(np.percentile(grey[1:], 99) - np.percentile(grey[1:], 1)) or 1.0
    size = rng.uniform(0.0, style.similar_step, grain.size) * style.noise_sigma * value_range
    out[grain] = grey[neighbour] + rng.choice([-1.0, 1.0], grain.size) * size
    return out


def _scratches(shape: tuple[int, int], style: SemStyle, rng: np.random.Generator) -> np.ndarray:
    """Faint straight scratches: sum of thin Gaussian line profiles (H, W) float32 (>= 0).

    Each line is drawn only within 5 px of its centre: along its main axis every pixel column
    (or row) gets the 11 pixels around the line, vectorised.
    """
    out = np.zeros(shape, dtype=np.float32)
    offsets = np.arange(-5, 6)
    # A handful of lines (<= 12): a loop over lines, each line vectorised over its pixels.
    for _ in range(style.scratches):
        angle = rng.uniform(-np.pi / 2, np.pi / 2)
        steep = abs(np.tan(angle)) > 1.0
        # Work in (major, minor) axes: major = columns for flat lines, rows for steep ones.
        n_major, n_minor = (shape[0], shape[1]) if steep else (shape[1], shape[0])
        slope = 1.0 / np.tan(angle) if steep else np.tan(angle)
        start = rng.uniform(0, n_minor)
        major = np.arange(n_major)
        centre = start + (major - n_major / 2) * slope
        minor = np.floor(centre)[:, None].astype(np.int64) + offsets[None, :]
        distance = np.abs(minor + 0.5 - centre[:, None]) / np.sqrt(1.0 + slope**2)
        width_px = rng.uniform(0.6, 1.5)
        value = rng.uniform(0.3, 1.0) * np.exp(-0.5 * (distance / width_px) ** 2)
        keep = (minor >= 0) & (minor < n_minor)
        major_idx = np.broadcast_to(major[:, None], minor.shape)[keep]
        index = (major_idx, minor[keep]) if steep else (minor[keep], major_idx)
        out[index] += value[keep].astype(np.float32)
    return out


def _data_bar(image: np.ndarray, rows: int, rng: np.random.Generator) -> None:
    """Paint an instrument data bar over the bottom ``rows`` rows of a uint16 image, in place.

    A flat dark band with a white separator line and two lines of white seven-segment "words",
    the look of FEI/Thermo Fisher bars.
    """
    height, width = image.shape
    bar = np.full((rows, width), _BAR_LEVEL, dtype=np.uint16)
    bar[0, :] = 65535
    glyph_h = max(rows // 4, 5)
    glyph_w = max(glyph_h * 2 // 3, 3)
    stroke = max(glyph_h // 8, 1)
    # A font of 24 seven-segment glyphs: each lights a random subset of the segments.
    segments = np.zeros((7, glyph_h, glyph_w), dtype=bool)
    mid = glyph_h // 2
    segments[0, :stroke] = segments[3, mid - stroke // 2 : mid + (stroke + 1) // 2] = True
    segments[6, -stroke:] = True
    segments[1, :mid, :stroke] = segments[2, :mid, -stroke:] = True
    segments[4, mid:, :stroke] = segments[5, mid:, -stroke:] = True
    lit = rng.uniform(size=(24, 7)) < 0.55
    font = (lit[:, :, None, None] & segments[None]).any(axis=1)
    text = np.zeros((rows, width), dtype=bool)
    for line_top in (rows // 6, rows // 2 + rows // 12):
        if line_top + glyph_h > rows:
            continue
        col = glyph_w
        # One iteration per word (tens per bar), each word placed with array slicing.
        while col < width - 2 * glyph_w:
            n_chars = int(rng.integers(2, 9))
            n_chars = min(n_chars, (width - glyph_w - col) // (glyph_w + stroke + 1))
            if n_chars < 1:
                break
            glyphs = font[rng.integers(0, 24, n_chars)]
            spaced = np.pad(glyphs, ((0, 0), (0, 0), (0, stroke + 1)))
            word = spaced.transpose(1, 0, 2).reshape(glyph_h, -1)
            text[line_top : line_top + glyph_h, col : col + word.shape[1]] |= word
            col += word.shape[1] + int(rng.integers(2, 6)) * glyph_w
    bar[text] = 65535
    image[height - rows :] = bar


def render_sem(
    ids: np.ndarray,
    grey: np.ndarray,
    boundary: np.ndarray,
    twin_boundary: np.ndarray,
    style: SemStyle,
    rng: np.random.Generator,
    *,
    mean_diameter_px: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Render the 16-bit SEM image of a grain map.

    Parameters
    ----------
    ids : (H, W) uint32
        Grain IDs.
    grey : (n + 1,) float32
        Grey level per grain ID (see `grain_grey_levels`).
    boundary, twin_boundary : (H, W) bool
        All boundary pixels and the twin-boundary subset (twins are never grooved: coherent
        twin boundaries barely etch).
    style : SemStyle
    rng : numpy Generator
    mean_diameter_px : float
        Sets the scale of the in-grain mottling.

    Returns
    -------
    sem : (H, W) uint16
    pits : (H, W) bool
        Pit pixels (EBSD fails there).
    data_bar_rows : int
        Height of the painted data bar (0 = none).
    """
    shape = ids.shape
    height, width = shape
    image = grey[ids]
    if style.mottling > 0:
        image += style.mottling * smooth_noise(shape, 0.3 * mean_diameter_px, rng)

    # Grooves on a random subset of general boundaries, chosen per pair of grains.
    if style.groove_fraction > 0:
        cross = ndimage.generate_binary_structure(2, 1)
        lo = ndimage.minimum_filter(ids, footprint=cross, mode="nearest")
        hi = ndimage.maximum_filter(ids, footprint=cross, mode="nearest")
        salt = np.uint64(rng.integers(1, 2**31))
        pair_hash = (
            (lo.astype(np.uint64) * np.uint64(2654435761))
            ^ (hi.astype(np.uint64) * np.uint64(40503))
            ^ salt
        )
        pair_hash = (pair_hash * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)
        grooved = (
            boundary
            & ~twin_boundary
            & (pair_hash.astype(np.float64) / 2**24 < style.groove_fraction)
        )
        image[grooved] -= style.groove_depth

    area_mpx = height * width / 1e6
    n_pits = int(rng.poisson(style.pits_per_mpx * area_mpx))
    dist = _discs(shape, n_pits, (1.0, max(style.pit_radius_px, 1.0)), rng)
    pits = dist <= 1.0
    image[(dist > 1.0) & (dist < 1.6)] += style.pit_rim
    image[pits] -= 0.45
    particles = _discs(shape, int(rng.poisson(style.particles_per_mpx * area_mpx)), (0.6, 1.5), rng)
    image[particles <= 1.0] -= 0.3
    spots = _discs(shape, int(rng.poisson(style.spots_per_mpx * area_mpx)), (6.0, 18.0), rng)
    image -= style.spot_depth * np.clip(1.5 - spots, 0.0, 1.0)
    image -= style.scratch_depth * _scratches(shape, style, rng)
    if style.rings_per_mpx > 0:
        image += style.ring_depth * _rings(shape, int(rng.poisson(style.rings_per_mpx * area_mpx)),
                                           rng)

    if style.shading > 0:
        ramp = np.linspace(-1.0, 1.0, width, dtype=np.float32)[None, :] * rng.uniform(-1, 1)
        slow = smooth_noise(shape, 0.8 * max(height, width), rng)
        image *= 1.0 + style.shading * (0.5 * ramp + slow)
    if style.blur_px > 0:
        image = ndimage.gaussian_filter(image, style.blur_px)

    # Noise in units of the 1-99 % range of the clean image, so `noise_sigma` means what
    # `sem_noise_statistics` measures.
    lo_pct, hi_pct = np.percentile(image[::4, ::4], [1, 99])
    value_range = float(hi_pct - lo_pct) or 1.0
    signal = np.clip((image - lo_pct) / value_range, 0.0, 1.5)
    variance = (1 - style.poisson_share) + style.poisson_share * 2.0 * signal
    image += np.sqrt(variance) * _scan_noise(shape, style, rng) * (style.noise_sigma * value_range)
    image += (style.scanline_sigma * value_range * rng.standard_normal(height)).astype(np.float32)[
        :, None
    ]

    levels = _LOW_LEVEL + (image - lo_pct) / value_range * (_HIGH_LEVEL - _LOW_LEVEL)
    # 8-bit data scaled by 257, as the real instrument stores it.
    sem = (np.clip(np.rint(levels / 257.0), 0, 255) * 257).astype(np.uint16)
    bar_rows = int(round(style.data_bar_fraction * height))
    if bar_rows >= 8:
        _data_bar(sem, bar_rows, rng)
    else:
        bar_rows = 0
    return sem, pits, bar_rows


def _scan_noise(shape: tuple[int, int], style: SemStyle, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance detector noise as the real images show it, (H, W) float32.

    Two parts: fine noise with a short correlation along x (kernel [a, 1, a]) and streaks, an
    AR(1) process along each scan line with correlation length ``streak_length_px``; scaled so
    that `sem_noise_statistics` reads ``noise_sigma`` back (calibration constant measured on
    the default style: the 5 x 5 median residual and its MAD see 0.71 of the noise).
    """
    a = _kernel_weight(style.noise_corr_x)
    fine = ndimage.convolve1d(
        rng.standard_normal(shape, dtype=np.float32), np.array([a, 1.0, a], np.float32), axis=1
    )
    fine *= np.float32(np.sqrt((1.0 - style.streak_share) / (1.0 + 2.0 * a * a)))
    phi = float(np.exp(-1.0 / max(style.streak_length_px, 1e-3)))
    # Run-in of 5 correlation lengths, cut off, so the rows start in the stationary state.
    run_in = int(np.ceil(5 * style.streak_length_px))
    white = rng.standard_normal((shape[0], shape[1] + run_in), dtype=np.float32)
    gain = np.float32(np.sqrt(style.streak_share * (1.0 - phi * phi)))
    streaks = lfilter(np.array([gain]), np.array([1.0, -phi], np.float32), white, axis=1)
    fine += streaks[:, run_in:]
    fine /= np.float32(0.71)
    return fine


def _kernel_weight(lag1: float) -> float:
    """Side weight ``a`` of the kernel [a, 1, a] whose filtered white noise has this lag-1 corr."""
    # lag1 = 2a / (1 + 2a^2)  ->  2 lag1 a^2 - 2a + lag1 = 0, smaller root.
    lag1 = float(np.clip(lag1, 0.0, 0.7))
    if lag1 == 0:
        return 0.0
    return (2.0 - np.sqrt(4.0 - 8.0 * lag1 * lag1)) / (4.0 * lag1)
