"""Patch data sets: pairs -> preprocessed non-overlapping patches on disk -> PyTorch."""

from grainseg.data.build import build_dataset, tile
from grainseg.data.dataset import EpochSampler, PatchArrays, PatchDataset, open_dataset
from grainseg.data.masks import boundary_from_mask
from grainseg.data.pairs import Pair, pairs_from_folders, resolve_pair

__all__ = [
    "EpochSampler",
    "Pair",
    "PatchArrays",
    "PatchDataset",
    "boundary_from_mask",
    "build_dataset",
    "open_dataset",
    "pairs_from_folders",
    "resolve_pair",
    "tile",
]
