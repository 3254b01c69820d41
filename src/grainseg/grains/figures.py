"""Figures of grain statistics drawn from arrays: size and aspect-ratio distributions with their
fitted PDFs (the paper's Figs. 6 and 7) and boundary widths (Fig. 5).

Every function returns a `matplotlib.figure.Figure` made without pyplot (no global state, no
display needed); `grainseg.io.png` writes or encodes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from grainseg.grains.fits import Fit

_SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def distribution_figure(samples: Sequence[np.ndarray], labels: Sequence[str],
                        fits: Sequence[Fit | None], xlabel: str, bins: np.ndarray,
                        title: str = "") -> Figure:
    """Histograms (as densities) of one quantity for several maps, with fitted PDFs (Figs. 6, 7).

    Parameters
    ----------
    samples : sequence of (N_i,) float arrays
    labels : sequence of str
        Legend names, one per sample.
    fits : sequence of Fit or None
        Fitted PDF drawn over each histogram (None: no curve).
    xlabel : str
        Axis label with unit, e.g. ``"ECD (µm)"``.
    bins : (K + 1,) float array
        Common bin edges.
    title : str
        Title, e.g. the Jensen-Shannon distances.
    """
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.add_subplot()
    grid = np.linspace(bins[0], bins[-1], 400)
    for i, (values, label, fit) in enumerate(zip(samples, labels, fits, strict=True)):
        colour = _SERIES_COLOURS[i % len(_SERIES_COLOURS)]
        ax.hist(values, bins=bins, density=True, alpha=0.35, color=colour,
                label=f"{label} (n = {len(values)})")
        if fit is not None:
            params = ", ".join(f"{k} = {v:.3g}" for k, v in fit.params.items())
            ax.plot(grid, fit.pdf(grid), color=colour, lw=2, label=f"{fit.family} fit: {params}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability density")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return fig


def width_figure(widths: Sequence[np.ndarray], labels: Sequence[str],
                 difference_px: np.ndarray | None = None) -> Figure:
    """Boundary width distributions (Fig. 5a, b) and, when given, their difference (Fig. 5c)."""
    panels = 2 if difference_px is not None and difference_px.size else 1
    fig = Figure(figsize=(5.5 * panels, 4.0))
    ax = fig.add_subplot(1, panels, 1)
    top = max([float(np.max(w)) for w in widths if len(w)] + [1.0])
    bins = np.arange(0.5, np.ceil(top) + 1.5, 1.0)
    for i, (values, label) in enumerate(zip(widths, labels, strict=True)):
        mean = f", mean {np.mean(values):.1f} px" if len(values) else ""
        ax.hist(values, bins=bins, density=True, alpha=0.45,
                color=_SERIES_COLOURS[i % len(_SERIES_COLOURS)], label=f"{label}{mean}")
    ax.set_xlabel("boundary width (px)")
    ax.set_ylabel("fraction of boundary length")
    ax.legend(fontsize=8)
    if panels == 2:
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.hist(difference_px, bins=40, color="#555555")
        ax2.axvline(float(np.mean(difference_px)), color="#d62728",
                    label=f"mean {np.mean(difference_px):+.1f} px, max {np.max(difference_px):+.1f}")
        ax2.set_xlabel("width difference to reference (px)")
        ax2.set_ylabel("skeleton pixels")
        ax2.legend(fontsize=8)
    return fig
