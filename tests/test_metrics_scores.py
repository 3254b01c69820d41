"""Pixel scores, ARI of grains, tolerance F1 and boundary width."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grainseg.losses.bce import weighted_bce
from grainseg.metrics.boundary import (
    mean_width_px,
    tolerance_counts,
    tolerance_scores,
    width_counts,
)
from grainseg.metrics.grains import adjusted_rand_index, grain_ari
from grainseg.metrics.pixel import confusion_counts, pixel_scores


def test_pixel_scores_by_hand():
    true = np.array([[1, 1, 0, 0]], dtype=bool)
    pred = np.array([[1, 0, 1, 0]], dtype=bool)
    counts = confusion_counts(pred, true)
    assert counts == {"tp": 1, "fp": 1, "tn": 1, "fn": 1}
    scores = pixel_scores(counts)
    assert scores["precision"] == scores["recall"] == scores["tpr"] == scores["tnr"] == 0.5
    assert scores["dice"] == pytest.approx(0.5)


def test_pixel_counts_respect_valid_and_nan_when_undefined():
    true = np.array([[1, 0, 0]], dtype=bool)
    pred = np.zeros((1, 3), dtype=bool)
    counts = confusion_counts(pred, true, valid=np.array([[0, 1, 1]], dtype=bool))
    assert counts == {"tp": 0, "fp": 0, "tn": 2, "fn": 0}
    assert math.isnan(pixel_scores(counts)["precision"])


def _ari_reference(a: np.ndarray, b: np.ndarray) -> float:
    """ARI straight from its pair-counting definition (O(n^2), small n only)."""
    n = a.size
    iu = np.triu_indices(n, 1)
    same_a = (a[:, None] == a[None, :])[iu]
    same_b = (b[:, None] == b[None, :])[iu]
    n11 = np.sum(same_a & same_b)
    pairs = n * (n - 1) / 2
    expected = same_a.sum() * same_b.sum() / pairs
    maximum = (same_a.sum() + same_b.sum()) / 2
    return 1.0 if maximum == expected else (n11 - expected) / (maximum - expected)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=2, max_size=40))
def test_ari_matches_pair_counting_definition(pairs):
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    assert adjusted_rand_index(a, b) == pytest.approx(_ari_reference(a, b), abs=1e-9)


def test_ari_identical_up_to_renaming_is_one():
    a = np.repeat([5, 7, 9], 10)
    assert adjusted_rand_index(a, 100 - a) == pytest.approx(1.0)


def test_grain_ari_penalises_gap_not_shift():
    true = np.zeros((20, 20), dtype=bool)
    true[:, 10] = True  # two grains
    shifted = np.roll(true, 1, axis=1)
    gap = true.copy()
    gap[8:12, 10] = False  # grains merge through the gap
    assert grain_ari(true, true) == pytest.approx(1.0)
    assert grain_ari(shifted, true) > 0.8
    assert grain_ari(gap, true) < 0.1


def test_tolerance_f1_forgives_small_shift_only():
    true = np.zeros((40, 40), dtype=bool)
    true[:, 20] = True
    near = tolerance_scores(tolerance_counts(np.roll(true, 2, axis=1), true, tol_px=2))
    far = tolerance_scores(tolerance_counts(np.roll(true, 3, axis=1), true, tol_px=2))
    assert near["boundary_f1"] == pytest.approx(1.0)
    assert far["boundary_f1"] == pytest.approx(0.0)
    empty = tolerance_counts(np.zeros_like(true), true)
    assert empty["true_matched"] == 0 and empty["pred_total"] == 0


def test_width_of_straight_bands():
    band = np.zeros((50, 50), dtype=bool)
    band[:, 20:25] = True
    width = mean_width_px(width_counts(band))
    assert width == pytest.approx(5.0, rel=0.1)
    assert math.isnan(mean_width_px(width_counts(np.zeros((5, 5), bool))))


def test_weighted_bce_weights_ignores_and_sums_outputs():
    target = torch.tensor([[[[1.0, 0.0]]]])
    logits = torch.zeros(1, 1, 1, 2)
    log2 = math.log(2)
    assert weighted_bce(logits, target, pos_weight=1).item() == pytest.approx(log2)
    assert weighted_bce(logits, target, pos_weight=9).item() == pytest.approx(10 * log2 / 2)
    valid = torch.tensor([[[[False, True]]]])
    assert weighted_bce(logits, target, valid, pos_weight=9).item() == pytest.approx(log2)
    both = weighted_bce([logits, logits], target, pos_weight=9).item()
    assert both == pytest.approx(2 * 10 * log2 / 2)
