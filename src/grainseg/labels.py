"""Labels on the SEM grid from a registered EBSD map: boundary mask, ignore mask, grain IDs.

The EBSD map says where boundaries are: between neighbouring points that belong to different
regions of one orientation (grains reconstructed at the low-angle threshold, regions under
`MIN_GRAIN_POINTS` points dissolved, small not-indexed islands filled, as
`grainseg.ebsd.grains.reconstruct_grains` does), twin boundaries left out on request. A low-angle
boundary that does not close a region is therefore not drawn. The registration says which EBSD
point lies under each SEM pixel.
Two neighbouring SEM pixels straddle a boundary when they fall on different EBSD points and the
EBSD segment(s) between those points are drawn. The boundary is then widened to ``width_px``
with a Euclidean distance transform, so a line has the same width in every direction.

Ignore mask (255 = no label can be trusted): SEM pixels outside the EBSD map or on not-indexed /
unassigned points, grown by the half width plus one pixel (a boundary next to a hole cannot be
told), and the instrument's data bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from grainseg.ebsd.boundaries import TWIN, boundary_classes
from grainseg.ebsd.grains import reconstruct_grains
from grainseg.ebsd.misorientation import neighbour_misorientation_deg
from grainseg.errors import ParameterError
from grainseg.io.ebsd.map import EBSDMap
from grainseg.register.mapping import PixelMapping, pixel_grid

#: Regions of fewer EBSD points are dissolved into their neighbours before drawing: a single
#: mis-indexed point is not a grain, and drawing around it would put a false ring in the label.
MIN_GRAIN_POINTS = 4


@dataclass
class EbsdLabelSource:
    """What the labels need from an EBSD map, on the EBSD grid.

    Attributes
    ----------
    drawn_right : (R, C-1) bool
        The edge between (r, c) and (r, c+1) is a boundary to draw.
    drawn_down : (R-1, C) bool
        The segment between (r, c) and (r+1, c) is a boundary to draw.
    grain_ids : (R, C) uint32
        Grains (0 = unassigned) carried onto the SEM grid.
    segments : (R, C) int64
        Regions of one orientation (grains at the low-angle threshold, twins apart), 0 = none:
        what the registration matches against the SEM grey levels.
    usable : (R, C) bool
        Points that carry a label (in a region; large not-indexed areas are not).
    """

    drawn_right: np.ndarray
    drawn_down: np.ndarray
    grain_ids: np.ndarray
    segments: np.ndarray
    usable: np.ndarray


def label_source(
    ebsd: EBSDMap, lagb_deg: float = 2.0, hagb_deg: float = 10.0, twins: bool = True
) -> EbsdLabelSource:
    """Boundary classes, grains and registration segments of an EBSD map.

    Parameters
    ----------
    ebsd : EBSDMap
    lagb_deg : float
        Low-angle boundaries from this misorientation (degrees) are drawn; equal to
        ``hagb_deg`` to draw none.
    hagb_deg : float
        High-angle threshold (degrees); grains are reconstructed at it.
    twins : bool
        Draw Sigma 3 twin boundaries (and keep twins as grains of their own); else twins are
        merged into their parents and their boundaries are not drawn.

    Raises
    ------
    ParameterError
        If the thresholds are not 0 < lagb_deg <= hagb_deg.
    """
    if not 0 < lagb_deg <= hagb_deg:
        raise ParameterError(
            "lagb_deg", f"{lagb_deg}: must be > 0 and at most the high-angle threshold ({hagb_deg})"
        )
    misorientation = neighbour_misorientation_deg(ebsd)
    classes = boundary_classes(ebsd, lagb_deg, hagb_deg, misorientation=misorientation)
    common = {"min_size": MIN_GRAIN_POINTS, "misorientation": misorientation, "classes": classes}
    segments = reconstruct_grains(ebsd, lagb_deg, **common).astype(np.int64)
    grain_ids = reconstruct_grains(ebsd, hagb_deg, merge_twins=not twins, **common)
    drawn = []
    for axis, cls in ((1, classes[0]), (0, classes[1])):
        a = segments[:, :-1] if axis == 1 else segments[:-1]
        b = segments[:, 1:] if axis == 1 else segments[1:]
        edge = (a != b) & (a > 0) & (b > 0)
        drawn.append(edge if twins else edge & (cls != TWIN))
    return EbsdLabelSource(
        drawn_right=drawn[0],
        drawn_down=drawn[1],
        grain_ids=grain_ids.astype(np.uint32),
        segments=segments,
        usable=segments > 0,
    )


def _nearest_points(
    mapping: PixelMapping, shape: tuple[int, int], grid_shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest EBSD (row, col) under every SEM pixel and whether it lies inside the map."""
    x, y = pixel_grid(shape)
    u, v = mapping(x, y)
    rows, cols = grid_shape
    ri = np.rint(v)
    ci = np.rint(u)
    inside = (ri >= 0) & (ri < rows) & (ci >= 0) & (ci < cols)
    ri = np.where(inside, ri, 0).astype(np.int64)
    ci = np.where(inside, ci, 0).astype(np.int64)
    return ri, ci, inside


