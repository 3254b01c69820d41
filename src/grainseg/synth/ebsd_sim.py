"""The EBSD map a scan of the synthetic specimen would record, in its own drifted frame."""

from __future__ import annotations

import numpy as np
from orix.quaternion import Rotation

from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.synth.drift import EbsdFrame
from grainseg.synth.twins import random_orientations

#: The phase of the synthetic specimens: FCC austenitic steel, like the real SEM images.
AUSTENITE = Phase(name="Iron fcc", laue="m-3m")
AUSTENITE_LATTICE_NM = 0.3595


def _small_rotations(n: int, sigma_deg: float, rng: np.random.Generator) -> Rotation:
    """Rotations about uniformly random axes with angles ~ |N(0, sigma)| degrees."""
    axes = rng.standard_normal((n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.deg2rad(np.abs(rng.normal(0.0, sigma_deg, n)))
    return Rotation.from_axes_angles(axes, angles)


def simulate_ebsd(
    canvas_ids: np.ndarray,
    canvas_offset_px: tuple[int, int],
    orientations: np.ndarray,
    pits: np.ndarray,
    frame: EbsdFrame,
    step_um: float,
    rng: np.random.Generator,
    *,
    noise_deg: float = 0.5,
    unindexed_fraction: float = 0.01,
    boundary_unindexed: float = 0.3,
    misindexed_fraction: float = 0.003,
) -> EBSDMap:
    """Scan the grain map with an EBSD beam on the frame's grid.

    Parameters
    ----------
    canvas_ids : (Hc, Wc) int
        Grain labels on a canvas that covers the SEM field and every EBSD point.
    canvas_offset_px : (row, col)
        Canvas position of SEM pixel (0, 0).
    orientations : (n, 4) float
        Quaternion per canvas label.
    pits : (H, W) bool
        Pit pixels on the SEM grid (patterns fail there).
    frame : EbsdFrame
    step_um : float
        Nominal step written to the file (``step_px * pixel_size_um``).
    rng : numpy Generator
    noise_deg : float
        Orientation noise, typical angle in degrees.
    unindexed_fraction : float
        Chance that any point is not indexed.
    boundary_unindexed : float
        Chance that a point within half a step of a boundary is not indexed (overlapping
        patterns).
    misindexed_fraction : float
        Chance that an indexed point gets a random wrong orientation.

    Returns
    -------
    EBSDMap
        One phase; properties ``band_contrast`` (0-255), ``mad_deg`` and ``bands``.
    """
    rows, cols = frame.shape
    e_row, e_col = np.mgrid[0:rows, 0:cols].astype(np.float64)
    x_col, x_row = frame.sem_position(e_col, e_row)
    off_r, off_c = canvas_offset_px
    c_row = np.rint(x_row + off_r).astype(np.int64)
    c_col = np.rint(x_col + off_c).astype(np.int64)
    height_c, width_c = canvas_ids.shape
    if c_row.min() < 0 or c_col.min() < 0 or c_row.max() >= height_c or c_col.max() >= width_c:
        raise ValueError("canvas does not cover the EBSD scan")
    labels = canvas_ids[c_row, c_col]

    # Near a boundary when the label half a step away (either axis) differs.
    reach = max(int(round(0.5 / np.abs(frame.matrix).max())), 1)
    near = np.zeros(labels.shape, dtype=bool)
    for dr, dc in ((reach, 0), (-reach, 0), (0, reach), (0, -reach)):
        r = np.clip(c_row + dr, 0, height_c - 1)
        c = np.clip(c_col + dc, 0, width_c - 1)
        near |= canvas_ids[r, c] != labels
    s_row, s_col = c_row - off_r, c_col - off_c
    on_sem = (s_row >= 0) & (s_row < pits.shape[0]) & (s_col >= 0) & (s_col < pits.shape[1])
    in_pit = np.zeros(labels.shape, dtype=bool)
    in_pit[on_sem] = pits[s_row[on_sem], s_col[on_sem]]

    chance = np.full(labels.shape, unindexed_fraction)
    chance[near] = np.maximum(chance[near], boundary_unindexed)
    chance[in_pit] = 0.95
    indexed = rng.uniform(size=labels.shape) >= chance

    n = labels.size
    truth = Rotation(orientations[labels.ravel()])
    measured = (_small_rotations(n, noise_deg, rng) * truth).data
    wrong = indexed.ravel() & (rng.uniform(size=n) < misindexed_fraction)
    measured[wrong] = random_orientations(int(wrong.sum()), rng)
    measured[~indexed.ravel()] = (1.0, 0.0, 0.0, 0.0)
    quaternions = measured.reshape(rows, cols, 4).astype(np.float32)

    band_contrast = np.clip(rng.normal(150, 15, labels.shape) - 60 * near - 100 * in_pit, 0, 255)
    mad = np.where(indexed, np.clip(rng.normal(0.4, 0.1, labels.shape) + 0.4 * near, 0.05, 2), 0)
    bands = np.where(indexed, rng.integers(7, 13, labels.shape), 0)
    return EBSDMap(
        quaternions=quaternions,
        phase_ids=np.where(indexed, 0, -1).astype(np.int16),
        indexed=indexed,
        step_um=float(step_um),
        phases=[AUSTENITE],
        properties={
            "band_contrast": np.rint(band_contrast).astype(np.uint8),
            "mad_deg": mad.astype(np.float32),
            "bands": bands.astype(np.uint8),
        },
        notes=["synthetic map made by grainseg synth"],
    )
