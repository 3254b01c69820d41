"""PNG files and bytes from matplotlib figures and RGB arrays, written atomically."""

from __future__ import annotations

import io
import os

import numpy as np
from matplotlib.figure import Figure

from grainseg.io.atomic import atomic_path


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