def _drawn_between(
    source: EbsdLabelSource, r1: np.ndarray, c1: np.ndarray, r2: np.ndarray, c2: np.ndarray
) -> np.ndarray:
    """Whether the EBSD points (r1, c1) and (r2, c2) are separated by a drawn boundary.

    Neighbours and diagonal neighbours are judged by the drawn segments (a diagonal step goes
    along the row first, then the column); points further apart (SEM coarser than EBSD) by
    their grain IDs.
    """
    dr = r2 - r1
    dc = c2 - c1
    near = (np.abs(dr) <= 1) & (np.abs(dc) <= 1)
    rows, cols = source.grain_ids.shape
    out = np.zeros(r1.shape, dtype=bool)
    horizontal = near & (dc != 0)
    right = source.drawn_right[r1[horizontal], np.minimum(c1, c2)[horizontal]]
    out[horizontal] |= right
    vertical = near & (dr != 0)
    if rows > 1:
        down = source.drawn_down[np.minimum(r1, r2)[vertical], c2[vertical]]
        out[vertical] |= down
    far = ~near
    out[far] = source.grain_ids[r1[far], c1[far]] != source.grain_ids[r2[far], c2[far]]
    return out


def render_labels(
    mapping: PixelMapping,
    shape: tuple[int, int],
    source: EbsdLabelSource,
    width_px: int = 3,
    valid_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boundary label, ignore mask and grain IDs on the SEM grid.

    Parameters
    ----------
    mapping : PixelMapping
        SEM pixel -> EBSD point (from `grainseg.register.register_ebsd`).
    shape : (H, W)
        SEM image size, pixels.
    source : EbsdLabelSource
        From `label_source`.
    width_px : int
        Boundary line width, SEM pixels (>= 1).
    valid_rows : int, optional
        Rows from this one down are the data bar (ignored); None = no bar.

    Returns
    -------
    label : (H, W) bool
        True on boundaries (`grainseg.io.tiff.write_mask` writes it as 0/255).
    ignore : (H, W) bool
        True where no label can be trusted.
    grain_ids : (H, W) uint32
        EBSD grain IDs; 0 on boundaries and ignored pixels.
    """
    if width_px < 1:
        raise ParameterError("width_px", f"must be at least 1, got {width_px}")
    ri, ci, inside = _nearest_points(mapping, shape, source.grain_ids.shape)
    usable = inside & source.usable[ri, ci]
    seed = np.zeros(shape, dtype=bool)
    for axis in (0, 1):
        a = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        b = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        pair = usable[a] & usable[b] & ((ri[a] != ri[b]) | (ci[a] != ci[b]))
        drawn = np.zeros(pair.shape, dtype=bool)
        drawn[pair] = _drawn_between(source, ri[a][pair], ci[a][pair], ri[b][pair], ci[b][pair])
        seed[a] |= drawn
        if width_px % 2 == 0:
            seed[b] |= drawn
    radius = (width_px - 1) / 2 if width_px % 2 else (width_px - 2) / 2
    label = ndimage.distance_transform_edt(~seed) <= radius if seed.any() else seed
    untrusted = ~usable
    if valid_rows is not None:
        untrusted[valid_rows:] = True
    grow = int(np.ceil(width_px / 2)) + 1
    ignore = ndimage.distance_transform_edt(~untrusted) <= grow if untrusted.any() else untrusted
    if valid_rows is not None:
        label[valid_rows:] = False
    grain_ids = np.where(usable & ~label & ~ignore, source.grain_ids[ri, ci], 0).astype(np.uint32)
    return label, ignore, grain_ids
