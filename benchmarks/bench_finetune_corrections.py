"""Learning from corrections: fine-tune the shipped model on two reviewed images, score the rest.

The workflow "segment, review, fine-tune, segment the rest", measured on the real-geometry part
of the accuracy benchmark (`bench_accuracy.py`: SEM-like images rendered from the grain maps of
real EBSD files, with exact truth):

1. the shipped model segments every image (the "before" scores);
2. two images are reviewed: the corrections a person makes with the review tools are simulated
   from the truth (`simulate_review`): every true boundary the segmentation misses by more than
   the 2 px tolerance is drawn, every predicted boundary with no true one within 2 px is erased,
   and the grain map is settled by `grainseg.review.edits.settle` as after each edit in napari
   (grains parted only by erased boundaries merge, drawn lines that close no grain go); where the
   segmentation was right, its boundaries stay where it put them. The whole image is marked
   reviewed and saved with `ReviewSession.save`, the labels folder `grainseg review` writes;
3. ``grainseg dataset`` of the two folders, ``grainseg train --init default`` for a few CPU
   minutes (cosine schedule over the time budget);
4. the fine-tuned model segments the other images (the "after" scores);
5. control: the same fine-tune on the two images' *uncorrected* segmentations (self-training on
   pseudo-labels, same recipe and time), which separates the value of the corrections from that
   of more training on images of this kind.

Scores are `bench_accuracy`'s: tolerance F1 (2 px), precision, recall, grain ARI, found / true
grain count, after the full ``segment`` post-processing. Writes
benchmarks/results/finetune_corrections.md. Finished steps are reused (their folders exist).

Run on an idle machine: ``.venv/bin/python benchmarks/bench_finetune_corrections.py
--work /tmp/finetune_corrections --minutes 5``.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
GRAINSEG = str(Path(sys.executable).parent / "grainseg")
TOLERANCE_PX = 2.0


def simulate_review(predicted_ids: np.ndarray, true_ids: np.ndarray,
                    tolerance_px: float = TOLERANCE_PX) -> np.ndarray:
    """The grain map a careful reviewer leaves: the prediction with its errors fixed.

    Parameters
    ----------
    predicted_ids, true_ids : (H, W) uint32
        Grain IDs (0 = boundary) of the segmentation and of the truth.
    tolerance_px : float
        A boundary within this distance of the other map's boundary counts as right.

    Returns
    -------
    (H, W) uint32
        Closed grain map (`grainseg.review.edits.network_problems` is empty).
    """
    from grainseg.review import edits

    predicted = predicted_ids == 0
    truth = true_ids == 0
    near_predicted = ndimage.distance_transform_edt(~predicted) <= tolerance_px
    near_truth = ndimage.distance_transform_edt(~truth) <= tolerance_px
    # Missing: true boundary far from any predicted one, drawn on from where it leaves the
    # predicted line (tolerance + 2 px further along the truth) so the drawn piece joins it.
    missing = truth & ~near_predicted
    reach = tolerance_px + 2
    drawn = truth & (ndimage.distance_transform_edt(~missing) <= reach) if missing.any() else missing
    # False: predicted boundary far from any true one. What is left of it near a true boundary
    # dangles once the far part is gone, and `settle` removes it.
    erased = predicted & ~near_truth
    return edits.settle(predicted_ids, (predicted & ~erased) | drawn)


def run(args: list[str]) -> None:
    """Run a grainseg command, failing loudly."""
    print("$ grainseg " + shlex.join(args), flush=True)
    subprocess.run([GRAINSEG, *args], check=True)
