"""SEM micrographs and masks as TIFF: read with the pixel size, write atomically with it.

Pixel size sources, in order: the FEI/Thermo Fisher metadata (tag 34682, ``Scan/PixelWidth`` in
metres), the Zeiss SEM metadata (tag 34118, ``ap_image_pixel_size``), grainseg's own JSON image
description (``{"grainseg": {"pixel_size_um": ...}}``), and ImageJ metadata with a micrometre
unit. TIFF resolution tags are not trusted: most writers fill them with a screen default.
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
from grainseg.pixel_size import check_pixel_size_um

# No codec used in TIFF expands data by more than this (zlib's limit is about 1032:1, LZW's
# about 2730:1); a damaged header that declares more would have the reader allocate for nothing.
_MAX_COMPRESSION_RATIO = 5000

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


def pixel_size_um_from_tags(tif: tifffile.TiffFile, path: str | os.PathLike) -> float | None:
    """Pixel size in micrometres from the metadata of ``tif``, the open TIFF ``path`` (sources
    as in the module docstring), or None when the file does not say.

    Raises
    ------
    GrainsegError
        Naming the file, when the metadata gives a size no micrograph has (damaged metadata;
        see `grainseg.pixel_size`).
    """
    value = _tag_pixel_size_um(tif)
    if value is not None:
        check_pixel_size_um(
            value, f"{os.fspath(path)}: its metadata gives a pixel size of {value:g} µm",
            "the metadata is damaged (--pixel-size-um overrides it where a command has it)",
        )
    return value


def _tag_pixel_size_um(tif: tifffile.TiffFile) -> float | None:
    """The pixel size the metadata gives, unchecked."""
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


def read_micrograph(path: str | os.PathLike, pixel_size_um: float | None = None) -> Micrograph:
    """Read a TIFF micrograph (first page) with its pixel size.

    Parameters
    ----------
    path : path-like
    pixel_size_um : float or None
        The user's pixel size in µm (checked by the caller); it replaces the file's metadata,
        which is then not read. None: from the metadata (`pixel_size_um_from_tags`).

    Raises
    ------
    GrainsegError
        If the file is missing, not a TIFF, truncated, empty or not a 2-D image.
    """
    path = Path(path)
    if not path.is_file():
        raise input_error(path, "file not found")
    notes: list[str] = []
    try:
        with _tifffile_messages_as_notes(notes), tifffile.TiffFile(path) as tif:
            if not tif.pages:
                raise input_error(path, "TIFF holds no image")
            _check_declared_size(path, tif.pages[0])
            image = tif.pages[0].asarray()
            if pixel_size_um is None:
                pixel_size_um = pixel_size_um_from_tags(tif, path)
    except GrainsegError:
        raise
    except tifffile.TiffFileError as exc:
        raise input_error(path, f"not a readable TIFF ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - tifffile and its codecs (zlib, struct, ...) raise
        # many types on a damaged file; all of them mean the same to the user.
        raise input_error(path, f"TIFF is damaged or truncated ({type(exc).__name__}: {exc})") from None
    try:
        image = to_grey(np.squeeze(image), notes)
    except ValueError as exc:
        raise input_error(path, str(exc)) from None
    if image.size == 0:
        raise input_error(path, "image is empty")
    return Micrograph(image=image, pixel_size_um=pixel_size_um, path=path, notes=notes)


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask or label TIFF (boundary mask, ignore mask, grain IDs) as a 2-D array."""
    return read_micrograph(path).image


def write_tiff(
    path: str | os.PathLike,
    array: np.ndarray,
    pixel_size_um: float | None = None,
    compress: bool = True,
) -> None:
    """Write a 2-D array as a TIFF atomically, recording the pixel size when known.

    The pixel size goes into the image description as JSON (read back by `read_micrograph`) and
    into the resolution tags in centimetres for other viewers.
    """
    meta: dict = {"grainseg": {}}
    kwargs: dict = {}
    if pixel_size_um is not None:
        meta["grainseg"]["pixel_size_um"] = float(pixel_size_um)
        per_cm = 1e4 / float(pixel_size_um)
        kwargs.update(resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
    if compress:
        kwargs["compression"] = "zlib"
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, array, description=json.dumps(meta), metadata=None, **kwargs)
