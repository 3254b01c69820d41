"""Parametric fits of grain distributions: beta for aspect ratio, exponential and log-normal for size.

All fits are maximum-likelihood fits from `scipy.stats` with the support fixed by the physics:
the beta lives on [0, 1] (``floc=0, fscale=1``), the exponential starts at the smallest grain size
kept (``floc = min_size``, as the paper's Fig. 7d fits sizes above a minimum diameter), the
log-normal starts at 0 (``floc=0``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from grainseg.errors import GrainsegError

# Aspect ratios of exactly 1 (round or one-pixel grains) have zero beta likelihood for any shape
# a > 1, b < 1 mix; they are clipped to this distance from the ends of [0, 1] before fitting.
_BETA_CLIP = 1e-3


@dataclass(frozen=True)
class Fit:
    """A fitted one-dimensional distribution.

    Attributes
    ----------
    family : str
        ``"beta"``, ``"exponential"`` or ``"lognormal"``.
    params : dict of str -> float
        The parameters by name (see the ``fit_*`` function that made it).
    n : int
        Number of samples fitted.
    """

    family: str
    params: dict[str, float]
    n: int

    def frozen(self) -> stats.rv_continuous:
        """The fitted distribution as a frozen `scipy.stats` object."""
        p = self.params
        if self.family == "beta":
            return stats.beta(p["a"], p["b"])
        if self.family == "exponential":
            return stats.expon(loc=p["loc"], scale=p["scale"])
        if self.family == "lognormal":
            return stats.lognorm(p["sigma"], scale=np.exp(p["mu"]))
        raise ValueError(f"unknown family {self.family!r}")

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Probability density at ``x`` (same units as the fitted samples)."""
        return self.frozen().pdf(np.asarray(x, dtype=np.float64))

    def to_dict(self) -> dict:
        """JSON-ready form: ``{"family", "n", **params}``."""
        return {"family": self.family, "n": self.n, **self.params}


def _check(samples: np.ndarray, minimum: int, what: str) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size < minimum:
        raise GrainsegError(f"cannot fit {what}: {x.size} grains, need at least {minimum}")
    return x


def fit_beta(aspect_ratio: np.ndarray) -> Fit:
    """Beta distribution on [0, 1] for aspect ratios (the paper's Fig. 6c).

    Parameters
    ----------
    aspect_ratio : (N,) float array
        Values in (0, 1]; clipped to [1e-3, 1 - 1e-3] so that exactly round grains are allowed.

    Returns
    -------
    Fit
        ``params = {"a", "b", "mean"}`` (shape parameters and the fitted mean a / (a + b)).
    """
    x = np.clip(_check(aspect_ratio, 3, "beta distribution"), _BETA_CLIP, 1.0 - _BETA_CLIP)
    try:
        with warnings.catch_warnings():  # scipy warns before raising on zero spread
            warnings.simplefilter("ignore", RuntimeWarning)
            a, b, _, _ = stats.beta.fit(x, floc=0.0, fscale=1.0)
    except stats.FitError as exc:  # e.g. every grain equally round: no spread to fit
        raise GrainsegError(f"cannot fit beta distribution: {exc}") from None
    return Fit("beta", {"a": float(a), "b": float(b), "mean": float(a / (a + b))}, x.size)


def fit_exponential(size: np.ndarray, min_size: float = 0.0) -> Fit:
    """Exponential distribution of grain size starting at ``min_size`` (the paper's Fig. 7d).

    Parameters
    ----------
    size : (N,) float array
        Grain sizes (ECD, px or µm), all >= ``min_size``.
    min_size : float
        Location of the exponential: the smallest size kept by the minimum-diameter filter.

    Returns
    -------
    Fit
        ``params = {"loc", "scale"}``; the maximum-likelihood scale is ``mean(size) - loc``.
    """
    x = _check(size, 2, "exponential distribution")
    loc = float(min(min_size, x.min()))
    _, scale = stats.expon.fit(x, floc=loc)
    return Fit("exponential", {"loc": loc, "scale": float(scale)}, x.size)


def fit_lognormal(size: np.ndarray) -> Fit:
    """Log-normal distribution of grain size (location fixed at 0).

    Returns
    -------
    Fit
        ``params = {"mu", "sigma"}``: mean and standard deviation of ``log(size)``.
    """
    x = _check(size, 2, "log-normal distribution")
    if np.any(x <= 0):
        raise GrainsegError("cannot fit a log-normal distribution to sizes <= 0")
    sigma, _, scale = stats.lognorm.fit(x, floc=0.0)
    return Fit("lognormal", {"mu": float(np.log(scale)), "sigma": float(sigma)}, x.size)
