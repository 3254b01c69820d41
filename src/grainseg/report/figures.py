"""The paper's figures drawn from arrays: distributions with fits, widths, overlays.

Every plotting function returns a `matplotlib.figure.Figure` made without pyplot (no global state,
no display needed); `save_png` writes one atomically and `png_bytes` renders one for the HTML page.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from grainseg.grains.fits import Fit
from grainseg.io.atomic import atomic_path

# Fig. 2 colours: true negative black, true positive cyan, false positive yellow, false negative red.
CONFUSION_COLOURS = {
    "TN": (0, 0, 0), "TP": (0, 255, 255), "FP": (255, 255, 0), "FN": (255, 0, 0),
}
_SERIES_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def save_png(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> None:
    """Write the figure as a PNG file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes(fig, dpi))


def save_rgb_png(rgb: np.ndarray, path: str | os.PathLike) -> None:
    """Write an (H, W, 3) uint8 image as a PNG file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(rgb_png_bytes(rgb))


def rgb_png_bytes(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 image (or (H, W) grey) encoded as PNG bytes, pixel for pixel."""
    from matplotlib.image import imsave

    buffer = io.BytesIO()
    imsave(buffer, np.asarray(rgb), format="png", cmap="gray" if np.ndim(rgb) == 2 else None)
    return buffer.getvalue()


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


def grey_to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) image of any dtype -> (H, W, 3) uint8, stretched between the 1st and 99th percentiles."""
    values = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(values, [1, 99])
    scaled = np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1)
    return np.repeat((scaled * 255).astype(np.uint8)[..., None], 3, axis=2)


def boundary_overlay(image: np.ndarray, boundary: np.ndarray,
                     colour: tuple[int, int, int] = (255, 40, 40)) -> np.ndarray:
    """Fig. 1a: the micrograph in grey with boundary pixels painted in ``colour``; (H, W, 3) uint8."""
    rgb = grey_to_rgb(image)
    rgb[np.asarray(boundary, dtype=bool)] = colour
    return rgb


def patch_grid_overlay(image: np.ndarray, patch_px: int,
                       colour: tuple[int, int, int] = (255, 210, 0)) -> np.ndarray:
    """Fig. 1b: the micrograph with the non-overlapping ``patch_px`` tiling drawn on it."""
    rgb = grey_to_rgb(image)
    rgb[::patch_px, :] = colour
    rgb[:, ::patch_px] = colour
    return rgb


def confusion_overlay(prediction: np.ndarray, truth: np.ndarray,
                      ignore: np.ndarray | None = None) -> np.ndarray:
    """Fig. 2: TN black, TP cyan, FP yellow, FN red (ignored pixels grey); (H, W, 3) uint8."""
    pred = np.asarray(prediction, dtype=bool)
    true = np.asarray(truth, dtype=bool)
    rgb = np.zeros((*pred.shape, 3), dtype=np.uint8)
    rgb[pred & true] = CONFUSION_COLOURS["TP"]
    rgb[pred & ~true] = CONFUSION_COLOURS["FP"]
    rgb[~pred & true] = CONFUSION_COLOURS["FN"]
    if ignore is not None:
        rgb[np.asarray(ignore, dtype=bool)] = (128, 128, 128)
    return rgb
