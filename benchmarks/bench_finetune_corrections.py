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

import argparse
import platform
import shlex
import subprocess
import sys
import time
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
        # The segmentation covers the rows above a data bar: the truth is scored there too.
        true_ids = case["true_ids"][: grain_ids.shape[0]]
        rows.append({"name": case["name"], "grain_ids": grain_ids, "true_ids": true_ids,
                     **score(grain_ids, true_ids)})
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
            grain_ids = (simulate_review(row["grain_ids"], row["true_ids"]) if corrected
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
             "--patience", "1000", "--batch", "8", "--pos-weight", "4", "--no-progress"])
    return run_dir


def score(grain_ids: np.ndarray, true_ids: np.ndarray) -> dict:
    """Tolerance F1 (2 px), precision, recall, grain ARI and grain counts of one image."""
    from grainseg.metrics.boundary import tolerance_counts, tolerance_scores
    from grainseg.metrics.grains import grain_ari

    predicted, truth = grain_ids == 0, true_ids == 0
    scores = tolerance_scores(tolerance_counts(predicted, truth, TOLERANCE_PX))
    return {"f1": scores["boundary_f1"], "precision": scores["boundary_precision"],
            "recall": scores["boundary_recall"], "ari": grain_ari(predicted, truth),
            "found": int(len(np.unique(grain_ids[grain_ids > 0]))),
            "true": int(len(np.unique(true_ids[true_ids > 0])))}


COLUMNS = [("f1", "F1 (2 px)"), ("precision", "precision"), ("recall", "recall"),
           ("ari", "grain ARI")]


def table(rows_by_model: dict[str, list[dict]]) -> str:
    """Markdown table: per model, the mean of each score over the held-out images."""
    lines = ["| model | " + " | ".join(label for _, label in COLUMNS) + " | found / true grains |",
             "|---|" + "---|" * (len(COLUMNS) + 1)]
    for model, rows in rows_by_model.items():
        means = [np.mean([r[key] for r in rows]) for key, _ in COLUMNS]
        found, true = sum(r["found"] for r in rows), sum(r["true"] for r in rows)
        lines.append(f"| {model} | " + " | ".join(f"{m:.3f}" for m in means)
                     + f" | {found} / {true} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/finetune_corrections"))
    parser.add_argument("--minutes", type=float, default=5.0,
                        help="fine-tuning time budget per run, CPU minutes (default 5)")
    parser.add_argument("--reviewed", type=int, default=2,
                        help="images corrected and trained on (default 2); the rest are scored")
    parser.add_argument("--patch", type=int, default=128, help="patch side in px (default 128)")
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="skip the fine-tune on uncorrected segmentations")
    args = parser.parse_args()

    from bench_accuracy import real_geometry_cases

    from grainseg.io.atomic import write_text_atomic

    started = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    cases = real_geometry_cases(args.work / "cases")
    if len(cases) <= args.reviewed:
        raise SystemExit(f"need more than {args.reviewed} real-geometry images, got {len(cases)}")
    reviewed, held_out = cases[: args.reviewed], cases[args.reviewed :]
    before_reviewed = segment_and_score(None, reviewed, args.work / "seg_before")
    results = {"shipped model": segment_and_score(None, held_out, args.work / "seg_before")}
    corrected = review_folders(reviewed, before_reviewed, args.work, corrected=True)
    tuned = fine_tune(corrected, args.work / "tuned", args.minutes, args.patch)
    results["fine-tuned on 2 corrected images"] = segment_and_score(
        str(tuned), held_out, args.work / "seg_tuned")
    if args.control:
        plain = review_folders(reviewed, before_reviewed, args.work, corrected=False)
        control = fine_tune(plain, args.work / "control", args.minutes, args.patch)
        results["control: fine-tuned on 2 uncorrected segmentations"] = segment_and_score(
            str(control), held_out, args.work / "seg_control")

    corrections = [score(simulate_review(row["grain_ids"], row["true_ids"]), row["true_ids"])
                   for row in before_reviewed]
    base = results["shipped model"]
    after = results["fine-tuned on 2 corrected images"]
    rise = {key: np.mean([a[key] - b[key] for a, b in zip(after, base, strict=True)])
            for key, _ in COLUMNS}
    per_image = ["| image | " + " | ".join(f"{label} before / after" for _, label in COLUMNS)
                 + " |", "|---|" + "---|" * len(COLUMNS)]
    for b, a in zip(base, after, strict=True):
        per_image.append(f"| {b['name']} | " + " | ".join(
            f"{b[key]:.3f} / {a[key]:.3f}" for key, _ in COLUMNS) + " |")
    command = ("python benchmarks/bench_finetune_corrections.py "
               f"--work {args.work} --minutes {args.minutes:g} --reviewed {args.reviewed}"
               + ("" if args.control else " --no-control"))
    page = f"""# Fine-tuning on reviewed images (segment, review, fine-tune, segment the rest)

Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}
({platform.processor() or platform.machine()}, CPU only), {(time.time() - started) / 60:.0f} min
in all (steps found finished in {args.work} were reused).

Command: `{command}`

The real-geometry images of `bench_accuracy.py` ({len(cases)}: {', '.join(c['name'] for c in cases)}).
The shipped model segments all of them; {args.reviewed} ({', '.join(c['name'] for c in reviewed)})
are corrected with the review tools, the corrections simulated from the truth (true boundaries
missed by more than 2 px drawn, predicted boundaries with no true one within 2 px erased, the map
settled as after each edit in napari; scores of the corrected maps against the truth: ARI
{', '.join(f"{c['ari']:.3f}" for c in corrections)}, F1 {', '.join(f"{c['f1']:.3f}" for c in corrections)}),
saved as `grainseg review` saves them, and the shipped model is fine-tuned on them:
`grainseg dataset` ({args.patch} px patches, 15% of them for validation) and
`grainseg train --init default --lr 1e-4 --lr-schedule cosine --max-time {args.minutes:g}
--pos-weight 4` (the shipped model's boundary weight; the best checkpoint by validation loss).
Scores are means over the {len(held_out)} other images, after the full `segment` post-processing.

{table(results)}

Mean rise over the shipped model on the held-out images: F1 {rise['f1']:+.3f}, precision
{rise['precision']:+.3f}, recall {rise['recall']:+.3f}, grain ARI {rise['ari']:+.3f}.
{"The control fine-tunes the same way, for the same time, on the two images' uncorrected segmentations (self-training): what more training alone gives." if args.control else ""}

{chr(10).join(per_image)}
"""
    out = ROOT / "benchmarks" / "results" / "finetune_corrections.md"
    write_text_atomic(out, page)
    print(page)
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
