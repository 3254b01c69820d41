"""Segment micrographs too large for memory (mosaics of 20000 x 20000 pixels and more).

The input is read a band of rows at a time straight from the file when the TIFF stores it
uncompressed in one piece (what `tifffile.memmap` needs) or from a chunked zarr / OME-Zarr
store (`grainseg.io.omezarr`); other files are read whole. The
preprocessing is `grainseg.preprocess.preprocess_sem` done per band: the median filter gets a
halo of real neighbours (so it equals the whole-image filter exactly) and the 1st/99th
percentiles come from a grid of sample windows (the whole image when it is small). The
probability goes into an uncompressed float32 TIFF written in place band by band, and the
network is built from it in overlapping blocks (`grainseg.infer.postprocess.network_blockwise`).
Every file mapping is opened for one band and closed again, so resident memory stays bounded
by the band and block sizes, not by the image.
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

from grainseg.errors import GrainsegError, input_error
from grainseg.infer.postprocess import network_blockwise
from grainseg.infer.tiling import Predictor, choose_tiling, predict_tiled
from grainseg.io.atomic import atomic_dir, atomic_path
from grainseg.io.omezarr import CHUNK_PX, ZarrPlane, create_ome_zarr, is_zarr, open_zarr_image
from grainseg.io.tiff import (
    checked_file_pixel_size_um,
    pixel_size_um_from_tags,
    read_micrograph,
    tiff_tags,
)
from grainseg.overlay import overlay_rgb
from grainseg.preprocess import data_bar_start_row

#: Images with more pixels than this go through the bounded-memory path.
LARGE_IMAGE_PX = 2**25
#: Rows at the bottom searched for a data bar in a large image.
DATA_BAR_SEARCH_ROWS = 4096
#: Rows of probability one Dask task computes when a mosaic is split across workers (a multiple
#: of the zarr chunk, so that no two tasks write one chunk; large against a tile, so that the
#: tiles shared by neighbouring bands, computed twice, are a small part).
BAND_PX = 8 * CHUNK_PX
#: Longest side of the overlay PNG of a large image (boundaries are max-pooled to it).
OVERLAY_MAX_PX = 4096


class TiffBands:
    """Band-wise read/write access to the pixels of an uncompressed, contiguous 2-D TIFF.

    Each call maps only the rows it needs and unmaps them on return.
    """

    def __init__(self, path: Path, shape: tuple[int, int], dtype: np.dtype, offset: int):
        self.path, self.shape, self.dtype, self.offset = Path(path), shape, np.dtype(dtype), offset

    @classmethod
    def open(cls, path: str | os.PathLike) -> TiffBands | None:
        """Map an existing TIFF; None when its first page cannot be memory-mapped as 2-D."""
        try:
            mapped = tifffile.memmap(path, mode="r")
        except Exception:  # noqa: BLE001 - not mappable for any reason: read it whole instead
            return None
        if mapped.ndim != 2:
            return None
        bands = cls(Path(path), mapped.shape, mapped.dtype, int(mapped.offset))
        del mapped
        return bands

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        shape: tuple[int, int],
        dtype: np.dtype,
        pixel_size_um: float | None,
    ) -> TiffBands:
        """Create an uncompressed TIFF of zeros with grainseg's pixel-size metadata."""
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        mapped = tifffile.memmap(path, shape=shape, dtype=dtype, bigtiff=nbytes > 2**31,
                                 **tiff_tags(pixel_size_um))
        bands = cls(Path(path), tuple(shape), mapped.dtype, int(mapped.offset))
        mapped.flush()
        del mapped
        return bands

    def _rows(self, y0: int, y1: int, mode: str) -> np.memmap:
        width = self.shape[1]
        return np.memmap(
            self.path, dtype=self.dtype, mode=mode, shape=(y1 - y0, width),
            offset=self.offset + y0 * width * self.dtype.itemsize,
        )

    def read(self, y0: int, y1: int, x0: int = 0, x1: int | None = None) -> np.ndarray:
        """Copy of rows ``y0:y1``, columns ``x0:x1``."""
        rows = self._rows(y0, y1, "r")
        block = np.array(rows[:, x0:x1])
        del rows
        return block

    def write(self, y0: int, x0: int, block: np.ndarray) -> None:
        """Store ``block`` with its top-left corner at (y0, x0)."""
        rows = self._rows(y0, y0 + block.shape[0], "r+")
        rows[:, x0 : x0 + block.shape[1]] = block
        rows.flush()
        del rows


