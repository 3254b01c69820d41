"""Pixel sizes that SEM software writes into a text file beside the image.

- JEOL (``IMAGE.txt``): ``$$SM_MICRON_BAR 240`` (the scale bar's length in px) and
  ``$$SM_MICRON_MARKER 5um`` (its length with unit); single ``$`` in older software. The pixel
  size is their ratio.
- Hitachi (``IMAGE.txt``, an INI ``[SemImageFile]`` section): ``PixelSize=9.92`` in nm.
- Tescan (``IMAGE.hdr`` or ``IMAGE-tif.hdr``, INI ``[MAIN]``): ``PixelSizeX=1.2e-08`` in m, the
  same text Tescan also stores in its TIFF tag 50431.
"""

from __future__ import annotations

import re
from pathlib import Path

_UNIT_UM = {"nm": 1e-3, "um": 1.0, "µm": 1.0, "mm": 1e3}
_JEOL_BAR = re.compile(r"^\${1,2}SM_MICRON_BAR\s+([0-9.]+)\s*$", re.MULTILINE)
_JEOL_MARKER = re.compile(r"^\${1,2}SM_MICRON_MARKER\s+([0-9.]+)\s*(nm|um|µm|mm)\s*$",
                          re.MULTILINE)
_HITACHI = re.compile(r"^PixelSize\s*=\s*([0-9.eE+-]+)\s*$", re.MULTILINE)
TESCAN_PIXEL_SIZE = re.compile(rb"PixelSizeX\s*=\s*([0-9.eE+-]+)")


def _positive(text: str | bytes) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0 < value < float("inf") else None


def jeol_pixel_size_um(text: str) -> float | None:
    """Pixel size (µm) from a JEOL .txt: scale-bar length over its length in px."""
    bar, marker = _JEOL_BAR.search(text), _JEOL_MARKER.search(text)
    if not (bar and marker):
        return None
    bar_px, length = _positive(bar.group(1)), _positive(marker.group(1))
    if bar_px is None or length is None:
        return None
    return length * _UNIT_UM[marker.group(2)] / bar_px


def hitachi_pixel_size_um(text: str) -> float | None:
    """Pixel size (µm) from a Hitachi .txt ``PixelSize`` entry (nm)."""
    found = _HITACHI.search(text) if "[SemImageFile]" in text else None
    value = _positive(found.group(1)) if found else None
    return value * 1e-3 if value is not None else None


def tescan_pixel_size_um(text: bytes) -> float | None:
    """Pixel size (µm) from Tescan metadata text (``PixelSizeX`` in m)."""
    found = TESCAN_PIXEL_SIZE.search(text)
    value = _positive(found.group(1)) if found else None
    return value * 1e6 if value is not None else None


def sidecar_pixel_size_um(image_path: Path) -> tuple[float, Path] | None:
    """The pixel size in µm and the sidecar file it came from, or None.

    Looks for ``STEM.txt`` (JEOL, Hitachi) and ``STEM.hdr`` / ``STEM-EXT.hdr`` (Tescan) beside
    ``image_path``; unreadable sidecars are skipped.
    """
    stem, ext = image_path.with_suffix(""), image_path.suffix.lstrip(".").lower()
    candidates = [
        (Path(f"{stem}.txt"), lambda raw: jeol_pixel_size_um(raw.decode("latin-1"))
         or hitachi_pixel_size_um(raw.decode("latin-1"))),
        (Path(f"{stem}.hdr"), tescan_pixel_size_um),
        (Path(f"{stem}-{ext}.hdr"), tescan_pixel_size_um),
    ]
    for sidecar, parse in candidates:
        if sidecar == image_path or not sidecar.is_file():
            continue
        try:
            raw = sidecar.read_bytes()[:1_000_000]
        except OSError:
            continue
        value = parse(raw.replace(b"\r\n", b"\n"))
        if value is not None:
            return value, sidecar
    return None
