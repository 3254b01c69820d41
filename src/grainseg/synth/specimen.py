"""A complete synthetic specimen: SEM image, EBSD map, drift between them, and exact truth."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from orix.quaternion import Rotation

from grainseg.errors import GrainsegError
from grainseg.io.atomic import atomic_path, ensure_output_dir, write_json_atomic
from grainseg.io.ebsd import write_ebsd
from grainseg.io.ebsd.map import EBSDMap
from grainseg.io.tiff import write_tiff
from grainseg.layout import synth_names
from grainseg.synth.drift import EbsdFrame, random_frame
from grainseg.synth.ebsd_sim import simulate_ebsd
from grainseg.synth.microstructure import (
    absorb_small_pieces,
    boundary_mask,
    grain_field,
    relabel_connected,
)
from grainseg.synth.sem_contrast import (
    SemStyle,
    blend_neighbour_levels,
    grain_grey_levels,
    hard_style,
    random_style,
    render_sem,
)
from grainseg.synth.twins import add_twin_bands, random_orientations

#: Smallest and largest image side accepted, pixels.
MIN_SIDE_PX, MAX_SIDE_PX = 32, 16384
#: Smallest mean grain diameter accepted, pixels.
MIN_GRAIN_PX = 8.0
#: Looks `generate_specimen` can draw (see its docstring).
APPEARANCES = ("default", "random", "hard")


@dataclass
class Specimen:
    """A synthetic SEM + EBSD specimen with its truth.

    Attributes
    ----------
    sem : (H, W) uint16
        The SEM image (data bar, if any, painted over the bottom ``data_bar_rows`` rows).
    pixel_size_um : float
        SEM pixel size, micrometres.
    grain_ids : (H, W) uint32
        Grain IDs 1..n on the SEM grid; every ID is one 4-connected region; twin lamellae are
        grains of their own.
    boundaries : (H, W) uint8
        255 where a 4-neighbour has a different grain ID (2 px wide), else 0.
    twins : (H, W) uint8
        255 on boundary pixels between a twin lamella and its parent (Sigma3), else 0.
    ebsd_col, ebsd_row : (H, W) float32
        EBSD map coordinates (grid units: column j, row i of the map) of each SEM pixel.
    drift_col_px, drift_row_px : (H, W) float32
        Drift part of that mapping at each SEM pixel, in SEM pixels (|drift| <= max_drift_px).
    ebsd : EBSDMap
        The EBSD map on its own grid.
    orientations : (n + 1, 4) float64
        Quaternion (w, x, y, z; orix convention, sample -> crystal) per grain ID; row 0 unused.
    is_twin : (n + 1,) bool
        True for twin lamellae.
    family : (n + 1,) int64
        Parent-grain number shared by a parent and its twins (-1 for row 0).
    frame : EbsdFrame
        The EBSD frame (affine + drift) the maps come from.
    style : SemStyle
        SEM appearance used.
    data_bar_rows : int
        Height of the data bar, pixels (0 = none).
    params : dict
        Every parameter the specimen was made with, seed included.
    """

    sem: np.ndarray
    pixel_size_um: float
    grain_ids: np.ndarray
    boundaries: np.ndarray
    twins: np.ndarray
    ebsd_col: np.ndarray
    ebsd_row: np.ndarray
    drift_col_px: np.ndarray
    drift_row_px: np.ndarray
    ebsd: EBSDMap
    orientations: np.ndarray
    is_twin: np.ndarray
    family: np.ndarray
    frame: EbsdFrame
    style: SemStyle
    data_bar_rows: int
    params: dict = field(default_factory=dict)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise GrainsegError(message)


def _pair_mask(ids: np.ndarray, family: np.ndarray, is_twin: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of the same family but the other twin state (Sigma3 pairs)."""
    fam = family[ids]
    twin = is_twin[ids]
    out = np.zeros(ids.shape, dtype=bool)
    for a, b in (
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
    ):
        pair = (ids[a] != ids[b]) & (fam[a] == fam[b]) & (twin[a] != twin[b])
        out[a] |= pair
        out[b] |= pair
    return out


