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


def segment_and_score(model: str | None, cases: list[dict], out: Path) -> list[dict]:
    """Segment each case with a model (None: the shipped one); scores against its truth."""
    from grainseg.infer.segment import default_model_path, load_predictor, segment_image
    from grainseg.io.tiff import read_micrograph, write_tiff

    predict, meta = load_predictor(model or default_model_path(), "cpu")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for case in cases:
        ids_path = out / f"{case['name']}_grain_ids.tif"
        if ids_path.is_file():
            grain_ids = read_micrograph(ids_path).image
        else:
            image = read_micrograph(case["image_path"]).image
            grain_ids = segment_image(image, predict,
                                      median_px=int(meta.get("median_px", 3))).grain_ids
            write_tiff(ids_path, grain_ids)
        rows.append({"name": case["name"], "grain_ids": grain_ids,
                     **score(grain_ids, case["true_ids"])})
    return rows


def review_folders(cases: list[dict], predicted: list[dict], work: Path, corrected: bool
                   ) -> list[Path]:
    """Labels folders of the reviewed images: corrected (simulated) or as segmented."""
    from grainseg.io.tiff import read_micrograph
    from grainseg.review.session import ReviewSession

    folders = []
    for case, row in zip(cases, predicted, strict=True):
        folder = work / ("reviewed" if corrected else "uncorrected") / case["name"]
        if not (folder / "review.json").is_file():
            micrograph = read_micrograph(case["image_path"])
            grain_ids = (simulate_review(row["grain_ids"], case["true_ids"]) if corrected
                         else row["grain_ids"])
            session = ReviewSession(image=micrograph.image, grain_ids=grain_ids,
                                    image_path=Path(case["image_path"]),
                                    pixel_size_um=micrograph.pixel_size_um)
            session.mark_reviewed()
            session.save(folder)
        folders.append(folder)
    return folders


def fine_tune(folders: list[Path], run_dir: Path, minutes: float, patch_px: int) -> Path:
    """``grainseg dataset`` + ``grainseg train --init default``; returns the run folder."""
    dataset = run_dir.with_name(run_dir.name + "_ds")
    if not (dataset / "dataset.json").is_file():
        run(["dataset", *map(str, folders), "--patch", str(patch_px), "--split", "patch",
             "--val-frac", "0.15", "--out", str(dataset)])
    if not (run_dir / "model.pt").is_file():
        run(["train", str(dataset), "--out", str(run_dir), "--init", "default", "--lr", "1e-4",
             "--lr-schedule", "cosine", "--max-time", str(minutes), "--epochs", "1000",
             "--patience", "1000", "--batch", "8", "--no-progress"])
    return run_dir
