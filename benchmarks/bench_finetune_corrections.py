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

The images, their truth and the scores are `bench_accuracy`'s (`accuracy_cases.Case`,
`bench_accuracy.score` / `summarise`): tolerance F1 (2 px, pooled), precision, recall, mean grain
ARI, found / true grain count, on the valid pixels only (not-indexed EBSD areas are left out of the
scores, and the simulated reviewer leaves them as segmented and not reviewed). Writes
benchmarks/results/finetune_corrections.md (``--out``: another folder); ``--quick`` writes
finetune_corrections_quick.md into ``--work``, since its figures are a check of the loop, not a
result. Finished steps are reused (their folders exist in ``--work``).

Run on an idle machine: ``.venv/bin/python benchmarks/bench_finetune_corrections.py
--work /tmp/finetune_corrections --minutes 5``. ``--quick`` (one scale, 256 px images, 64 px
patches, ``--minutes 0.5`` unless given) checks the whole loop in a few minutes; its figures mean
little.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy_cases import SCALES, Case, real_geometry_cases  # noqa: E402
from bench_accuracy import score, summarise  # noqa: E402

from grainseg.metrics.boundary import tolerance_scores  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE_PX = 2.0


def simulate_review(predicted_ids: np.ndarray, case: Case,
                    tolerance_px: float = TOLERANCE_PX) -> np.ndarray:
    """The grain map a careful reviewer leaves: the prediction with its errors fixed.

    Parameters
    ----------
    predicted_ids : (H, W) uint32
        Grain IDs (0 = boundary) of the segmentation of ``case.image``.
    case : Case
        Its truth: ``truth_boundaries`` on the ``valid`` pixels; elsewhere (not-indexed EBSD
        areas) the reviewer cannot tell, and the prediction stays.
    tolerance_px : float
        A boundary within this distance of the other map's boundary counts as right.

    Returns
    -------
    (H, W) uint32
        Closed grain map (`grainseg.review.edits.network_problems` is empty).
    """
    from grainseg.review import edits

    predicted = predicted_ids == 0
    truth = case.truth_boundaries
    near_predicted = ndimage.distance_transform_edt(~predicted) <= tolerance_px
    near_truth = ndimage.distance_transform_edt(~truth) <= tolerance_px
    # Missing: true boundary far from any predicted one, drawn on from where it leaves the
    # predicted line (tolerance + 2 px further along the truth) so the drawn piece joins it.
    missing = truth & ~near_predicted
    reach = tolerance_px + 2
    drawn = truth & (ndimage.distance_transform_edt(~missing) <= reach) if missing.any() else missing
    # False: predicted boundary far from any true one. What is left of it near a true boundary
    # dangles once the far part is gone, and `settle` removes it.
    erased = predicted & ~near_truth & case.valid
    return edits.settle(predicted_ids, (predicted & ~erased) | drawn)


def run(args: list[str]) -> None:
    """Run a grainseg command as a user types it, failing loudly."""
    from grainseg.cli import main

    print("$ grainseg " + shlex.join(args), flush=True)
    if main(args) != 0:
        raise SystemExit(f"grainseg {args[0]} failed")


def slug(case: Case) -> str:
    return case.name.replace(" ", "_")


def case_images(cases: list[Case], folder: Path) -> list[Path]:
    """Each case's image as a TIFF with its pixel size: what a user segments and reviews."""
    from grainseg.io.tiff import write_tiff

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in cases:
        path = folder / f"{slug(case)}.tif"
        if not path.is_file():
            write_tiff(path, case.image, case.pixel_size_um)
        paths.append(path)
    return paths


def segment_and_score(model: str | None, cases: list[Case], out: Path
                      ) -> tuple[list[dict], list[np.ndarray]]:
    """Segment each case with a model (None: the shipped one).

    Returns
    -------
    rows : list of dict
        `bench_accuracy.score` of each case, its name and the seconds segmenting took.
    grain_ids : list of (H, W) uint32
    """
    from grainseg.infer.segment import default_model_path, load_predictor, segment_image
    from grainseg.io.tiff import read_micrograph, write_tiff

    predict, meta = load_predictor(model or default_model_path(), "cpu")
    out.mkdir(parents=True, exist_ok=True)
    rows, maps = [], []
    for case in cases:
        ids_path = out / f"{slug(case)}_grain_ids.tif"
        seconds = float("nan")  # segmented by an earlier run
        if ids_path.is_file():
            grain_ids = read_micrograph(ids_path).image
        else:
            start = time.perf_counter()
            grain_ids = segment_image(case.image, predict,
                                      median_px=int(meta.get("median_px", 3))).grain_ids
            seconds = time.perf_counter() - start
            write_tiff(ids_path, grain_ids)
        rows.append({"case": case.name, "seconds": seconds,
                     **score(grain_ids == 0, covered(case, grain_ids))})
        maps.append(grain_ids)
    return rows, maps