def check_specimen_args(
    height: int,
    width: int,
    seed: int,
    *,
    grain_size_um: float,
    pixel_size_um: float,
    ebsd_step_px: float,
    max_drift_px: float,
    twin_fraction: float,
    appearance: str,
) -> None:
    """Raise `GrainsegError` naming the first impossible argument of `generate_specimen`."""
    _check(
        height >= MIN_SIDE_PX and width >= MIN_SIDE_PX,
        f"size {width}x{height}: each side must be at least {MIN_SIDE_PX} pixels",
    )
    _check(
        height <= MAX_SIDE_PX and width <= MAX_SIDE_PX,
        f"size {width}x{height}: each side must be at most {MAX_SIDE_PX} pixels",
    )
    _check(seed >= 0, f"seed {seed}: must not be negative")
    _check(grain_size_um > 0, f"grain size {grain_size_um} um: must be positive")
    _check(pixel_size_um > 0, f"pixel size {pixel_size_um} um: must be positive")
    _check(
        grain_size_um / pixel_size_um >= MIN_GRAIN_PX,
        f"grain size {grain_size_um} um: at least {MIN_GRAIN_PX:g} pixels of "
        f"{pixel_size_um} um are needed",
    )
    _check(ebsd_step_px >= 1, f"EBSD step {ebsd_step_px} px: must be at least 1 pixel")
    _check(
        ebsd_step_px <= min(height, width) / 4,
        f"EBSD step {ebsd_step_px} px: must be at most a quarter of the shorter image side "
        f"({min(height, width) / 4:g} px), for a map of at least 4 x 4 points",
    )
    _check(max_drift_px >= 0, f"max drift {max_drift_px} px: must not be negative")
    _check(
        max_drift_px <= 0.5 * max(height, width),
        f"max drift {max_drift_px} px: must be at most half the image side",
    )
    _check(0 <= twin_fraction <= 1, f"twin fraction {twin_fraction}: must be within 0..1")
    _check(
        appearance in APPEARANCES,
        f"appearance {appearance!r}: use one of {', '.join(APPEARANCES)}",
    )


