"""Build a patch data set on disk from SEM/label pairs.

Layout of a data set folder ``DS``::

    DS/dataset.json   how it was made: sources, preprocessing, patch size, split, counts, hashes
    DS/images.npy     (N, P, P) float16  network input (`grainseg.preprocess.preprocess_sem`)
    DS/labels.npy     (N, P, P) uint8    1 = boundary, 0 = background
    DS/valid.npy      (N, P, P) uint8    1 = labelled, 0 = ignore
    DS/patches.npy    (N, 3) int32       source image index, top row, left column (pixels)
    DS/split.npy      (N,) uint8         0 = train, 1 = val

The ``.npy`` files are opened memory-mapped, so a data set of any size loads at once and patches
are read from disk on demand (the paper's 200,000 patches would be thousands of PNG files).

Why split by image (the default)
--------------------------------
Neighbouring patches of one micrograph share grains, contrast, drift and label errors: a boundary
cut by a patch edge continues in the next patch. With the paper's random per-patch split
(``split="patch"``) the validation set holds the neighbours of training patches, so validation
scores measure memory of those images as much as generalisation to a new micrograph, and early
stopping picks the model that memorises best. ``split="image"`` puts all patches of an image on
one side, so validation images are truly unseen. ``"patch"`` is kept to reproduce the paper.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from grainseg import __version__, layout
from grainseg.data.masks import POLARITIES, boundary_from_mask
from grainseg.data.pairs import Pair
from grainseg.errors import GrainsegError, ParameterError, input_error
from grainseg.io.atomic import (
    check_output_dir,
    ensure_output_dir,
    write_errors_reported,
    write_json_atomic,
)
from grainseg.io.manifest import write_manifest
from grainseg.io.tiff import read_mask, read_micrograph
from grainseg.preprocess import check_median_px, data_bar_start_row, preprocess_sem
from grainseg.progress import progress_bar

DATASET_FORMAT = "grainseg-dataset"
DATASET_VERSION = 1
SPLIT_CODES = {"train": 0, "val": 1}


@dataclass
class _Source:
    """What the first pass learns about one pair."""

    pair: Pair
    shape: tuple[int, int]
    bar_row: int
    keep: np.ndarray  # (n_rows, n_cols) bool: tile has at least one valid pixel
    pixel_size_um: float | None


def tile(array: np.ndarray, patch: int) -> np.ndarray:
    """Cut an (H, W) array into non-overlapping (patch, patch) tiles, row-major.

    The bottom and right remainders (less than one patch) are dropped.

    Returns
    -------
    (H // patch * (W // patch), patch, patch) array (a copy)
    """
    n_rows, n_cols = array.shape[0] // patch, array.shape[1] // patch
    cropped = array[: n_rows * patch, : n_cols * patch]
    return cropped.reshape(n_rows, patch, n_cols, patch).swapaxes(1, 2).reshape(-1, patch, patch)


def _read_pair(
    pair: Pair, mask_boundary: str = "auto"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float | None]:
    """SEM image, boundary label (bool) and valid mask (bool), checked to share one size."""
    sem = read_micrograph(pair.sem_path)
    label = boundary_from_mask(read_mask(pair.label_path), mask_boundary, pair.label_path)
    if label.shape != sem.image.shape:
        raise input_error(
            pair.label_path,
            f"label is {label.shape[0]}x{label.shape[1]} px but its SEM image "
            f"{pair.sem_path} is {sem.image.shape[0]}x{sem.image.shape[1]} px",
        )
    valid = np.ones(label.shape, dtype=bool)
    if pair.ignore_path is not None:
        ignore = read_mask(pair.ignore_path)
        if ignore.shape != label.shape:
            raise input_error(
                pair.ignore_path,
                f"ignore mask is {ignore.shape[0]}x{ignore.shape[1]} px but the label is "
                f"{label.shape[0]}x{label.shape[1]} px",
            )
        valid = ignore != 255
    return sem.image, label, valid, sem.pixel_size_um


def _survey(pair: Pair, patch: int, mask_boundary: str) -> _Source:
    image, _, valid, pixel_size_um = _read_pair(pair, mask_boundary)
    bar_row = data_bar_start_row(image)
    if bar_row < patch or image.shape[1] < patch:
        raise input_error(
            pair.sem_path,
            f"image is {bar_row}x{image.shape[1]} px without its data bar, smaller than one "
            f"{patch} px patch",
        )
    keep = tile(valid[:bar_row], patch).any(axis=(1, 2))
    keep = keep.reshape(bar_row // patch, image.shape[1] // patch)
    return _Source(pair, image.shape, bar_row, keep, pixel_size_um)


def _refuse_repeated_images(pairs: list[Pair]) -> None:
    """One SEM image in two pairs would put it on both sides of the split: refuse that."""
    seen: dict[Path, Pair] = {}
    for pair in pairs:
        key = pair.sem_path.resolve()
        if key in seen:
            raise input_error(pair.sem_path, f"SEM image given twice (pairs {seen[key].name!r} "
                                             f"and {pair.name!r}): give each image once")
        seen[key] = pair


def _split(
    sources: list[_Source], split: str, val_frac: float, seed: int
) -> tuple[np.ndarray, list[str]]:
    """Split code of every kept patch (row-major within each source) and a side per source."""
    per_source = [int(s.keep.sum()) for s in sources]
    n_total = sum(per_source)
    rng = np.random.default_rng(seed)
    codes = np.zeros(n_total, dtype=np.uint8)
    if val_frac <= 0:
        return codes, ["train"] * len(sources)
    if split == "image":
        if len(sources) < 2:
            raise ParameterError(
                "split", "image needs at least 2 images (one for validation); give more pairs, "
                "split by patch or leave no validation share"
            )
        n_val = int(np.clip(round(val_frac * len(sources)), 1, len(sources) - 1))
        val_sources = set(rng.permutation(len(sources))[:n_val].tolist())
        sides = ["val" if i in val_sources else "train" for i in range(len(sources))]
        codes = np.repeat(
            np.array([SPLIT_CODES[s] for s in sides], dtype=np.uint8), per_source
        )
        return codes, sides
    if n_total < 2:
        raise ParameterError("split", "patch needs at least 2 patches")
    n_val = int(np.clip(round(val_frac * n_total), 1, n_total - 1))
    codes[rng.permutation(n_total)[:n_val]] = SPLIT_CODES["val"]
    return codes, ["mixed"] * len(sources)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


# Bytes per patch pixel on disk (images float16, labels and valid uint8) and per patch (index).
_BYTES_PER_PX = 4
_BYTES_PER_PATCH = 16


def _check_free_space(out: Path, n_patches: int, patch: int) -> None:
    """GrainsegError unless the disk of ``out`` has room for the data set (plus 1 MiB)."""
    needed = n_patches * (patch * patch * _BYTES_PER_PX + _BYTES_PER_PATCH) + (1 << 20)
    free = shutil.disk_usage(out.parent).free
    if needed > free:
        raise GrainsegError(
            f"{out}: the data set needs {needed / 2**20:.0f} MiB and its disk has "
            f"{free / 2**20:.0f} MiB free; free space or choose another --out"
        )


def _reserve(path: Path) -> None:
    """Allocate the disk blocks of a memory-mapped file before writing through the map.

    Writing a sparse memory-mapped file on a full disk kills the process with a bus error;
    reserving first turns that into an ENOSPC error here. Skipped where the platform or the
    filesystem cannot reserve.
    """
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise


def _remove_dead_partials(out: Path) -> None:
    """Remove the temporary folders of builds into ``out`` whose process no longer runs
    (killed, or stopped by a bus error), so they do not fill the disk."""
    for folder in out.parent.glob(f".{out.name}.partial-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # the process exists but belongs to someone else
            continue


def _install(tmp: Path, out: Path) -> None:
    """Move the finished folder ``tmp`` to ``out``, replacing an older data set there."""
    if out.exists():
        if (out / layout.DATASET_INFO).is_file():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
            return
        if any(out.iterdir()):
            raise GrainsegError(f"{out}: exists and is not a data set; choose another --out")
        out.rmdir()
    os.replace(tmp, out)


def build_dataset(
    pairs: list[Pair],
    out: str | os.PathLike,
    patch: int = 128,
    split: str = "image",
    val_frac: float = 0.1,
    seed: int = 0,
    median_px: int = 3,
    mask_boundary: str = "auto",
) -> dict:
    """Preprocess pairs, cut non-overlapping patches, split them and write a data set folder.

    Parameters
    ----------
    pairs : list of Pair
        SEM images with their labels (see `grainseg.data.pairs.resolve_pair`).
    out : path
        Data set folder to create (an older data set there is replaced; nothing is left
        half-written if the build fails).
    patch : int
        Side of the square patches in pixels (the paper used 128 and 512).
    split : {"image", "patch"}
        Keep each image on one side (default, see the module docstring) or split patches at
        random as the paper did.
    val_frac : float
        Fraction of images (``split="image"``) or patches (``"patch"``) for validation, in [0, 1).
    seed : int
        Seed of the split.
    median_px : int
        Median filter size of `preprocess_sem` (recorded; inference must use the same).
    mask_boundary : {"auto", "white", "black"}
        Which level of two-level label masks is the boundary (`boundary_from_mask`); auto
        takes the minority level.

    Returns
    -------
    dict
        The content written to ``dataset.json``.
    """
    if patch < 8:
        raise ParameterError("patch", f"must be at least 8 px, got {patch}")
    if split not in ("image", "patch"):
        raise ParameterError("split", f"must be 'image' or 'patch', got {split!r}")
    if not 0 <= val_frac < 1:
        raise ParameterError("val_frac", f"must be in [0, 1), got {val_frac}")
    if not pairs:
        raise GrainsegError("no pairs given")
    if mask_boundary not in POLARITIES:
        raise ParameterError("mask_boundary", f"must be one of {POLARITIES}, got {mask_boundary!r}")
    check_median_px(median_px)
    if seed < 0:
        raise ParameterError("seed", f"{seed}: must not be negative")
    _refuse_repeated_images(pairs)
    out = Path(out)
    check_output_dir(out)
    ensure_output_dir(out.parent if str(out.parent) else Path("."))
    _remove_dead_partials(out)
    sources = [_survey(p, patch, mask_boundary)
               for p in progress_bar(pairs, desc="checking pairs", unit="image")]
    n_total = sum(int(s.keep.sum()) for s in sources)
    if n_total == 0:
        specs = list(dict.fromkeys(
            ":".join(str(f) for f in (p.sem_path, p.label_path, p.ignore_path) if f is not None)
            for p in pairs
        ))
        more = f" and {len(specs) - 3} more" if len(specs) > 3 else ""
        raise GrainsegError(
            f"no patch has a labelled pixel (everything is ignored) in {', '.join(specs[:3])}"
            f"{more}; check the ignore masks (255 = ignore)"
        )
    codes, sides = _split(sources, split, val_frac, seed)
    _check_free_space(out, n_total, patch)

    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    with write_errors_reported(out):
        tmp.mkdir()
        try:
            shape = (n_total, patch, patch)
            images, labels, valid = (
                np.lib.format.open_memmap(tmp / f"{name}.npy", "w+", dtype, shape)
                for name, dtype in (("images", np.float16), ("labels", np.uint8),
                                    ("valid", np.uint8))
            )
            for name in ("images", "labels", "valid"):
                _reserve(tmp / f"{name}.npy")
            where = np.zeros((n_total, 3), dtype=np.int32)
            boundary_px = np.zeros(n_total, dtype=np.int64)
            records = []
            start = 0
            for index, src in enumerate(progress_bar(sources, desc="cutting patches", unit="image")):
                raw, label, valid_px, _ = _read_pair(src.pair, mask_boundary)
                rows = slice(0, src.bar_row)
                keep = src.keep.ravel()
                n = int(keep.sum())
                stop = start + n
                images[start:stop] = tile(preprocess_sem(raw[rows], median_px), patch)[keep]
                labels[start:stop] = tile(label[rows], patch)[keep]
                boundary_px[start:stop] = labels[start:stop].sum(axis=(1, 2))
                valid[start:stop] = tile(valid_px[rows], patch)[keep]
                tile_rows, tile_cols = np.nonzero(src.keep)
                where[start:stop] = np.stack(
                    [np.full(n, index), tile_rows * patch, tile_cols * patch], axis=1
                )
                records.append(
                    {
                        "name": src.pair.name,
                        "sem_path": str(src.pair.sem_path.resolve()),
                        "label_path": str(src.pair.label_path.resolve()),
                        "ignore_path": str(src.pair.ignore_path.resolve())
                        if src.pair.ignore_path
                        else None,
                        "height_px": src.shape[0],
                        "width_px": src.shape[1],
                        "data_bar_start_row": src.bar_row,
                        "pixel_size_um": src.pixel_size_um,
                        "patches": n,
                        "split": sides[index],
                    }
                )
                start = stop
            for array in (images, labels, valid):
                array.flush()
            boundary_per_split = np.bincount(codes, weights=boundary_px, minlength=len(SPLIT_CODES))
            del images, labels, valid
            np.save(tmp / "patches.npy", where)
            np.save(tmp / "split.npy", codes)
            counts = {name: int((codes == code).sum()) for name, code in SPLIT_CODES.items()}
            info = {
                "format": DATASET_FORMAT,
                "version": DATASET_VERSION,
                "grainseg_version": __version__,
                "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "patch_px": patch,
                "median_px": median_px,
                "mask_boundary": mask_boundary,
                "preprocess": "data bar cropped (data_bar_start_row), preprocess_sem(median_px)",
                "split": split,
                "val_frac": val_frac,
                "seed": seed,
                "n_patches": n_total,
                "counts": counts,
                "boundary_fraction": {
                    name: float(boundary_per_split[code]) / (counts[name] * patch * patch)
                    if counts[name]
                    else None
                    for name, code in SPLIT_CODES.items()
                },
                "sources": records,
                "arrays": {
                    name: _sha256(tmp / f"{name}.npy")
                    for name in ("images", "labels", "valid", "patches", "split")
                },
            }
            write_json_atomic(tmp / layout.DATASET_INFO, info)
            write_manifest(tmp, "dataset",
                           [path for r in records for path in (r["sem_path"], r["label_path"])],
                           {"patch_px": patch, "median_px": median_px,
                            "mask_boundary": mask_boundary, "split": split, "val_frac": val_frac,
                            "seed": seed})
            _install(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return info
