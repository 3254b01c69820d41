"""Read a patch data set (see `grainseg.data.build`) and serve it to PyTorch.

Training patches are flipped on the fly (none, horizontal, vertical, both: the paper's four-fold
flip augmentation without storing four copies). The choice of flip is made by the sampler, not the
data set, so that an epoch's order and flips depend only on (seed, epoch): a run resumed from a
checkpoint sees the same batches as an uninterrupted one, with any number of loader workers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from grainseg.data.build import DATASET_FORMAT, SPLIT_CODES
from grainseg.errors import GrainsegError, input_error

_ARRAYS = ("images", "labels", "valid", "patches", "split")
N_FLIPS = 4


@dataclass
class PatchArrays:
    """A data set opened read-only.

    Attributes
    ----------
    path : Path
        The data set folder.
    info : dict
        Content of ``dataset.json``.
    images : (N, P, P) float16 memmap
    labels, valid : (N, P, P) uint8 memmaps
    patches : (N, 3) int32 array
        Source image index, top row, left column.
    split : (N,) uint8 array
        0 = train, 1 = val.
    """

    path: Path
    info: dict
    images: np.ndarray
    labels: np.ndarray
    valid: np.ndarray
    patches: np.ndarray
    split: np.ndarray

    def indices(self, split: str) -> np.ndarray:
        """Patch indices of ``split`` ("train", "val" or "all"); a GrainsegError when empty."""
        if split == "all":
            chosen = np.arange(self.split.size)
        elif split in SPLIT_CODES:
            chosen = np.flatnonzero(self.split == SPLIT_CODES[split])
        else:
            raise GrainsegError(f"unknown split {split!r}; use train, val or all")
        if chosen.size == 0:
            raise input_error(self.path, f"the {split!r} split of this data set is empty")
        return chosen


def open_dataset(path: str | os.PathLike) -> PatchArrays:
    """Open a data set folder memory-mapped, checking that its files agree.

    Raises
    ------
    GrainsegError
        If ``path`` is not a grainseg data set or its arrays are missing or inconsistent.
    """
    path = Path(path)
    meta = path / "dataset.json"
    if not meta.is_file():
        raise input_error(path, "not a grainseg data set (no dataset.json); make one with "
                          "`grainseg dataset`")
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise input_error(meta, f"not valid JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != DATASET_FORMAT:
        raise input_error(meta, "not a grainseg data set description")
    arrays = {}
    for name in _ARRAYS:
        file = path / f"{name}.npy"
        if not file.is_file():
            raise input_error(file, "missing from the data set")
        try:
            arrays[name] = np.load(file, mmap_mode="r")
        except (ValueError, OSError) as exc:
            raise input_error(file, f"not a readable .npy array ({exc})") from None
    n, patch = info.get("n_patches"), info.get("patch_px")
    expected = {
        "images": (n, patch, patch),
        "labels": (n, patch, patch),
        "valid": (n, patch, patch),
        "patches": (n, 3),
        "split": (n,),
    }
    for name, shape in expected.items():
        if arrays[name].shape != shape:
            raise input_error(
                path / f"{name}.npy",
                f"shape {arrays[name].shape} does not match dataset.json (expected {shape})",
            )
    return PatchArrays(path=path, info=info, **arrays)


def flip_patch(array: np.ndarray, flip: int) -> np.ndarray:
    """Flip the last two axes: 0 none, 1 horizontal, 2 vertical, 3 both."""
    if flip & 1:
        array = array[..., ::-1]
    if flip & 2:
        array = array[..., ::-1, :]
    return array


class PatchDataset(Dataset):
    """Patches of one split as tensors.

    Item keys are ``position * N_FLIPS + flip`` where ``position`` indexes the split's patches
    and ``flip`` is a `flip_patch` code; `EpochSampler` makes them. Memory maps are opened lazily
    in each loader worker.

    Returns per item
    ----------------
    image : (1, P, P) float32 tensor
    label : (1, P, P) float32 tensor, 1 = boundary
    valid : (1, P, P) bool tensor
    """

    def __init__(self, path: str | os.PathLike, split: str) -> None:
        arrays = open_dataset(path)
        self.path = arrays.path
        self.split = split
        self.positions = arrays.indices(split)
        self._arrays: PatchArrays | None = None

    def __len__(self) -> int:
        return self.positions.size * N_FLIPS

    def __getitem__(self, key: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self._arrays is None:
            self._arrays = open_dataset(self.path)
        position, flip = divmod(int(key), N_FLIPS)
        index = self.positions[position]
        arrays = self._arrays

        def get(array: np.ndarray, dtype: type) -> torch.Tensor:
            patch = flip_patch(np.asarray(array[index]), flip).astype(dtype)
            return torch.from_numpy(np.ascontiguousarray(patch))[None]

        return get(arrays.images, np.float32), get(arrays.labels, np.float32), get(
            arrays.valid, np.bool_
        )


class EpochSampler(Sampler[int]):
    """Keys for `PatchDataset`: a permutation (and flips) that depend only on (seed, epoch).

    Parameters
    ----------
    n : int
        Number of patches in the split.
    seed : int
        Base seed.
    shuffle : bool
        Random order per epoch (training) or the stored order (validation).
    flips : bool
        Draw a random flip per patch per epoch.
    rank, world_size : int
        This process's share under DDP: every ``world_size``-th key starting at ``rank``
        (the permutation is padded by wrapping so all ranks get the same count).
    """

    def __init__(
        self,
        n: int,
        seed: int = 0,
        shuffle: bool = True,
        flips: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.n, self.seed, self.shuffle, self.flips = n, seed, shuffle, flips
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._skip: tuple[int, int] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of each epoch."""
        self.epoch = epoch

    def resume(self, epoch: int, skip: int) -> None:
        """Continue ``epoch`` after its first ``skip`` keys (of this rank), once."""
        self.epoch = epoch
        self._skip = (epoch, skip)

    def __len__(self) -> int:
        return -(-self.n // self.world_size)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        flip = rng.integers(0, N_FLIPS, self.n) if self.flips else np.zeros(self.n, np.int64)
        keys = order * N_FLIPS + flip[order]
        total = len(self) * self.world_size
        keys = np.resize(keys, total)[self.rank :: self.world_size]
        if self._skip is not None:
            if self._skip[0] == self.epoch:
                keys = keys[self._skip[1] :]
            self._skip = None
        return iter(keys.tolist())


class ResumableLoader(DataLoader):
    """A DataLoader over an `EpochSampler` that Lightning can checkpoint mid-epoch.

    Lightning saves ``state_dict()`` with each checkpoint and hands it back on resume; the
    sampler then skips the batches this epoch has already trained on, so a resumed run sees the
    same batches as an uninterrupted one.

    Parameters
    ----------
    *args, **kwargs
        As for ``DataLoader``; ``sampler`` must be an `EpochSampler`.
    batches_done : callable () -> int
        Batches of the current epoch already trained (Lightning's batch progress).
    """

    def __init__(self, *args, batches_done: Callable[[], int], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._batches_done = batches_done

    def state_dict(self) -> dict:
        epoch, done = self.sampler.epoch, int(self._batches_done())
        if done >= len(self):  # saved at the end of an epoch: the next one starts afresh
            epoch, done = epoch + 1, 0
        return {"epoch": epoch, "batches_done": done}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.resume(int(state["epoch"]), int(state["batches_done"]) * self.batch_size)