def generate_specimen(
    height: int,
    width: int,
    seed: int,
    *,
    grain_size_um: float = 15.0,
    pixel_size_um: float = 0.05,
    ebsd_step_px: float = 3.0,
    max_drift_px: float = 40.0,
    twin_fraction: float = 0.4,
    appearance: str = "default",
    ebsd_noise_deg: float = 0.5,
    size_sigma: float = 0.4,
    curvature: float = 0.06,
) -> Specimen:
    """Make one synthetic specimen.

    Parameters
    ----------
    height, width : int
        SEM image size in pixels (each at least `MIN_SIDE_PX`).
    seed : int
        Random seed; the same arguments and seed give the same specimen.
    grain_size_um : float
        Mean equivalent-circle diameter of the parent grains, micrometres.
    pixel_size_um : float
        SEM pixel size, micrometres.
    ebsd_step_px : float
        EBSD step in SEM pixels (>= 1).
    max_drift_px : float
        Bound on the SEM-EBSD drift, SEM pixels (>= 0).
    twin_fraction : float
        Fraction of grains holding annealing twins (0..1).
    appearance : {"default", "random", "hard"}
        "default" matches the real images in ../shared/data/sem; "random" draws the SEM look,
        the grain size (x 0.3..1.6), twin density, grain-size spread, boundary curvature and EBSD
        noise widely, for training data; "hard" is "random" with the failure modes of boundary
        detection made common (`hard_style`: a third or more of the grains a step below the
        pixel noise from a neighbour, pits with bright rims, contamination rings; plus wavy,
        concave grains and many twins, partial ones included). Every boundary keeps its truth
        label however faint it is in the image: the EBSD map sees it.
    ebsd_noise_deg : float
        EBSD orientation noise, degrees.
    size_sigma : float
        Spread of log grain radius.
    curvature : float
        Boundary bending as a fraction of the grain diameter.

    Returns
    -------
    Specimen

    Raises
    ------
    GrainsegError
        For impossible arguments.
    """
    check_specimen_args(
        height,
        width,
        seed,
        grain_size_um=grain_size_um,
        pixel_size_um=pixel_size_um,
        ebsd_step_px=ebsd_step_px,
        max_drift_px=max_drift_px,
        twin_fraction=twin_fraction,
        appearance=appearance,
    )

    # A seventh stream for the "hard" draws leaves the first six, and so every "default" and
    # "random" specimen, as they were.
    streams = np.random.SeedSequence(seed).spawn(7)
    rng_look, rng_frame, rng_grains, rng_twins, rng_sem, rng_ebsd, rng_hard = (
        np.random.default_rng(s) for s in streams
    )
    mean_diameter_px = grain_size_um / pixel_size_um
    waviness = 0.0
    if appearance in ("random", "hard"):
        style = random_style(rng_look)
        mean_diameter_px *= float(np.exp(rng_look.uniform(np.log(0.3), np.log(1.6))))
        twin_fraction = float(rng_look.uniform(0.0, 0.9))
        size_sigma = float(rng_look.uniform(0.2, 0.6))
        curvature = float(rng_look.uniform(0.0, 0.12))
        ebsd_noise_deg = float(rng_look.uniform(0.3, 1.0))
        if appearance == "hard":
            style = hard_style(style, rng_hard)
            twin_fraction = float(rng_hard.uniform(0.4, 0.9))
            curvature = float(rng_hard.uniform(0.08, 0.2))
            waviness = float(rng_hard.uniform(0.04, 0.1))
    else:
        style = SemStyle()
    mean_diameter_px = float(np.clip(mean_diameter_px, MIN_GRAIN_PX, 4.0 * max(height, width)))

    # The EBSD frame first: the grain map must cover every point the beam visits.
    frame = random_frame((height, width), ebsd_step_px, max_drift_px, rng_frame)
    e_row, e_col = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]].astype(np.float64)
    x_col, x_row = frame.sem_position(e_col, e_row)
    margin = int(np.ceil(ebsd_step_px)) + 2
    pad_top = int(max(0, np.ceil(-x_row.min()))) + margin
    pad_left = int(max(0, np.ceil(-x_col.min()))) + margin
    pad_bottom = int(max(0, np.ceil(x_row.max() - (height - 1)))) + margin
    pad_right = int(max(0, np.ceil(x_col.max() - (width - 1)))) + margin
    canvas_shape = (height + pad_top + pad_bottom, width + pad_left + pad_right)

    parents = grain_field(
        canvas_shape,
        mean_diameter_px,
        rng_grains,
        size_sigma=size_sigma,
        curvature=curvature,
        waviness=waviness,
    )
    parent_q = random_orientations(int(parents.max()) + 1, rng_grains)
    labels, label_q, label_twin, label_family = add_twin_bands(
        parents, parent_q, rng_twins, twin_fraction=twin_fraction, mean_diameter_px=mean_diameter_px
    )

    labels = absorb_small_pieces(labels, max(9, int((0.05 * mean_diameter_px) ** 2)))
    crop = labels[pad_top : pad_top + height, pad_left : pad_left + width]
    grain_ids, source = relabel_connected(crop)
    source[0] = 0
    orientations = label_q[source]
    orientations[0] = (1.0, 0.0, 0.0, 0.0)
    is_twin = label_twin[source]
    is_twin[0] = False
    family = label_family[source]
    family[0] = -1

    boundary = boundary_mask(grain_ids)
    twin_boundary = _pair_mask(grain_ids, family, is_twin)
    grey = grain_grey_levels(orientations, style, rng_sem)
    grey = blend_neighbour_levels(grain_ids, grey, style, rng_hard)
    sem, pits, bar_rows = render_sem(
        grain_ids, grey, boundary, twin_boundary, style, rng_sem, mean_diameter_px=mean_diameter_px
    )

    ebsd = simulate_ebsd(
        labels,
        (pad_top, pad_left),
        label_q,
        pits,
        frame,
        ebsd_step_px * pixel_size_um,
        rng_ebsd,
        noise_deg=ebsd_noise_deg,
    )

    ebsd_col, ebsd_row = frame.ebsd_coordinates(
        np.arange(width, dtype=np.float64)[None, :], np.arange(height, dtype=np.float64)[:, None]
    )
    drift_col, drift_row = frame.drift_px(frame.scan_time(ebsd_col, ebsd_row))

    params = {
        "height_px": height,
        "width_px": width,
        "seed": seed,
        "grain_size_um": grain_size_um,
        "mean_grain_diameter_px": mean_diameter_px,
        "pixel_size_um": pixel_size_um,
        "ebsd_step_px": ebsd_step_px,
        "ebsd_step_um": ebsd_step_px * pixel_size_um,
        "max_drift_px": max_drift_px,
        "twin_fraction": twin_fraction,
        "appearance": appearance,
        "ebsd_noise_deg": ebsd_noise_deg,
        "size_sigma": size_sigma,
        "curvature": curvature,
        "waviness": waviness,
    }
    return Specimen(
        sem=sem,
        pixel_size_um=float(pixel_size_um),
        grain_ids=grain_ids,
        boundaries=np.where(boundary, 255, 0).astype(np.uint8),
        twins=np.where(twin_boundary, 255, 0).astype(np.uint8),
        ebsd_col=ebsd_col.astype(np.float32),
        ebsd_row=ebsd_row.astype(np.float32),
        drift_col_px=drift_col.astype(np.float32),
        drift_row_px=drift_row.astype(np.float32),
        ebsd=ebsd,
        orientations=orientations,
        is_twin=is_twin,
        family=family,
        frame=frame,
        style=style,
        data_bar_rows=bar_rows,
        params=params,
    )


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Uncompressed .npz with fixed zip timestamps, so equal arrays give equal bytes."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue()
            )


