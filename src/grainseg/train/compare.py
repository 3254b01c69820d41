"""Train and evaluate several architectures and class weights: the paper's Tables 2 and 3.

Table 2 compares architectures at one boundary weight (9 in the paper); Table 3 compares boundary
weights with U-Net. Each run lives in ``DIR/runs/<arch>_w<weight>``; a comparison that is
interrupted picks up where it stopped (finished runs are kept, unfinished ones resumed).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import replace
from pathlib import Path

from grainseg.data.dataset import open_dataset
from grainseg.errors import GrainsegError, ParameterError
from grainseg.io.atomic import ensure_output_dir, write_json_atomic, write_text_atomic
from grainseg.io.manifest import write_manifest
from grainseg.models import ARCHITECTURES, PAPER_PARAMETERS_M
from grainseg.train.config import TrainConfig
from grainseg.train.evaluate import evaluate
from grainseg.train.run import train

# The paper's Table 2 (Dice at w = 9, 128 px) and Table 3 (U-Net) for reference columns.
PAPER_TABLE2_DICE = {"unet": 0.409, "deepcrack": 0.398, "rcf": 0.382, "defectsegnet": 0.376,
                     "hed": 0.372}
PAPER_TABLE3 = {4.0: (0.395, 0.615, 0.481), 6.0: (0.332, 0.732, 0.456),
                9.0: (0.276, 0.794, 0.409), 11.0: (0.255, 0.825, 0.389)}

_SCORES = ("tpr", "tnr", "precision", "recall", "dice", "ari", "boundary_precision",
           "boundary_recall", "boundary_f1", "width_diff_px")


def run_one(
    base: TrainConfig, arch: str, pos_weight: float, runs: Path, test: str | None = None
) -> dict:
    """Train (or resume, or reuse) one run and evaluate it; one table row.

    Scored on every patch of the data set ``test`` when given, else on the val split of the
    training data set (which also chose the best checkpoint).
    """
    run = runs / f"{arch}_w{pos_weight:g}"
    scores_file = run / ("eval_test.json" if test else "eval_val.json")
    summary_file = run / "train_summary.json"
    config = replace(base, arch=arch, pos_weight=pos_weight)
    if not summary_file.is_file():
        resume = (run / "checkpoints" / "last.ckpt").is_file()
        # Resuming checks that data set, architecture, width and seed match; the rest
        # (epochs, time limit...) follows this comparison's settings.
        train(config, run, resume=resume, explicit=set(config.to_dict()))
    if not scores_file.is_file():
        scores = evaluate(run, test, split="all") if test else evaluate(run, base.dataset)
        write_json_atomic(scores_file, scores)
    summary = json.loads(summary_file.read_text())
    scores = json.loads(scores_file.read_text())
    return {
        "arch": arch,
        "pos_weight": pos_weight,
        "width": base.width,
        "params_M": summary["parameters"] / 1e6,
        "epochs": summary["epochs_run"],
        "train_time_s": summary["train_time_s"],
        # An undefined score is null in the JSON (missing when not computed): a blank cell.
        **{key: math.nan if scores.get(key) is None else scores[key] for key in _SCORES},
    }


def _tables(rows: list[dict], columns: list[str]) -> tuple[str, str]:
    """(Markdown, CSV) of ``rows`` restricted to ``columns``; floats with 3 decimals."""

    def fmt(value, column: str) -> str:
        if column == "pos_weight":
            return f"{value:g}"
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.3f}"
        return str(value)

    md = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(fmt(row.get(c, ""), c) for c in columns) + " |" for row in rows]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[fmt(row.get(c, ""), c) for c in columns] for row in rows])
    return "\n".join(md) + "\n", buffer.getvalue()


def compare(
    base: TrainConfig,
    out: str | os.PathLike,
    archs: list[str],
    pos_weights: list[float],
    table2_weight: float = 9.0,
    test: str | os.PathLike | None = None,
) -> dict:
    """Run the comparison and write ``table2.{md,csv}`` and ``table3.{md,csv}`` into ``out``.

    Parameters
    ----------
    base : TrainConfig
        Settings shared by all runs (data set, width, epochs, max time...).
    out : path
        Output folder (runs go to ``out/runs``).
    archs : list of str
        Architectures of Table 2, all at ``table2_weight``.
    pos_weights : list of float
        Boundary weights of Table 3, all with U-Net.
    table2_weight : float
        Boundary weight of Table 2.
    test : path or None
        Held-out data set scored whole (all its patches); None scores the val split of
        ``base.dataset``.

    Returns
    -------
    dict
        ``{"table2": rows, "table3": rows}``.
    """
    unknown = [a for a in archs if a not in ARCHITECTURES]
    if unknown:
        raise GrainsegError(f"unknown architecture(s) {unknown}; choose from {list(ARCHITECTURES)}")
    if not archs and not pos_weights:
        raise GrainsegError("nothing to compare: give --archs and/or --pos-weights")
    for name, weights in (("pos_weights", pos_weights), ("table2_weight", [table2_weight])):
        for weight in weights:
            if not (math.isfinite(weight) and weight > 0):
                raise ParameterError(name, f"{weight:g}: each weight must be a positive number")
    for arch, weight in [(a, table2_weight) for a in archs] + [("unet", w) for w in pos_weights]:
        replace(base, arch=arch, pos_weight=weight).validate()  # before hours of training
    if test is not None:
        test = str(test)
        open_dataset(test).indices("all")  # a bad test set fails before hours of training
    out = ensure_output_dir(out)
    runs = ensure_output_dir(out / "runs")
    table2 = [run_one(base, arch, table2_weight, runs, test) for arch in archs]
    for row in table2:
        row["paper_params_M"] = PAPER_PARAMETERS_M[row["arch"]]
        row["paper_dice"] = PAPER_TABLE2_DICE[row["arch"]]
    table3 = [run_one(base, "unet", w, runs, test) for w in pos_weights]
    for row in table3:
        paper = PAPER_TABLE3.get(float(row["pos_weight"]), (math.nan,) * 3)
        row["paper_precision"], row["paper_recall"], row["paper_dice"] = paper
    columns2 = ["arch", "params_M", "paper_params_M", "epochs", "train_time_s", *_SCORES,
                "paper_dice"]
    columns3 = ["pos_weight", "epochs", "train_time_s", *_SCORES, "paper_precision",
                "paper_recall", "paper_dice"]
    for name, rows, columns in (("table2", table2, columns2), ("table3", table3, columns3)):
        if rows:
            md, text = _tables(rows, columns)
            write_text_atomic(out / f"{name}.md", md)
            write_text_atomic(out / f"{name}.csv", text)
    write_manifest(out, "compare", [base.dataset, *([test] if test else [])],
                   {"base": base.to_dict(), "archs": list(archs), "pos_weights": list(pos_weights),
                    "table2_weight": table2_weight})
    return {"table2": table2, "table3": table3}
