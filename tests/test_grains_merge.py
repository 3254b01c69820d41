"""`merge_labels`: the one union-find behind twin merging, weak-boundary merging and the
block-by-block grain labels of large images."""

import numpy as np

from grainseg.grains.merge import merge_labels


def test_merges_are_transitive_and_groups_ordered_by_their_smallest_label():
    group = merge_labels(7, np.array([5, 2, 3]), np.array([3, 6, 5]))
    # {0} {1} {2, 6} {3, 5} {4}: numbered in the order of 0, 1, 2, 3, 4
    assert group.tolist() == [0, 1, 2, 3, 4, 3, 2]


def test_no_pairs_keeps_every_label():
    assert merge_labels(4, np.array([], int), np.array([], int)).tolist() == [0, 1, 2, 3]


def test_relabels_an_image():
    labels = np.array([[1, 1, 2], [3, 3, 2]])
    merged = merge_labels(4, np.array([1]), np.array([3]))[labels]
    assert merged.tolist() == [[1, 1, 2], [1, 1, 2]]
