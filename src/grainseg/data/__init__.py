"""Patch data sets: pairs -> preprocessed non-overlapping patches on disk -> PyTorch."""

from grainseg.data.build import build_dataset, tile
from grainseg.data.dataset import EpochSampler, PatchArrays, PatchDataset, open_dataset
from grainseg.data.pairs import Pair, resolve_pair

__all__ = [
    "EpochSampler",
    "Pair",
    "PatchArrays",
    "PatchDataset",
    "build_dataset",
    "open_dataset",
    "resolve_pair",
    "tile",
]