def covered(case: Case, grain_ids: np.ndarray) -> Case:
    """The case cut to the rows the segmentation covers (all, unless it found a data bar)."""
    rows = grain_ids.shape[0]
    return dataclasses.replace(case, image=case.image[:rows],
                               truth_boundaries=case.truth_boundaries[:rows],
                               valid=case.valid[:rows])


def review_folders(cases: list[Case], images: list[Path], grain_maps: list[np.ndarray],
                   work: Path, corrected: bool) -> list[Path]:
    """Labels folders of the reviewed images: corrected (simulated) or as segmented.

    The valid pixels are marked reviewed; the rest stays in ignore.tif, as a reviewer who cannot
    check not-indexed areas leaves them.
    """
    from grainseg.review.session import ReviewSession

    folders = []
    for case, image, grain_ids in zip(cases, images, grain_maps, strict=True):
        folder = work / ("reviewed" if corrected else "uncorrected") / slug(case)
        if not (folder / "review.json").is_file():
            part = covered(case, grain_ids)
            session = ReviewSession(
                image=case.image,
                grain_ids=simulate_review(grain_ids, part) if corrected else grain_ids,
                reviewed=part.valid.copy(), image_path=image,
                pixel_size_um=case.pixel_size_um)
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
             "--lr-schedule", "cosine", "--max-time", f"{minutes:g}", "--epochs", "1000",
             "--patience", "1000", "--batch", "8", "--pos-weight", "4", "--no-progress"])
    return run_dir


COLUMNS = [("f1", "F1 (2 px)"), ("precision", "precision"), ("recall", "recall"),
           ("ari", "grain ARI")]


def table(summaries: dict[str, dict]) -> str:
    """Markdown table: per model, `bench_accuracy.summarise` of the held-out images."""
    lines = ["| model | " + " | ".join(label for _, label in COLUMNS) + " | found / true grains |",
             "|---|" + "---|" * (len(COLUMNS) + 1)]
    for model, s in summaries.items():
        lines.append(f"| {model} | " + " | ".join(f"{s[key]:.3f}" for key, _ in COLUMNS)
                     + f" | {s['grains_found']} / {s['grains_true']} |")
    return "\n".join(lines)


