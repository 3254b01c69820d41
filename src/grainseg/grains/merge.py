"""Merging labels along pairs: the union-find every relabelling of grainseg goes through."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def merge_labels(n_labels: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The group of every label 0..n_labels-1 once each pair ``(first[i], second[i])`` is merged.

    Merges are transitive (the connected components of the graph whose edges are the pairs).

    Parameters
    ----------
    n_labels : int
        Labels are 0 .. n_labels - 1.
    first, second : (K,) int arrays
        The pairs to merge.

    Returns
    -------
    (n_labels,) int32 array
        Group of each label, numbered from 0 in the order of each group's smallest label (so a
        label merged with nothing smaller keeps its rank): ``group[labels]`` relabels an image.
    """
    first, second = np.asarray(first), np.asarray(second)
    graph = coo_matrix((np.ones(first.size, bool), (first, second)), shape=(n_labels, n_labels))
    return connected_components(graph, directed=False)[1]
