"""Edges of the numbers and the labels: labels with no boundary, only boundary, or all ignored;
one-pixel grains; tiny, blank and NaN micrographs through `segment`; bad pixel sizes."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import tifffile
from helpers.cli import one_error_line
from test_grains_cli import grid_mask

from grainseg.cli import main
from grainseg.io.tiff import write_tiff


def _strict_json(path):
    """Parse JSON refusing NaN / Infinity (not JSON; other tools choke on them)."""
    def refuse(token):
        raise ValueError(f"{path.name}: non-standard JSON number {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


# ------------------------------------------------------------------------------ labels


@pytest.fixture(scope="module")
def label_pairs(tmp_path_factory):
    """Two SEM images, a label of no boundary, one of only boundary, and an all-ignore mask."""
    folder = tmp_path_factory.mktemp("labels")
    rng = np.random.default_rng(0)
    for name in ("sem.tif", "sem2.tif"):
        write_tiff(folder / name, rng.integers(0, 255, (64, 64), dtype=np.uint8))
    write_tiff(folder / "none.tif", np.zeros((64, 64), np.uint8))
    write_tiff(folder / "all.tif", np.full((64, 64), 255, np.uint8))
    return folder


def _two_images(pair: str) -> list[str]:
    """The pair and the same label (and ignore mask) with the second SEM image."""
    return [pair, pair.replace("sem.tif", "sem2.tif", 1)]


@pytest.mark.parametrize("label, fraction", [("none", 0.0), ("all", 1.0)])
def test_dataset_of_one_class_builds(label_pairs, tmp_path, capsys, label, fraction):
    pair = f"{label_pairs / 'sem.tif'}:{label_pairs / f'{label}.tif'}"
    out = tmp_path / "ds"
    assert main(["dataset", *_two_images(pair), "--out", str(out), "--patch", "32", "--split",
                 "patch"]) == 0
    assert f"boundary fraction (train) {fraction:.3f}" in capsys.readouterr().out
    assert np.load(out / "labels.npy").mean() == fraction


def test_dataset_with_everything_ignored(label_pairs, tmp_path, capsys):
    folder = label_pairs
    pair = f"{folder / 'sem.tif'}:{folder / 'none.tif'}:{folder / 'all.tif'}"
    out = tmp_path / "ds"
    assert main(["dataset", *_two_images(pair), "--out", str(out), "--patch", "32"]) == 2
    line = one_error_line(capsys)
    assert (f"everything is ignored) in {', '.join(_two_images(pair))}; check the ignore masks"
            in line)
    assert not out.exists()


@pytest.fixture(scope="module")
def no_boundary_run(label_pairs, tmp_path_factory):
    """A tiny U-Net trained one epoch on labels without a single boundary pixel."""
    folder = tmp_path_factory.mktemp("run")
    pair = f"{label_pairs / 'sem.tif'}:{label_pairs / 'none.tif'}"
    assert main(["dataset", *_two_images(pair), "--out", str(folder / "ds"), "--patch", "32",
                 "--split", "patch"]) == 0
    assert main(["train", str(folder / "ds"), "--out", str(folder / "run"), "--width",
                 "0.0625", "--batch", "4", "--epochs", "1", "--no-progress"]) == 0
    return folder


def test_training_on_labels_without_boundary_is_finite(no_boundary_run):
    with open(no_boundary_run / "run" / "metrics.csv", newline="") as handle:
        losses = [float(v) for row in csv.DictReader(handle) for k, v in row.items()
                  if "loss" in k and v not in ("", None)]
    assert losses and all(math.isfinite(v) for v in losses)


def test_evaluate_on_labels_without_boundary_writes_strict_json(no_boundary_run, tmp_path):
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(no_boundary_run / "run"), str(no_boundary_run / "ds"),
                 "--json", str(out)]) == 0
    scores = _strict_json(out)
    assert scores["precision"] == 0.0 or scores["precision"] is None
    for key in ("recall", "boundary_recall", "boundary_f1", "width_true_px"):
        assert scores[key] is None
        assert any(note.startswith(f"{key} is undefined (null): ") for note in scores["notes"])


def test_evaluate_on_labels_of_only_boundary_nulls_the_ari(no_boundary_run, label_pairs,
                                                          tmp_path, capsys):
    pair = f"{label_pairs / 'sem.tif'}:{label_pairs / 'all.tif'}"
    assert main(["dataset", *_two_images(pair), "--out", str(tmp_path / "ds"), "--patch", "32",
                 "--split", "patch"]) == 0
    out = tmp_path / "scores.json"
    assert main(["evaluate", str(no_boundary_run / "run"), str(tmp_path / "ds"),
                 "--json", str(out)]) == 0
    scores = _strict_json(out)
    assert scores["ari"] is None and scores["tnr"] is None
    assert "ari is undefined (null): no patch has a valid grain-interior pixel in its labels" \
        in scores["notes"]
    assert "ari" in capsys.readouterr().out


# ----------------------------------------------------------------------------- numbers


def test_one_pixel_grains_are_measured(tmp_path):
    """A grid with isolated one-pixel grains inside its boundary lines."""
    mask = grid_mask(period=16, n=8)
    mask[[8 + 16 * k for k in range(7)], :] = 255  # thicken lines to 3 px ...
    mask[[8 + 16 * k - 1 for k in range(7)], :] = 255
    mask[[8 + 16 * k + 1 for k in range(7)], :] = 255
    cols = np.arange(3, 125, 4)
    mask[8 + 16 * np.arange(7)[:, None], cols[None, :]] = 0  # ... with one-pixel holes
    path = tmp_path / "dots.tif"
    write_tiff(path, mask, pixel_size_um=0.25)
    assert main(["grains", str(path), "--out", str(tmp_path / "o")]) == 0
    with open(tmp_path / "o" / "grains.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ones = [r for r in rows if int(r["area_px"]) == 1]
    assert len(ones) == 7 * cols.size
    for row in ones:
        assert float(row["aspect_ratio"]) == 1.0
        assert float(row["ecd_um"]) == pytest.approx(0.25 * 2 / math.sqrt(math.pi))
    _strict_json(tmp_path / "o" / "summary.json")


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_grains_bad_pixel_size(tmp_path, capsys, value):
    path = tmp_path / "m.tif"
    write_tiff(path, grid_mask())
    assert main(["grains", str(path), "--out", str(tmp_path / "o"),
                 "--pixel-size-um", value]) == 2
    assert "pixel size" in one_error_line(capsys).replace("pixel-size", "pixel size")
    assert not (tmp_path / "o" / "summary.json").exists()


@pytest.mark.parametrize("value", ["0", "-1"])
def test_labels_bad_pixel_size(tmp_path, capsys, value):
    write_tiff(tmp_path / "sem.tif", np.zeros((32, 32), np.uint8))
    out = tmp_path / "o"
    assert main(["labels", "--sem", str(tmp_path / "sem.tif"), "--ebsd",
                 str(tmp_path / "map.ang"), "--out", str(out), "--pixel-size-um", value]) == 2
    assert f"--pixel-size-um {value}: not a plausible pixel size" in one_error_line(capsys)
    assert not out.exists() or list(out.iterdir()) == []


# ------------------------------------------------------------- odd micrographs to segment



def test_segment_tiny_blank_nan_and_16_bit_images(model_file, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    tifffile.imwrite(folder / "tiny.tif", rng.integers(0, 255, (10, 10), dtype=np.uint8))
    tifffile.imwrite(folder / "blank.tif", np.full((40, 50), 7, np.uint16))
    nan = rng.random((40, 50)).astype(np.float32)
    nan[5:15, 10:30] = np.nan
    tifffile.imwrite(folder / "nan.tif", nan)
    tifffile.imwrite(folder / "deep.tif", rng.integers(0, 65535, (40, 50), dtype=np.uint16))
    out = tmp_path / "out"
    names = ["tiny", "blank", "nan", "deep"]
    assert main(["segment", *(str(folder / f"{n}.tif") for n in names), "--model",
                 str(model_file), "--out", str(out), "--tile", "64"]) == 0
    for name in names:
        ids = tifffile.imread(out / f"{name}_grain_ids.tif")
        prob = tifffile.imread(out / f"{name}_probability.tif")
        assert ids.shape == prob.shape == tifffile.imread(folder / f"{name}.tif").shape
        assert np.isfinite(prob).all()
    _strict_json(out / "segment_summary.json")


def test_synth_ebsd_step_larger_than_the_image(tmp_path, capsys):
    """--ebsd-step-px 100000 on a 128 px field once tried to allocate 1 TiB."""
    out = tmp_path / "s"
    assert main(["synth", "--n", "1", "--size", "128x128", "--ebsd-step-px", "100000",
                 str(out)]) == 2
    assert "EBSD step 100000.0 px: must be at most a quarter" in one_error_line(capsys)
    assert not out.exists() or list(out.iterdir()) == []


def test_grains_nan_minimum_diameter(tmp_path, capsys):
    """--min-diameter-px nan once silently dropped every grain."""
    path = tmp_path / "m.tif"
    write_tiff(path, grid_mask())
    assert main(["grains", str(path), "--out", str(tmp_path / "o"),
                 "--min-diameter-px", "nan"]) == 2
    assert "minimum diameter must be >= 0 px, got nan" in one_error_line(capsys)


def test_labels_for_sem_and_ebsd_of_different_areas(tmp_path, capsys):
    """SEM of one synthetic specimen, EBSD of another: refused in one line, nothing written."""
    assert main(["synth", "--n", "2", "--size", "256x256", "--seed", "3",
                 str(tmp_path / "s")]) == 0
    capsys.readouterr()
    out = tmp_path / "labels"
    sem, ebsd = tmp_path / "s" / "specimen_000_sem.tif", tmp_path / "s" / "specimen_001_ebsd.ctf"
    assert main(["labels", "--sem", str(sem), "--ebsd", str(ebsd), "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert f"SEM {sem} and EBSD {ebsd}: " in line
    assert "no overlap between the SEM image and the EBSD map" in line or \
        "registration failed or doubtful" in line or "registration doubtful: the EBSD map " \
        "holds only" in line
    assert not out.exists() or list(out.iterdir()) == []


def test_resume_from_a_damaged_checkpoint(no_boundary_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(no_boundary_run / "run", run)
    last = run / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    code = main(["train", str(no_boundary_run / "ds"), "--out", str(run), "--resume",
                 "--epochs", "2", "--no-progress"])
    line = one_error_line(capsys)
    assert code == 2 and f"{last}: damaged, or not a model file or checkpoint" in line