def specimen_truth(specimen: Specimen, name: str, ebsd_file: str) -> dict:
    """The truth JSON: parameters, seed, frame, SEM style and each grain's orientation."""
    ids = np.arange(1, len(specimen.orientations))
    euler = np.rad2deg(Rotation(specimen.orientations[1:]).to_euler())
    grains = [
        {
            "id": int(i),
            "family": int(specimen.family[i]),
            "twin": bool(specimen.is_twin[i]),
            "quaternion_wxyz": np.round(specimen.orientations[i], 10).tolist(),
            "euler_bunge_deg": np.round(euler[i - 1], 6).tolist(),
        }
        for i in ids
    ]
    return {
        "name": name,
        "generator": "grainseg synth",
        "params": specimen.params,
        "conventions": {
            "orientations": "orix: sample -> crystal, Bunge ZXZ Euler angles",
            "sample_axes": "x along image columns, y along image rows (down), z into the specimen",
            "drift_npz": "ebsd_col/ebsd_row: EBSD grid coordinates of each SEM pixel; "
            "drift_col_px/drift_row_px: drift part, SEM pixels",
            "boundaries": "255 where a 4-neighbour has a different grain ID",
        },
        "ebsd_file": ebsd_file,
        "ebsd_shape": list(specimen.ebsd.shape),
        "ebsd_step_um": specimen.ebsd.step_um,
        "frame": specimen.frame.to_dict(),
        "sem_style": specimen.style.to_dict(),
        "data_bar_rows": specimen.data_bar_rows,
        "n_grains": len(grains),
        "n_twins": int(specimen.is_twin.sum()),
        "grains": grains,
    }


def write_specimen(
    specimen: Specimen, out_dir: str | os.PathLike, name: str, ebsd_format: str = "ctf"
) -> dict[str, Path]:
    """Write a specimen's files into ``out_dir`` (each atomically).

    Files (`grainseg.layout.synth_names`): ``NAME_sem.tif``, ``NAME_ebsd.ctf|.ang``,
    ``NAME_truth_grains.tif``, ``NAME_truth_boundaries.tif``, ``NAME_truth_twins.tif``,
    ``NAME_truth_drift.npz``, ``NAME_truth.json``.

    Returns
    -------
    dict
        Role -> path of every file written.
    """
    _check(ebsd_format in ("ctf", "ang"), f"EBSD format {ebsd_format!r}: use ctf or ang")
    out = ensure_output_dir(out_dir)
    paths = {role: out / file for role, file in synth_names(name, ebsd_format).items()}
    size = specimen.pixel_size_um
    write_tiff(paths["sem"], specimen.sem, pixel_size_um=size)
    write_ebsd(paths["ebsd"], specimen.ebsd)
    write_tiff(paths["grains"], specimen.grain_ids, pixel_size_um=size)
    write_tiff(paths["boundaries"], specimen.boundaries, pixel_size_um=size)
    write_tiff(paths["twins"], specimen.twins, pixel_size_um=size)
    _write_npz(
        paths["drift"],
        {
            "ebsd_col": specimen.ebsd_col,
            "ebsd_row": specimen.ebsd_row,
            "drift_col_px": specimen.drift_col_px,
            "drift_row_px": specimen.drift_row_px,
        },
    )
    write_json_atomic(paths["truth"], specimen_truth(specimen, name, paths["ebsd"].name))
    return paths
