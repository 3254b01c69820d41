"""The simulated reviewer of benchmarks/bench_finetune_corrections.py: it fixes what the truth
says is wrong where the truth is known, and leaves the rest as segmented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from grainseg.grains.measure import grains_from_boundaries
from grainseg.metrics.grains import grain_ari
from grainseg.synth.microstructure import boundary_mask

_BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_finetune_corrections.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_finetune_corrections", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_simulated_review_fixes_errors_where_the_truth_is_known():
    bench = _bench()
    true_ids = 1 + (np.arange(48)[:, None] >= 24) * 2 + (np.arange(48)[None, :] >= 24)
    valid = np.ones(true_ids.shape, bool)
    valid[30:, 25:] = False  # a not-indexed area: no truth there
    case = bench.Case("quadrants", "real geometry", np.zeros(true_ids.shape, np.uint8),
                      boundary_mask(true_ids) & valid, valid, 0.1)
    predicted = np.zeros(true_ids.shape, bool)
    predicted[:, 24] = True  # right
    predicted[10, :24] = True  # false: no true boundary near row 10
    predicted[38, 25:] = True  # in the not-indexed area: nobody can tell, it stays
    # (the true boundary along row 24 is missing)
    reviewed = bench.simulate_review(grains_from_boundaries(predicted), case)

    assert reviewed[10, 5] > 0 and reviewed[5, 5] == reviewed[15, 5]  # false line erased
    assert reviewed[15, 5] != reviewed[35, 5]  # missing line drawn
    assert reviewed[38, 40] == 0 and reviewed[35, 40] != reviewed[44, 40]
    known = valid & (np.arange(48)[:, None] < 30)
    before = grain_ari(predicted, case.truth_boundaries, known)
    after = grain_ari(reviewed == 0, case.truth_boundaries, known)
    assert before < 0.8 < 0.99 < after, (before, after)
