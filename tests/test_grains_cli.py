"""``grainseg grains`` end to end on small maps written in the test."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest

from grainseg.cli import main
from grainseg.grains.measure import grains_from_boundaries
from grainseg.io.tiff import write_tiff


def grid_mask(period: int = 24, n: int = 8, jitter: int = 0, seed: int = 0) -> np.ndarray:
    """uint8 boundary mask (255 = boundary) of a grid whose lines may be shifted at random."""
    rng = np.random.default_rng(seed)
    size = period * n
    mask = np.zeros((size, size), np.uint8)
    for k in range(n):
        pos = k * period + period // 2
        mask[np.clip(pos + rng.integers(-jitter, jitter + 1), 0, size - 1), :] = 255
        mask[:, np.clip(pos + rng.integers(-jitter, jitter + 1), 0, size - 1)] = 255
    return mask


@pytest.fixture()
def maps(tmp_path):
    mask_path = tmp_path / "pred_boundaries.tif"
    write_tiff(mask_path, grid_mask(jitter=4, seed=1), pixel_size_um=0.5)
    ref_path = tmp_path / "truth_boundaries.tif"
    write_tiff(ref_path, grid_mask(jitter=4, seed=2), pixel_size_um=0.5)
    ids_path = tmp_path / "truth_grain_ids.tif"
    write_tiff(ids_path, grains_from_boundaries(grid_mask() > 0), pixel_size_um=0.5)
    return mask_path, ref_path, ids_path


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_one_mask_writes_table_summary_and_figures(maps, tmp_path, capsys):
    mask_path, _, _ = maps
    before = digest(mask_path)
    out = tmp_path / "out"
    assert main(["grains", str(mask_path), "--out", str(out)]) == 0
    assert digest(mask_path) == before
    assert "boundary mask" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pixel_size_um"] == 0.5  # from the file's metadata
    for key in ("n_grains", "mean_ecd_um", "mean_intercept_um", "astm_g_intercept",
                "astm_g_planimetric", "fits", "width"):
        assert summary[key] is not None, key
    assert set(summary["fits"]) == {"aspect_ratio_beta", "size_exponential", "size_lognormal"}
    rows = list(csv.DictReader((out / "grains.csv").open()))
    assert len(rows) == summary["n_grains_total"]
    assert {"ecd_um", "aspect_ratio", "touches_border", "kept"} <= set(rows[0])
    for name in ("aspect_ratio", "size", "width"):
        assert (out / f"{name}_distribution.png").read_bytes()[:4] == b"\x89PNG"


def test_grain_ids_input_reference_and_filters(maps, tmp_path, capsys):
    mask_path, ref_path, ids_path = maps
    out = tmp_path / "cmp"
    code = main(["grains", str(mask_path), "--reference", str(ref_path), "--out", str(out),
                 "--min-diameter-px", "11", "--exclude-border"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["filters"] == {"min_diameter_px": 11.0, "exclude_border": True}
    distances = summary["distances"]
    for key in ("aspect_ratio_js_fit", "aspect_ratio_js_hist", "size_js_fit_exponential",
                "size_js_hist"):
        assert 0.0 < distances[key] <= 1.0, key
    # The shifted lines are still one pixel wide: no width difference.
    assert distances["width_difference"]["median_px"] == 0.0
    assert main(["grains", str(ids_path), "--out", str(tmp_path / "ids")]) == 0
    assert "grain-ID image" in capsys.readouterr().out
    same = json.loads((tmp_path / "ids" / "summary.json").read_text())
    assert same["n_grains_total"] == 81  # 9 x 9: the edges cut grains in half
    assert same["mean_intercept_um"] == pytest.approx(0.5 * 24 * 2 / (1 + np.sqrt(2)), rel=0.03)


def test_several_inputs_get_folders_and_a_combined_table(maps, tmp_path):
    mask_path, ref_path, _ = maps
    out = tmp_path / "many"
    assert main(["grains", str(mask_path), str(ref_path), "--out", str(out),
                 "--pixel-size-um", "0.25"]) == 0
    assert (out / "pred_boundaries" / "summary.json").is_file()
    assert (out / "truth_boundaries" / "summary.json").is_file()
    rows = list(csv.DictReader((out / "grains_all.csv").open()))
    assert {r["input"] for r in rows} == {str(mask_path), str(ref_path)}
    combined = json.loads((out / "summary_all.json").read_text())
    assert [c["pixel_size_um"] for c in combined] == [0.25, 0.25]


def test_no_pixel_size_gives_pixel_keys(tmp_path):
    path = tmp_path / "mask.tif"
    write_tiff(path, grid_mask())
    assert main(["grains", str(path), "--out", str(tmp_path / "o")]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert "mean_ecd_px" in summary and "mean_ecd_um" not in summary
    assert summary["astm_g_intercept"] is None and summary["astm_g_planimetric"] is None


@pytest.mark.parametrize("problem", ["zero_pixel", "grey", "inverted", "missing", "float"])
def test_user_mistakes_exit_2_with_one_line(tmp_path, capsys, problem):
    path = tmp_path / "in.tif"
    args = ["grains", str(path), "--out", str(tmp_path / "o")]
    if problem == "zero_pixel":
        write_tiff(path, grid_mask())
        args += ["--pixel-size-um", "0"]
    elif problem == "grey":
        write_tiff(path, np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8))
    elif problem == "inverted":
        write_tiff(path, 255 - grid_mask())
    elif problem == "float":
        write_tiff(path, np.zeros((32, 32), np.float32))
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err
    if problem != "zero_pixel":
        assert str(path) in err


def test_a_bad_input_among_several_is_skipped(maps, tmp_path, capsys):
    mask_path, ref_path, _ = maps
    missing = tmp_path / "missing.tif"
    out = tmp_path / "mixed"
    assert main(["grains", str(mask_path), str(missing), str(ref_path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "skipped" in err and str(missing) in err
    assert (out / "pred_boundaries" / "summary.json").is_file()
    assert (out / "truth_boundaries" / "summary.json").is_file()
    assert (out / "grains_all.csv").is_file()


def test_one_grain_filling_the_image(tmp_path):
    path = tmp_path / "empty_mask.tif"
    write_tiff(path, np.zeros((40, 50), np.uint8), pixel_size_um=0.1)
    assert main(["grains", str(path), "--out", str(tmp_path / "o")]) == 0
    text = (tmp_path / "o" / "summary.json").read_text()
    summary = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert summary["n_grains"] == 1
    assert summary["mean_intercept_um"] is None and summary["astm_g_intercept"] is None
    assert summary["planimetric"]["equivalent_count"] == 1.0
    assert summary["fits"] == {} and summary["fit_notes"]
