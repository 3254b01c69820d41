"""The EBSD map's own frame: an affine misfit to the SEM plus a drift that grows with scan time.

Coordinates are (column, row) pairs. SEM coordinates are in SEM pixels; EBSD coordinates are in
EBSD grid units (point (i, j) of the map sits at column j, row i). An EBSD point at ``e`` sees the
specimen at SEM position ``x = origin + B e + d(t(e))`` where ``B`` is the inverse of the affine
part ``A`` (scale error, small rotation and shear), ``t`` is the scan time (rows are the slow axis)
and ``d`` is the drift, a smooth curve with ``|d| <= max_drift_px`` at all times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class EbsdFrame:
    """Geometry of a synthetic EBSD scan relative to the SEM image.

    Attributes
    ----------
    shape : (rows, cols)
        EBSD grid size.
    matrix : (2, 2) float64
        ``A``: SEM pixel offsets (col, row) -> EBSD grid units (col, row), without drift.
    origin_px : (2,) float64
        SEM position (col, row) of EBSD point (0, 0) before drift.
    drift_amplitude_px : float
        Drift magnitude at the end of the scan (<= the requested maximum).
    drift_power : float
        Drift magnitude grows as ``amplitude * t ** power``.
    drift_angle_rad, drift_wobble_rad, drift_wobble_cycles, drift_wobble_phase : float
        Drift direction ``angle + wobble * sin(2 pi cycles t + phase)``.
    """

    shape: tuple[int, int]
    matrix: np.ndarray
    origin_px: np.ndarray
    drift_amplitude_px: float
    drift_power: float
    drift_angle_rad: float
    drift_wobble_rad: float
    drift_wobble_cycles: float
    drift_wobble_phase: float

    def scan_time(self, e_col: np.ndarray, e_row: np.ndarray) -> np.ndarray:
        """Fraction 0..1 of the scan done when the beam is at EBSD coordinates (col, row)."""
        rows, cols = self.shape
        return np.clip((e_row + e_col / cols) / rows, 0.0, 1.0)

    def drift_curve_px(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The analytic drift (col, row) in SEM pixels at scan time ``t``; see `drift_px`."""
        magnitude = self.drift_amplitude_px * t**self.drift_power
        angle = self.drift_angle_rad + self.drift_wobble_rad * np.sin(
            2 * np.pi * self.drift_wobble_cycles * t + self.drift_wobble_phase
        )
        return magnitude * np.cos(angle), magnitude * np.sin(angle)

    def drift_px(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drift (col, row) in SEM pixels at scan time ``t`` (any shape).

        The analytic curve tabulated at 2^16 + 1 times and interpolated linearly (within 1e-6 px
        of it, and 10x cheaper on full images); both directions of the mapping use this one
        function, so they are exact inverses of each other.
        """
        times, d_col, d_row = self._drift_table()
        return np.interp(t, times, d_col), np.interp(t, times, d_row)

    def _drift_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(times, drift col, drift row), 2^16 + 1 samples of `drift_curve_px` over 0..1."""
        times = np.linspace(0.0, 1.0, 2**16 + 1)
        return (times, *self.drift_curve_px(times))

    def sem_position(self, e_col: np.ndarray, e_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SEM position (col, row) in pixels seen by the EBSD beam at (col, row) grid units."""
        inverse = np.linalg.inv(self.matrix)
        d_col, d_row = self.drift_px(self.scan_time(e_col, e_row))
        x_col = self.origin_px[0] + inverse[0, 0] * e_col + inverse[0, 1] * e_row + d_col
        x_row = self.origin_px[1] + inverse[1, 0] * e_col + inverse[1, 1] * e_row + d_row
        return x_col, x_row

    def ebsd_coordinates(
        self, x_col: np.ndarray, x_row: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of `sem_position`: EBSD grid coordinates (col, row) of SEM positions.

        The scan time is a linear function of the EBSD coordinates, ``t = c . e`` (clipped to
        0..1), so ``e = A (x - origin - d(t))`` turns into one scalar equation per pixel,
        ``t + c . A d(t) = c . A (x - origin)``. Its left side is tabulated once and inverted by
        interpolation; no iteration over the image is needed.

        Returns
        -------
        e_col, e_row : float64 arrays, broadcast shape of the inputs
        """
        rows, cols = self.shape
        a = self.matrix
        c = np.array([1.0 / cols, 1.0]) / rows
        times, d_col, d_row = self._drift_table()
        ca = c @ a
        left = times + ca[0] * d_col + ca[1] * d_row
        if np.any(np.diff(left) <= 0):
            raise ValueError("drift too fast for the scan: mapping is not invertible")
        u = np.asarray(x_col, dtype=np.float64) - self.origin_px[0]
        v = np.asarray(x_row, dtype=np.float64) - self.origin_px[1]
        t = np.interp(ca[0] * u + ca[1] * v, left, times)
        drift_col, drift_row = self.drift_px(t)
        u = u - drift_col
        v = v - drift_row
        return a[0, 0] * u + a[0, 1] * v, a[1, 0] * u + a[1, 1] * v

    def to_dict(self) -> dict:
        """Plain dict for the truth JSON."""
        return {
            "ebsd_shape": list(self.shape),
            "matrix_sem_px_to_ebsd": self.matrix.tolist(),
            "origin_px_col_row": self.origin_px.tolist(),
            "drift_amplitude_px": self.drift_amplitude_px,
            "drift_power": self.drift_power,
            "drift_angle_rad": self.drift_angle_rad,
            "drift_wobble_rad": self.drift_wobble_rad,
            "drift_wobble_cycles": self.drift_wobble_cycles,
            "drift_wobble_phase": self.drift_wobble_phase,
        }


def random_frame(
    sem_shape: tuple[int, int], step_px: float, max_drift_px: float, rng: np.random.Generator
) -> EbsdFrame:
    """A random EBSD frame covering about the SEM field.

    Scale error up to 3 %, rotation up to 2 degrees, shear up to 0.02, origin within two EBSD
    steps of the SEM corner, drift amplitude 60-100 % of ``max_drift_px`` (less on fields so
    small that the drift would outrun the scan).

    Parameters
    ----------
    sem_shape : (H, W)
        SEM image size in pixels.
    step_px : float
        Nominal EBSD step in SEM pixels.
    max_drift_px : float
        Bound on the drift magnitude, SEM pixels.
    rng : numpy Generator
    """
    height, width = sem_shape
    shape = (max(int(round(height / step_px)), 1), max(int(round(width / step_px)), 1))
    scale = step_px * (1.0 + rng.uniform(-0.03, 0.03))
    angle = np.deg2rad(rng.uniform(-2.0, 2.0))
    shear = rng.uniform(-0.02, 0.02)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # B maps EBSD units to SEM pixels; A is its inverse.
    b = rotation @ np.array([[1.0, shear], [0.0, 1.0]]) * scale
    frame = EbsdFrame(
        shape=shape,
        matrix=np.linalg.inv(b),
        origin_px=rng.uniform(-2.0, 2.0, 2) * step_px,
        drift_amplitude_px=float(max_drift_px * rng.uniform(0.6, 1.0)),
        drift_power=float(rng.uniform(1.0, 1.6)),
        drift_angle_rad=float(rng.uniform(0.0, 2 * np.pi)),
        drift_wobble_rad=float(rng.uniform(0.0, 0.6)),
        drift_wobble_cycles=float(rng.uniform(0.3, 1.5)),
        drift_wobble_phase=float(rng.uniform(0.0, 2 * np.pi)),
    )
    # A real scan cannot drift faster than it scans: keep the drift speed below half the
    # slow-axis scan speed (H pixels per scan), scaling the amplitude down on small fields.
    times, d_col, d_row = frame._drift_table()
    speed = np.hypot(np.gradient(d_col, times), np.gradient(d_row, times)).max()
    if speed > 0.5 * height:
        frame.drift_amplitude_px *= 0.5 * height / speed
    return frame
