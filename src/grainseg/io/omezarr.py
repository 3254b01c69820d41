"""Chunked zarr and OME-Zarr images: read a 2-D plane by windows, write one with its pixel size.

Input: an OME-Zarr image group (OME-NGFF 0.4 ``multiscales`` in the group attributes, or 0.5
under ``ome``; the full-resolution level ``datasets[0]`` is read) or a plain zarr array, zarr
format 2 or 3. Leading axes of length 1 (t, c, z) are dropped; anything else than one 2-D plane
is refused. The pixel size is the ``scale`` of the x axis in the level's (and the multiscale's)
``coordinateTransformations``, converted from the axis ``unit``; a plain array may carry
``{"grainseg": {"pixel_size_um": ...}}`` in its attributes.

Output: an OME-NGFF 0.5 image group (zarr format 3) with one level ``0``, axes ``y`` and ``x``
of type space in micrometres when the pixel size is known, written block by block into a
temporary folder and renamed into place when complete (`grainseg.io.atomic.atomic_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from grainseg.errors import GrainsegError, input_error

#: Side of the square chunks grainseg writes, in pixels.
CHUNK_PX = 1024

#: OME-NGFF space units -> micrometres.
_UNIT_UM = {"angstrom": 1e-4, "nanometer": 1e-3, "micrometer": 1.0, "millimeter": 1e3,
            "centimeter": 1e4, "meter": 1e6, "um": 1.0, "µm": 1.0, "nm": 1e-3, "mm": 1e3}


def is_zarr(path: str | os.PathLike) -> bool:
    """True for a ``.zarr`` path or a folder holding zarr metadata."""
    path = Path(path)
    if path.suffix.lower() == ".zarr":
        return True
    return path.is_dir() and any((path / name).is_file()
                                 for name in ("zarr.json", ".zgroup", ".zarray"))


def zarr_stem(path: str | os.PathLike) -> str:
    """The name of an image without ``.zarr`` / ``.ome.zarr``."""
    name = Path(path).name
    for suffix in (".ome.zarr", ".zarr"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


class ZarrPlane:
    """Window access to one 2-D plane of a zarr array (the `grainseg.infer.large.TiffBands`
    interface: ``shape``, ``dtype``, ``read``, ``write``, and slicing).

    Parameters
    ----------
    array : zarr.Array
        N-D array whose leading axes all have length 1.
    """

    def __init__(self, array):
        self.array = array
        self.lead = (0,) * (array.ndim - 2)
        self.shape = tuple(int(n) for n in array.shape[-2:])
        self.dtype = np.dtype(array.dtype)

    def read(self, y0: int, y1: int, x0: int = 0, x1: int | None = None) -> np.ndarray:
        """Rows ``y0:y1``, columns ``x0:x1`` as a NumPy array."""
        return np.asarray(self.array[(*self.lead, slice(y0, y1), slice(x0, x1))])

    def write(self, y0: int, x0: int, block: np.ndarray) -> None:
        """Store ``block`` with its top-left corner at (y0, x0)."""
        rows, cols = block.shape
        self.array[(*self.lead, slice(y0, y0 + rows), slice(x0, x0 + cols))] = block

    def __getitem__(self, index):
        return np.asarray(self.array[(*self.lead, *index)])


def _zarr():
    """The zarr package (>= 3), or a one-line error saying how to get it."""
    try:
        import zarr
    except ImportError:
        zarr = None
    if zarr is None or int(zarr.__version__.split(".")[0]) < 3:
        raise GrainsegError("zarr stores need zarr >= 3 (Python >= 3.11): pip install 'zarr>=3'")
    return zarr


def open_zarr_image(path: str | os.PathLike) -> tuple[ZarrPlane, float | None]:
    """Open the full-resolution 2-D plane of a zarr / OME-Zarr image and its pixel size (um).

    Raises
    ------
    GrainsegError
        If the path is not a zarr store, holds no 2-D image, or its metadata is damaged, or
        zarr >= 3 is not installed.
    """
    zarr = _zarr()
    path = Path(path)
    if not path.exists():
        raise input_error(path, "file not found")
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises many types for a damaged store
        raise input_error(path, f"not a readable zarr store ({type(exc).__name__}: {exc})") from None
    pixel_size_um = None
    if isinstance(node, zarr.Group):
        attrs = dict(node.attrs)
        multiscales = attrs.get("ome", {}).get("multiscales") or attrs.get("multiscales")
        if not multiscales:
            raise input_error(path, "zarr group without OME-NGFF multiscales metadata")
        try:
            image = multiscales[0]
            level = image["datasets"][0]
            array = node[level["path"]]
        except (KeyError, IndexError, TypeError) as exc:
            raise input_error(path, f"damaged OME-NGFF multiscales metadata ({exc})") from None
        pixel_size_um = _ngff_pixel_size_um(path, image, level)
    else:
        array = node
        value = dict(array.attrs).get("grainseg", {}).get("pixel_size_um")
        if isinstance(value, (int, float)) and value > 0:
            pixel_size_um = float(value)
    if array.ndim < 2 or any(n != 1 for n in array.shape[:-2]) or 0 in array.shape:
        raise input_error(path, f"expected one 2-D image plane, got shape {tuple(array.shape)}")
    return ZarrPlane(array), pixel_size_um


def _ngff_pixel_size_um(path: Path, image: dict, level: dict) -> float | None:
    axes = image.get("axes") or []
    names = [a.get("name") if isinstance(a, dict) else a for a in axes]
    if "x" not in names:
        return None
    x_axis = names.index("x")
    unit = axes[x_axis].get("unit") if isinstance(axes[x_axis], dict) else None
    if unit not in _UNIT_UM:
        return None
    scale = 1.0
    for transforms in (level.get("coordinateTransformations"),
                       image.get("coordinateTransformations")):
        for transform in transforms or []:
            if transform.get("type") == "scale":
                values = transform.get("scale") or []
                if len(values) != len(names):
                    raise input_error(path, "OME-NGFF scale does not match the axes")
                scale *= float(values[x_axis])
    return scale * _UNIT_UM[unit] if scale > 0 else None


def create_ome_zarr(
    path: str | os.PathLike,
    shape: tuple[int, int],
    dtype: np.dtype,
    pixel_size_um: float | None,
    chunk_px: int = CHUNK_PX,
) -> ZarrPlane:
    """Create an OME-NGFF 0.5 image group of zeros at ``path`` (see the module docstring)."""
    group = _zarr().open_group(str(path), mode="w", zarr_format=3)
    chunks = tuple(min(chunk_px, n) for n in shape)
    array = group.create_array("0", shape=tuple(shape), chunks=chunks, dtype=np.dtype(dtype),
                               fill_value=0, dimension_names=["y", "x"])
    unit = {"unit": "micrometer"} if pixel_size_um is not None else {}
    scale = [float(pixel_size_um)] * 2 if pixel_size_um is not None else [1.0, 1.0]
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [{
            "name": zarr_stem(path),
            "axes": [{"name": "y", "type": "space", **unit}, {"name": "x", "type": "space", **unit}],
            "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": scale}]}],
        }],
    }
    return ZarrPlane(array)


def write_ome_zarr(
    path: str | os.PathLike, image: np.ndarray, pixel_size_um: float | None = None
) -> None:
    """Write a 2-D array as an OME-Zarr image atomically."""
    from grainseg.io.atomic import atomic_dir

    image = np.asarray(image)
    if image.ndim != 2:
        raise GrainsegError(f"{path}: expected a 2-D image, got shape {image.shape}")
    with atomic_dir(path) as tmp:
        plane = create_ome_zarr(tmp, image.shape, image.dtype, pixel_size_um)
        plane.write(0, 0, image)