def image_scores(row: dict) -> dict:
    """One image's F1, precision, recall (from its tolerance counts) and ARI."""
    s = tolerance_scores(row)
    return {"f1": s["boundary_f1"], "precision": s["boundary_precision"],
            "recall": s["boundary_recall"], "ari": row["ari"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/finetune_corrections"))
    parser.add_argument("--minutes", type=float,
                        help="fine-tuning time budget per run, CPU minutes (default 5; "
                             "--quick 0.5)")
    parser.add_argument("--reviewed", type=int, default=2,
                        help="images corrected and trained on (default 2); the rest are scored")
    parser.add_argument("--patch", type=int, help="patch side in px (default 128; --quick 64)")
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="skip the fine-tune on uncorrected segmentations")
    parser.add_argument("--quick", action="store_true",
                        help="one scale, 256 px images: checks the loop, not a figure")
    parser.add_argument("--out", type=Path,
                        help="folder of the result page (default benchmarks/results; "
                             "--quick: --work)")
    args = parser.parse_args()
    if args.minutes is None:
        args.minutes = 0.5 if args.quick else 5.0
    if args.patch is None:
        args.patch = 64 if args.quick else 128
    if args.out is None:
        args.out = args.work if args.quick else ROOT / "benchmarks" / "results"

    from grainseg.io.atomic import write_text_atomic

    started = time.time()
    args.work.mkdir(parents=True, exist_ok=True)
    cases = (real_geometry_cases(scales=(SCALES[0],), max_side_px=256) if args.quick
             else real_geometry_cases())
    if len(cases) <= args.reviewed:
        raise SystemExit(f"need more than {args.reviewed} real-geometry images (EBSD files in "
                         f"../shared/data/ebsd), got {len(cases)}")
    images = case_images(cases, args.work / "cases")
    n = args.reviewed
    reviewed, held_out = cases[:n], cases[n:]
    before_rows, before_maps = segment_and_score(None, cases, args.work / "seg_before")
    rows = {"shipped model": before_rows[n:]}
    corrected = review_folders(reviewed, images[:n], before_maps[:n], args.work, corrected=True)
    tuned = fine_tune(corrected, args.work / "tuned", args.minutes, args.patch)
    after_label = f"fine-tuned on {n} corrected images"
    rows[after_label], _ = segment_and_score(str(tuned), held_out, args.work / "seg_tuned")
    if args.control:
        plain = review_folders(reviewed, images[:n], before_maps[:n], args.work,
                               corrected=False)
        control = fine_tune(plain, args.work / "control", args.minutes, args.patch)
        rows[f"control: fine-tuned on {n} uncorrected segmentations"], _ = segment_and_score(
            str(control), held_out, args.work / "seg_control")
    summaries = {model: summarise(r) for model, r in rows.items()}

    corrections = [image_scores({**score(simulate_review(ids, covered(c, ids)) == 0,
                                         covered(c, ids)), "case": c.name})
                   for c, ids in zip(reviewed, before_maps[:n], strict=True)]
    base, after = summaries["shipped model"], summaries[after_label]
    rise = {key: after[key] - base[key] for key, _ in COLUMNS}
    per_image = ["| image | " + " | ".join(f"{label} before / after" for _, label in COLUMNS)
                 + " |", "|---|" + "---|" * len(COLUMNS)]
    for b, a in zip(rows["shipped model"], rows[after_label], strict=True):
        sb, sa = image_scores(b), image_scores(a)
        per_image.append(f"| {b['case']} | " + " | ".join(
            f"{sb[key]:.3f} / {sa[key]:.3f}" for key, _ in COLUMNS) + " |")
    command = ("python benchmarks/bench_finetune_corrections.py "
               f"--work {args.work} --minutes {args.minutes:g} --reviewed {n}"
               + (" --quick" if args.quick else "") + ("" if args.control else " --no-control"))
    page = f"""# Fine-tuning on reviewed images (segment, review, fine-tune, segment the rest)

Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}
({platform.processor() or platform.machine()}, CPU only), {(time.time() - started) / 60:.0f} min
in all (steps found finished in {args.work} were reused).

Command: `{command}`

The real-geometry images of `bench_accuracy.py` ({len(cases)}: {', '.join(c.name for c in cases)}).
The shipped model segments all of them; {n} ({', '.join(c.name for c in reviewed)})
are corrected with the review tools, the corrections simulated from the truth (true boundaries
missed by more than 2 px drawn, predicted boundaries with no true one within 2 px erased, the map
settled as after each edit in napari; not-indexed EBSD areas left as segmented and not reviewed;
scores of the corrected maps against the truth: ARI
{', '.join(f"{c['ari']:.3f}" for c in corrections)}, F1 {', '.join(f"{c['f1']:.3f}" for c in corrections)}),
saved as `grainseg review` saves them, and the shipped model is fine-tuned on them:
`grainseg dataset` ({args.patch} px patches, 15% of them for validation) and
`grainseg train --init default --lr 1e-4 --lr-schedule cosine --max-time {args.minutes:g}
--pos-weight 4` (the shipped model's boundary weight; the best checkpoint by validation loss).
Scores are `bench_accuracy`'s over the {len(held_out)} other images (boundary scores pooled,
ARI averaged), after the full `segment` post-processing.

{table(summaries)}

Rise over the shipped model on the held-out images: F1 {rise['f1']:+.3f}, precision
{rise['precision']:+.3f}, recall {rise['recall']:+.3f}, grain ARI {rise['ari']:+.3f}.
{"The control fine-tunes the same way, for the same time, on the images' uncorrected segmentations (self-training): what more training alone gives." if args.control else ""}

{chr(10).join(per_image)}
"""
    page_path = args.out / ("finetune_corrections_quick.md" if args.quick
                            else "finetune_corrections.md")
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(page_path, page)
    print(page)
    print(f"-> {page_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
