"""``grainseg ebsd-grains`` end to end on the real maps."""

import csv
import json
import shutil

import numpy as np
import tifffile

from grainseg.cli import main
from grainseg.ebsd.grains import reconstruct_grains
from grainseg.io.ebsd import read_ebsd


def test_ebsd_grains_writes_all_outputs(shared_data, tmp_path, capsys):
    src = shared_data / "ebsd" / "ni_superalloy.cpr"
    out = tmp_path / "out"
    assert main(["ebsd-grains", str(src), "--threshold", "5", "--out", str(out)]) == 0
    grain_ids = tifffile.imread(out / "grain_ids.tif")
    assert grain_ids.dtype == np.uint32 and grain_ids.shape == (243, 359)
    np.testing.assert_array_equal(grain_ids, reconstruct_grains(read_ebsd(src), 5))
    classes = tifffile.imread(out / "boundaries.tif")
    assert classes.dtype == np.uint8 and classes.shape == (243, 359)
    assert set(np.unique(classes)) <= {0, 1, 2, 3, 4, 5}
    assert (classes == 3).any()  # the superalloy is full of annealing twins
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_grains"] == 141
    assert summary["step_um"] == 0.12
    assert summary["thresholds"]["grain_threshold_deg"] == 5.0
    fractions = summary["boundary_length_fraction"]
    assert abs(sum(fractions.values()) - 1) < 1e-9
    with open(out / "grains.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 141
    assert {"grain_id", "phase", "area_points", "area_um2", "ecd_um", "aspect_ratio",
            "phi1_deg", "Phi_deg", "phi2_deg", "touches_border"} <= set(rows[0])
    assert abs(np.mean([float(r["ecd_um"]) for r in rows]) - summary["mean_ecd_um"]) < 1e-3
    printed = capsys.readouterr().out
    assert "141 grains" in printed


def test_ebsd_grains_merge_twins_and_duplex_summary(shared_data, tmp_path, capsys):
    src = shared_data / "ebsd" / "sdss_ferrite_austenite.ang"
    assert main(["ebsd-grains", str(src), "--out", str(tmp_path / "a")]) == 0
    assert main(["ebsd-grains", str(src), "--merge-twins", "--out", str(tmp_path / "b")]) == 0
    plain = json.loads((tmp_path / "a" / "summary.json").read_text())
    merged = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert merged["n_grains"] < plain["n_grains"]
    aus = plain["phases"]["austenite/austenite"]
    assert aus["twin_fraction_of_high_angle_length"] > 0.5
    assert plain["boundary_length_fraction"]["phase"] > 0.5
    assert "twin fraction" in capsys.readouterr().out


def test_ebsd_grains_bad_input_exits_2(shared_data, tmp_path, capsys):
    tiny = shared_data / "ebsd" / "nickel_tiny.ang"
    assert main(["ebsd-grains", str(tiny), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "nickel_tiny.ang" in err and "no indexed point" in err and "Traceback" not in err
    shutil.copy(shared_data / "ebsd" / "ni_superalloy.cpr", tmp_path / "lonely.cpr")
    assert main(["ebsd-grains", str(tmp_path / "lonely.cpr"), "--out", str(tmp_path / "o")]) == 2
    assert "lonely.crc: file not found" in capsys.readouterr().err
    assert not (tmp_path / "o" / "grain_ids.tif").exists()