class _InMemory:
    """The `TiffBands` read interface over an array already in memory."""

    def __init__(self, image: np.ndarray):
        self.image, self.shape = image, image.shape

    def read(self, y0: int, y1: int, x0: int = 0, x1: int | None = None) -> np.ndarray:
        return self.image[y0:y1, x0:x1]


def image_size_px(path: str | os.PathLike) -> int:
    """Pixels in the first page of a TIFF (without reading it), for choosing the path.

    Raises
    ------
    GrainsegError
        If the file is missing or not a readable TIFF.
    """
    path = Path(path)
    if not path.is_file():
        raise input_error(path, "file not found")
    try:
        with tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise input_error(path, "TIFF is damaged or truncated (no image directory)")
            shape = tif.pages[0].shape
    except GrainsegError:
        raise
    except tifffile.TiffFileError as exc:
        raise input_error(path, f"not a readable TIFF ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file raises many types; one message
        problem = f"TIFF is damaged or truncated ({type(exc).__name__}: {exc})"
        raise input_error(path, problem) from None
    return int(shape[0]) * int(shape[1]) if len(shape) >= 2 else int(math.prod(shape))


class LazyNetworkInput:
    """`preprocess_sem` of a large image, computed for whatever window is sliced.

    Parameters
    ----------
    source : TiffBands or in-memory reader
        The raw image.
    rows : int
        Rows above the data bar (the image seen by the network).
    median_px : int
        Median filter size, as in `preprocess_sem`.
    sample_windows : int
        Windows per axis sampled for the intensity percentiles.
    window_px : int
        Side of each sample window.
    levels : (fill, low, scale) or None
        The NaN fill value and normalisation of an earlier instance (`levels`), to skip the
        sampling.
    """

    def __init__(self, source, rows: int, median_px: int = 3, sample_windows: int = 8,
                 window_px: int = 256, levels: tuple[float, float, float] | None = None):
        self.source, self.median_px = source, int(median_px)
        self.shape = (rows, source.shape[1])
        self.halo_px = self.median_px // 2 if self.median_px > 1 else 0
        if levels is not None:
            self.fill, self.low, self.scale = levels
            return
        corners = [(y0, x0) for y0 in _window_starts(rows, window_px, sample_windows)
                   for x0 in _window_starts(self.shape[1], window_px, sample_windows)]
        raw = [source.read(y0, min(rows, y0 + window_px), x0, x0 + window_px)
               for y0, x0 in corners]
        finite = np.concatenate([r[np.isfinite(r)].ravel() for r in raw])
        self.fill = float(np.median(finite)) if finite.size else 0.0
        filtered = np.concatenate([
            self._filtered(y0, min(rows, y0 + window_px), x0, x0 + window_px).ravel()
            for y0, x0 in corners
        ])
        lo, hi = np.percentile(filtered, [1.0, 99.0])
        self.low, self.scale = float(lo), float(hi - lo) if hi > lo else 1.0

    @property
    def levels(self) -> tuple[float, float, float]:
        """``(fill, low, scale)``: NaN fill value, 1st percentile and percentile range."""
        return self.fill, self.low, self.scale

    def _filtered(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Median-filtered window, read with a halo so it equals the whole-image filter."""
        x1 = min(x1, self.shape[1])
        hy0, hy1 = max(0, y0 - self.halo_px), min(self.shape[0], y1 + self.halo_px)
        hx0, hx1 = max(0, x0 - self.halo_px), min(self.shape[1], x1 + self.halo_px)
        block = np.asarray(self.source.read(hy0, hy1, hx0, hx1), dtype=np.float32)
        block = np.where(np.isfinite(block), block, np.float32(self.fill))
        if self.median_px > 1:
            block = ndimage.median_filter(block, size=self.median_px, mode="reflect")
        return block[y0 - hy0 : y1 - hy0, x0 - hx0 : x1 - hx0]

    def __getitem__(self, index: tuple[slice, slice]) -> np.ndarray:
        rows, cols = index
        y0, y1, _ = rows.indices(self.shape[0])
        x0, x1, _ = cols.indices(self.shape[1])
        block = self._filtered(y0, y1, x0, x1)
        return ((block - self.low) / self.scale).astype(np.float32, copy=False)


def _window_starts(length_px: int, window_px: int, count: int) -> np.ndarray:
    if length_px <= window_px * count:
        return np.arange(0, length_px, window_px)
    return np.linspace(0, length_px - window_px, count).astype(np.int64)


def segment_large(
    path: str | os.PathLike,
    predict: Predictor,
    out_paths: dict[str, Path],
    *,
    median_px: int = 3,
    tile_px: int | None = None,
    overlap: float | None = None,
    batch: int | None = None,
    multiple: int = 1,
    threshold: float = 0.5,
    min_grain_px: int = 20,
    block_px: int = 2048,
    halo_px: int = 128,
    progress: bool = False,
    model: tuple[str, str] | None = None,
) -> dict:
    """Segment a TIFF or zarr image too large for memory straight to output files.

    Run as a task on a Dask worker, with ``model`` given and zarr outputs, the probability is
    computed in bands of `BAND_PX` rows by tasks of their own, on all the cluster's workers
    (`predict_probability_band`); every value is the same as in one pass.

    Parameters
    ----------
    path : path
        Input micrograph (2-D; uncompressed TIFFs and zarr stores are read band by band).
    predict : callable
        Tile predictor (see `grainseg.infer.segment.model_predictor`).
    out_paths : dict
        Final paths under the keys ``probability``, ``boundaries``, ``grain_ids``, ``overlay``;
        all four appear together (atomically) when the image is done. Rasters named ``.zarr``
        are written as OME-Zarr images (`grainseg.io.omezarr.create_ome_zarr`), others as TIFF.
    median_px, tile_px, overlap, batch, multiple, threshold, min_grain_px
        As in `grainseg.infer.segment.segment_image` (None: the CPU choice of
        `grainseg.infer.tiling.choose_tiling`).
    block_px, halo_px : int
        Post-processing blocks (see `network_blockwise`).
    progress : bool
        Show tqdm bars.
    model : (model path, device) or None
        What band tasks load their predictor from (`grainseg.infer.segment.cached_predictor`; the
        device as given by the user, each worker resolves ``auto`` to its own GPU).

    Returns
    -------
    dict
        ``shape_px`` (rows, columns) of the outputs, ``data_bar_row``, ``n_grains``,
        ``pixel_size_um``, ``notes``.
    """
    path = Path(path)
    notes: list[str] = []
    if is_zarr(path):
        source, pixel_size_um = open_zarr_image(path)
    elif (source := TiffBands.open(path)) is None:
        micrograph = read_micrograph(path)
        notes += micrograph.notes + ["TIFF not memory-mappable (compressed or tiled): read whole"]
        source, pixel_size_um = _InMemory(micrograph.image), micrograph.pixel_size_um
    else:
        with tifffile.TiffFile(path) as tif:
            pixel_size_um = checked_file_pixel_size_um(pixel_size_um_from_tags(tif), path)
    height, width = source.shape
    strip_y0 = max(0, height - DATA_BAR_SEARCH_ROWS)
    bar_row = strip_y0 + data_bar_start_row(source.read(strip_y0, height))
    if bar_row < height:
        notes.append(f"data bar from row {bar_row} left out")
    network_input = LazyNetworkInput(source, bar_row, median_px)
    shape = network_input.shape

    with contextlib.ExitStack() as stack:
        tmp = {key: stack.enter_context(atomic_dir(p) if is_zarr(p) else atomic_path(p))
               for key, p in out_paths.items()}

        def create(key: str, dtype: type) -> TiffBands | ZarrPlane:
            if is_zarr(out_paths[key]):
                return create_ome_zarr(tmp[key], shape, dtype, pixel_size_um)
            return TiffBands.create(tmp[key], shape, dtype, pixel_size_um)

        probability = create("probability", np.float32)
        plan = choose_tiling("cpu", tile_px, overlap, batch)
        bands = [(y0, min(y0 + BAND_PX, shape[0])) for y0 in range(0, shape[0], BAND_PX)]
        client = _worker_client() if (
            model is not None and len(bands) > 1 and is_zarr(out_paths["probability"])
            and not isinstance(source, _InMemory)) else None
        if client is not None:
            with client as cluster_client:
                futures = cluster_client.map(
                    predict_probability_band, bands, pure=False, source_path=str(path),
                    rows=shape[0], median_px=median_px, levels=network_input.levels,
                    probability_path=str(tmp["probability"] / "0"), model=model,
                    tiling=(plan.tile_px, plan.overlap, plan.batch), multiple=multiple)
                cluster_client.gather(futures)
            notes.append(f"probability in {len(bands)} bands of {BAND_PX} rows across the "
                         "cluster")
        else:
            predict_tiled(network_input, predict, plan.tile_px, plan.overlap, plan.batch,
                          multiple, out=lambda y0, rows: probability.write(y0, 0, rows),
                          progress=progress)
        boundaries = create("boundaries", np.uint8)
        grain_ids = create("grain_ids", np.uint32)
        n_grains = network_blockwise(
            probability.read, shape,
            lambda y0, x0, b: boundaries.write(y0, x0, b.astype(np.uint8) * np.uint8(255)),
            lambda y0, y1, x0, x1: boundaries.read(y0, y1, x0, x1) > 0,
            grain_ids.write, grain_ids.read,
            threshold=threshold, min_grain_px=min_grain_px, block_px=block_px,
            halo_px=halo_px, progress=progress,
            read_grey=lambda y0, y1, x0, x1: network_input[y0:y1, x0:x1],
        )
        _write_overlay_decimated(tmp["overlay"], network_input, boundaries)
    return {"shape_px": shape, "data_bar_row": bar_row, "n_grains": n_grains,
            "pixel_size_um": pixel_size_um, "notes": notes}


def _worker_client():
    """A client for submitting tasks from inside a Dask task, or None outside a worker."""
    try:
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError):
        return None
    return worker_client()


def predict_probability_band(
    band: tuple[int, int],
    *,
    source_path: str,
    rows: int,
    median_px: int,
    levels: tuple[float, float, float],
    probability_path: str,
    model: tuple[str, str],
    tiling: tuple[int, float, int],
    multiple: int,
) -> int:
    """Dask task: rows ``band`` of a mosaic's probability, written into its zarr array.

    The tiling is the whole image's (`predict_tiled` with ``rows``), so the bands join exactly.
    Rerunning it rewrites the same chunks. Returns the number of rows written.
    """
    import zarr

    from grainseg.cluster import worker_device
    from grainseg.infer.segment import cached_predictor, resolve_device

    source = (open_zarr_image(source_path)[0] if is_zarr(source_path)
              else TiffBands.open(source_path))
    network_input = LazyNetworkInput(source, rows, median_px, levels=levels)
    model_path, device = model
    predict, _ = cached_predictor(model_path, str(resolve_device(worker_device(device))))
    probability = ZarrPlane(zarr.open_array(probability_path, mode="r+"))
    tile_px, overlap, batch = tiling
    predict_tiled(network_input, predict, tile_px, overlap, batch, multiple, rows=band,
                  out=lambda y0, block: probability.write(y0, 0, block))
    return band[1] - band[0]


def _write_overlay_decimated(path: Path, network_input: LazyNetworkInput,
                             boundaries: TiffBands | ZarrPlane):
    """Overlay PNG at most `OVERLAY_MAX_PX` wide: image subsampled, boundaries max-pooled."""
    from matplotlib.image import imsave

    height, width = boundaries.shape
    factor = max(1, math.ceil(max(height, width) / OVERLAY_MAX_PX))
    out_h, out_w = height // factor, width // factor
    band_rows = factor * max(1, 1024 // factor)
    grey = np.zeros((out_h, out_w), np.float32)
    lines = np.zeros((out_h, out_w), bool)
    for y0 in range(0, out_h * factor, band_rows):
        y1 = min(out_h * factor, y0 + band_rows)
        o0, o1 = y0 // factor, y1 // factor
        grey[o0:o1] = network_input[y0:y1, 0 : out_w * factor][::factor, ::factor]
        band = boundaries.read(y0, y1, 0, out_w * factor) > 0
        lines[o0:o1] = band.reshape(o1 - o0, factor, out_w, factor).any(axis=(1, 3))
    imsave(path, overlay_rgb(grey, lines), format="png")
