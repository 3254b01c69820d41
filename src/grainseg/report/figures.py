"""Overlays of the paper's figures drawn from arrays: boundaries, patch grids, confusion maps.

Every function returns an (H, W, 3) uint8 image; `grainseg.io.png` writes or encodes it.
"""

from __future__ import annotations

import numpy as np

from grainseg.overlay import overlay_rgb

# Fig. 2 colours: true negative black, true positive cyan, false positive yellow, false negative red.
CONFUSION_COLOURS = {
    "TN": (0, 0, 0), "TP": (0, 255, 255), "FP": (255, 255, 0), "FN": (255, 0, 0),
}


def stretch_01(image: np.ndarray) -> np.ndarray:
    """(H, W) image of any dtype -> float32 0..1, stretched between the 1st and 99th percentiles."""
    values = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(values, [1, 99])
    return np.clip((values - lo) / max(hi - lo, 1e-12), 0, 1)


def grey_to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) image of any dtype -> (H, W, 3) uint8, stretched (`stretch_01`)."""
    return np.repeat((stretch_01(image) * 255).astype(np.uint8)[..., None], 3, axis=2)


def boundary_overlay(image: np.ndarray, boundary: np.ndarray) -> np.ndarray:
    """Fig. 1a: the micrograph stretched in grey with the boundary pixels painted as in every
    grainseg overlay (`grainseg.overlay.overlay_rgb`); (H, W, 3) uint8."""
    return overlay_rgb(stretch_01(image), boundary)


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
