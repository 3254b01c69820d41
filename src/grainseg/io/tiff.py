"""SEM micrographs and masks: read with the pixel size (TIFF, PNG, JPEG, BMP), write as TIFF
atomically with it.

Pixel size sources, in order: the FEI/Thermo Fisher metadata (tag 34682, ``Scan/PixelWidth`` in
metres), the Zeiss SEM metadata (tag 34118, ``ap_image_pixel_size``), the Tescan metadata (tag
50431, ``PixelSizeX`` in metres), grainseg's own JSON image description
(``{"grainseg": {"pixel_size_um": ...}}``), ImageJ metadata with a micrometre unit, and then a
sidecar file beside the image (JEOL and Hitachi ``.txt``, Tescan ``.hdr``; see
`grainseg.io.sidecar`). TIFF resolution tags and the PNG/JPEG/BMP density fields are not
trusted: most writers fill them with a screen default. TIFFs are read with tifffile (which
parses the FEI, Zeiss and ImageJ blocks), the other formats with Pillow.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from grainseg.errors import GrainsegError, input_error
from grainseg.io.atomic import atomic_path
from grainseg.io.omezarr import is_zarr, open_zarr_image
from grainseg.io.sidecar import sidecar_pixel_size_um, tescan_pixel_size_um
from grainseg.pixel_size import check_pixel_size_um

# No codec used in TIFF expands data by more than this (zlib's limit is about 1032:1, LZW's
# about 2730:1); a damaged header that declares more would have the reader allocate for nothing.
_MAX_COMPRESSION_RATIO = 5000

#: Tescan's private TIFF tag: its metadata as text, ``PixelSizeX=...`` in metres among it.
TESCAN_TAG = 50431
#: Suffixes read with Pillow; anything else is read as a TIFF.
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: The smallest image side read (a 1 x N row or a single pixel is no micrograph or map).
MIN_SIDE_PX = 2
NO_PIXEL_SIZE_NOTE = (
    "no pixel size in the file or a sidecar (FEI/Thermo Fisher, Zeiss, Tescan, JEOL, Hitachi, "
    "ImageJ): sizes in px; give the pixel size with --pixel-size-um"
)
_UM_UNITS = {"um": 1.0, "µm": 1.0, "micron": 1.0, "microns": 1.0, "nm": 1e-3, "mm": 1e3, "m": 1e6}


@dataclass
class Micrograph:
    """A 2-D grey image with its pixel size.

    Attributes
    ----------
    image : (H, W) array
        Grey values in the file's own dtype (uint8, uint16, float32...); colour images are
        converted to grey (see ``notes``).
    pixel_size_um : float or None
        Side of one pixel in micrometres, or None when the file does not say.
    path : Path
        The file it came from.
    notes : list of str
        Conversions applied on reading, for the user to see.
    """

    image: np.ndarray
    pixel_size_um: float | None
    path: Path
    notes: list[str] = field(default_factory=list)


def pixel_size_um_from_tags(tif: tifffile.TiffFile) -> float | None:
    """Pixel size in micrometres from an open TIFF's metadata (sources as in the module
    docstring), or None when the file does not say."""
    fei = tif.fei_metadata
    if fei:
        for section in ("Scan", "EScan", "Image"):
            width_m = fei.get(section, {}).get("PixelWidth")
            if isinstance(width_m, (int, float)) and width_m > 0:
                return float(width_m) * 1e6
    sem = tif.sem_metadata
    if sem and "ap_image_pixel_size" in sem:
        entry = sem["ap_image_pixel_size"]
        if isinstance(entry, (tuple, list)) and len(entry) >= 3:
            value, unit = entry[1], str(entry[2]).strip()
            if isinstance(value, (int, float)) and value > 0 and unit in _UM_UNITS:
                return float(value) * _UM_UNITS[unit]
    page = tif.pages[0]
    tescan = page.tags.get(TESCAN_TAG)
    if tescan is not None and isinstance(tescan.value, bytes):
        value = tescan_pixel_size_um(tescan.value)
        if value is not None:
            return value
    description = page.description if hasattr(page, "description") else ""
    if description.startswith("{"):
        try:
            meta = json.loads(description)
        except json.JSONDecodeError:
            meta = {}
        value = meta.get("grainseg", {}).get("pixel_size_um") if isinstance(meta, dict) else None
        if isinstance(value, (int, float)) and value > 0:
            return float(value)
    ij = tif.imagej_metadata
    if ij and str(ij.get("unit", "")).strip() in _UM_UNITS:
        tag = page.tags.get("XResolution")
        if tag is not None:
            num, den = tag.value
            if num > 0:
                return den / num * _UM_UNITS[str(ij["unit"]).strip()]
    return None


def checked_file_pixel_size_um(value: float | None, path: str | os.PathLike) -> float | None:
    """A pixel size read from the metadata or a sidecar of ``path``, if plausible.

    Raises
    ------
    GrainsegError
        Naming the file, when the value is no micrograph's pixel size (damaged metadata; see
        `grainseg.pixel_size`).
    """
    if value is None:
        return None
    return check_pixel_size_um(
        value, f"{os.fspath(path)}: its metadata gives a pixel size of {value:g} µm",
        "the metadata is damaged (--pixel-size-um overrides it where a command has it)",
    )


def to_grey(image: np.ndarray, notes: list[str]) -> np.ndarray:
    """Reduce an (H, W), (H, W, 3) or (H, W, 4) image to (H, W), noting any conversion."""
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        rgb = image[..., :3].astype(np.float32)
        grey = rgb @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
        notes.append(f"converted {'RGBA' if image.shape[-1] == 4 else 'RGB'} to grey")
        if np.issubdtype(image.dtype, np.integer):
            grey = np.round(grey).astype(image.dtype)
        return grey
    if image.ndim == 3 and image.shape[0] in (3, 4) and image.shape[-1] > 4:
        return to_grey(np.moveaxis(image, 0, -1), notes)
    raise ValueError(f"expected a 2-D grey or RGB image, got shape {image.shape}")


class _NotesHandler(logging.Handler):
    """Collects tifffile's log messages (damaged tags it skips) as notes instead of printing."""

    def __init__(self, notes: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.notes = notes

    def emit(self, record: logging.LogRecord) -> None:
        note = f"damaged TIFF entry skipped ({record.getMessage().strip()})"
        if note not in self.notes:
            self.notes.append(note)


@contextlib.contextmanager
def _tifffile_messages_as_notes(notes: list[str]):
    logger = logging.getLogger("tifffile")
    handler, propagate = _NotesHandler(notes), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _check_declared_size(path: Path, page: tifffile.TiffPage) -> None:
    """Refuse an image whose declared size the file's bytes cannot hold (a damaged header)."""
    declared_bytes = int(np.prod(page.shape, dtype=np.float64)) * page.dtype.itemsize
    stored_bytes = min(sum(page.databytecounts), path.stat().st_size)
    ratio = 1 if page.compression == 1 else _MAX_COMPRESSION_RATIO
    if declared_bytes > ratio * stored_bytes + 65536:
        raise input_error(
            path, f"TIFF header declares a {' x '.join(map(str, page.shape))} image "
            f"({declared_bytes / 2**20:.0f} MiB) that its {stored_bytes} stored bytes cannot hold "
            "(damaged or truncated file)"
        )


def _has_tiff_signature(path: Path) -> bool:
    """True when the file starts as a TIFF or BigTIFF does (byte order mark, then 42 or 43)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _drop_singleton_axes(image: np.ndarray) -> np.ndarray:
    """Remove length-1 axes beyond the two image axes ((1, H, W) pages, (H, W, 1) channels),
    keeping a 1 x N image two-dimensional."""
    if image.ndim > 2 and image.shape[-1] == 1:
        image = image[..., 0]
    colour_axes = 1 if image.ndim > 2 and image.shape[-1] in (3, 4) else 0
    while image.ndim > 2 + colour_axes and image.shape[0] == 1:
        image = image[0]
    return image


def _read_tiff(path: Path, notes: list[str], page: int | None) -> tuple[np.ndarray, float | None]:
    """One page of a TIFF (palette images as their indices) and its tagged pixel size.

    ``page`` counts from 1; None reads the first and, when there are more, says so in
    ``notes``. A page that is not a colour image but holds several planes (a stack stored in
    one page) is read as its first plane, also with a note.
    """
    try:
        with _tifffile_messages_as_notes(notes), tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise input_error(path, "TIFF is damaged or truncated (no image directory)")
            count = len(tif.pages)
            if page is not None and not 1 <= page <= count:
                raise input_error(path, f"page {page}: the file has {count} page{'' if count == 1 else 's'}")
            chosen = tif.pages[(page or 1) - 1]
            if count > 1:
                default = " (the default; --page N reads another)" if page is None else ""
                notes.append(f"page {page or 1} of {count} read{default}")
            _check_declared_size(path, chosen)
            image = chosen.asarray()
            if np.iscomplexobj(image):
                raise input_error(path, f"complex-valued image ({image.dtype}): not a micrograph")
            image = _drop_singleton_axes(image)
            colour = chosen.photometric == tifffile.PHOTOMETRIC.RGB
            if image.ndim == 3 and not colour:
                notes.append(f"plane 1 of {image.shape[0]} of a stack read (not a colour image)")
                image = image[0]
            return image, pixel_size_um_from_tags(tif)
    except GrainsegError:
        raise
    except tifffile.TiffFileError as exc:
        if _has_tiff_signature(path):  # a TIFF cut short or corrupted after its header
            raise input_error(path, f"TIFF is damaged or truncated ({exc})") from None
        raise input_error(path, f"not a readable TIFF ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - tifffile and its codecs (zlib, struct, ...) raise
        # many types on a damaged file; all of them mean the same to the user.
        raise input_error(path, f"TIFF is damaged or truncated ({type(exc).__name__}: {exc})") from None


def _read_raster(path: Path, notes: list[str], palette_indices: bool) -> np.ndarray:
    """A PNG, JPEG or BMP image with Pillow: grey, 16-bit grey, RGB(A), or a palette image as
    its colours (micrographs) or its indices (masks and label images)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode == "P" and not palette_indices:
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                notes.append("palette image read as its colours")
            elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif im.mode in ("LA", "PA"):
                im = im.getchannel(0)
            image = np.asarray(im)
    except Exception as exc:  # noqa: BLE001 - Pillow's decoders raise many types on damaged
        # files (OSError, SyntaxError, ValueError, DecompressionBombError, ...).
        raise input_error(path, f"not a readable {path.suffix.lstrip('.').upper()} image "
                                f"({type(exc).__name__}: {exc})") from None
    if image.dtype == bool:  # 1-bit images
        image = image.astype(np.uint8) * 255
    return image


def _read_image(path: str | os.PathLike, palette_indices: bool,
                pixel_size_um: float | None = None, page: int | None = None) -> Micrograph:
    path = Path(path)
    if is_zarr(path):  # a folder, read whole here (`grainseg.infer.large` reads it by bands)
        plane, pixel_size_um_file = open_zarr_image(path)
        image, notes = plane.read(0, plane.shape[0]), []
        if pixel_size_um is None:
            pixel_size_um = checked_file_pixel_size_um(pixel_size_um_file, path)
            if pixel_size_um is None:
                notes.append(NO_PIXEL_SIZE_NOTE)
        return Micrograph(image=image, pixel_size_um=pixel_size_um, path=path, notes=notes)
    if not path.is_file():
        raise input_error(path, "file not found")
    notes: list[str] = []
    given = pixel_size_um
    if path.suffix.lower() in RASTER_SUFFIXES:
        image, pixel_size_um = _read_raster(path, notes, palette_indices), None
    else:
        image, pixel_size_um = _read_tiff(path, notes, page)
    try:
        image = to_grey(_drop_singleton_axes(image), notes)
    except ValueError as exc:
        raise input_error(path, str(exc)) from None
    if image.size == 0:
        raise input_error(path, "image is empty")
    if min(image.shape) < MIN_SIDE_PX:
        raise input_error(path, f"image is {image.shape[0]} x {image.shape[1]} px: too small, "
                                f"an image needs at least {MIN_SIDE_PX} px in each direction")
    if given is not None:
        return Micrograph(image=image, pixel_size_um=given, path=path, notes=notes)
    if pixel_size_um is None:
        found = sidecar_pixel_size_um(path)
        if found is not None:
            pixel_size_um = found[0]
            notes.append(f"pixel size {pixel_size_um:g} µm from {found[1].name}")
        else:
            notes.append(NO_PIXEL_SIZE_NOTE)
    pixel_size_um = checked_file_pixel_size_um(pixel_size_um, path)
    return Micrograph(image=image, pixel_size_um=pixel_size_um, path=path, notes=notes)


def read_micrograph(path: str | os.PathLike, pixel_size_um: float | None = None,
                    page: int | None = None) -> Micrograph:
    """Read a micrograph (TIFF page, PNG, JPEG, BMP, or the 2-D plane of a zarr /
    OME-Zarr store, see `grainseg.io.omezarr`) with its pixel size.

    Colour images are converted to grey; the pixel size comes from the sources in the module
    notes, and a note says which (or that none was found: sizes are then in px). A
    ``pixel_size_um`` given by the user (µm, checked by the caller) replaces those sources.
    ``page`` (from 1) picks a page of a multi-page TIFF; by default the first, with a note.

    Raises
    ------
    GrainsegError
        If the file is missing, unreadable, truncated, empty or not a 2-D image, or its
        metadata gives an implausible pixel size (`checked_file_pixel_size_um`).
    """
    return _read_image(path, palette_indices=False, pixel_size_um=pixel_size_um, page=page)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask or label image (boundary mask, ignore mask, grain IDs) as a 2-D array; a
    palette image gives its indices."""
    return _read_image(path, palette_indices=True).image


def tiff_tags(pixel_size_um: float | None) -> dict:
    """Keyword arguments of `tifffile.imwrite` / `tifffile.memmap` recording the pixel size.

    The pixel size goes into the image description as JSON (read back by `read_micrograph`) and
    into the resolution tags in centimetres for other viewers.
    """
    meta: dict = {"grainseg": {}}
    tags: dict = {"metadata": None}
    if pixel_size_um is not None:
        meta["grainseg"]["pixel_size_um"] = float(pixel_size_um)
        per_cm = 1e4 / float(pixel_size_um)
        tags.update(resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
    tags["description"] = json.dumps(meta)
    return tags


def write_mask(path: str | os.PathLike, mask: np.ndarray, pixel_size_um: float | None = None) -> None:
    """Write a bool mask as a uint8 TIFF, 255 where True: every grainseg mask on disk (masks are
    bool in memory; `read_mask` ``> 0`` reads one back)."""
    write_tiff(path, np.where(np.asarray(mask, dtype=bool), 255, 0).astype(np.uint8),
               pixel_size_um)


def write_tiff(
    path: str | os.PathLike,
    array: np.ndarray,
    pixel_size_um: float | None = None,
    compress: bool = True,
) -> None:
    """Write a 2-D array as a TIFF atomically, recording the pixel size when known
    (`tiff_tags`)."""
    kwargs = tiff_tags(pixel_size_um)
    if compress:
        kwargs["compression"] = "zlib"
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array, **kwargs)
