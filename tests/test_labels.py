"""Labels on the SEM grid: line position and width, ignore mask, twins, and the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grainseg.cli import main
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.tiff import read_mask
from grainseg.labels import EbsdLabelSource, label_source, render_labels
from grainseg.register import nominal_mapping


def two_grain_source(rows=20, cols=20, split=10) -> EbsdLabelSource:
    grain_ids = np.where(np.arange(cols)[None, :] < split, 1, 2).repeat(rows, 0).astype(np.uint32)
    drawn_right = grain_ids[:, 1:] != grain_ids[:, :-1]
    drawn_down = grain_ids[1:] != grain_ids[:-1]
    usable = np.ones((rows, cols), bool)
    return EbsdLabelSource(drawn_right, drawn_down, grain_ids, grain_ids.astype(np.int64), usable)


@pytest.mark.parametrize("width_px, columns", [(1, [29]), (2, [29, 30]), (3, [28, 29, 30])])
def test_boundary_line_sits_where_the_map_puts_it(width_px, columns):
    # 3 SEM px per EBSD step, corners together: EBSD column 9.5 is SEM x = 29.5.
    label, ignore, grain_ids = render_labels(
        nominal_mapping(3.0), (60, 60), two_grain_source(), width_px
    )
    assert label.dtype == ignore.dtype == bool  # masks are bool in memory, 0/255 on disk
    rows_with_line = np.flatnonzero(label.any(axis=1))
    assert rows_with_line.size == 60
    assert sorted(np.flatnonzero(label[30])) == columns
    assert not ignore.any()
    assert set(np.unique(grain_ids[label == 0])) == {1, 2}
    assert not grain_ids[label > 0].any()


def test_ignore_covers_outside_not_indexed_and_data_bar():
    source = two_grain_source()
    source.usable[:, 15:] = False  # a not-indexed band
    label, ignore, grain_ids = render_labels(
        nominal_mapping(3.0), (70, 80), source, 3, valid_rows=50
    )
    assert ignore[:, 70:].all()  # past the map's 20 columns = 60 SEM px and the band from 45 px
    assert ignore[:, 46:].all() and not ignore[:40, :40].any()
    assert ignore[50:].all() and not label[50:].any()
    assert not grain_ids[ignore > 0].any()


def twin_map(twinned: bool = True) -> EBSDMap:
    """12 x 12 points: left half identity; right half its Sigma 3 twin or a 30 degree turn."""
    angle = np.deg2rad(60.0 if twinned else 30.0)
    axis = np.array([1.0, 1.0, 1.0]) / np.sqrt(3) if twinned else np.array([0.0, 0.0, 1.0])
    q_twin = np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])
    quats = np.zeros((12, 12, 4), np.float32)
    quats[..., 0] = 1.0
    quats[:, 6:] = q_twin
    return EBSDMap(
        quaternions=quats,
        phase_ids=np.zeros((12, 12), np.int16),
        indexed=np.ones((12, 12), bool),
        step_um=1.0,
        phases=[Phase("Austenite", "m-3m")],
    )


def test_twins_are_drawn_or_merged_as_asked():
    included = label_source(twin_map(), twins=True)
    excluded = label_source(twin_map(), twins=False)
    assert included.drawn_right[:, 5].all() and included.drawn_right.sum() == 12
    assert not excluded.drawn_right.any()
    assert len(np.unique(included.grain_ids)) == 2 and len(np.unique(excluded.grain_ids)) == 1
    # The registration always sees the twin as a region of its own (its own grey level).
    assert len(np.unique(excluded.segments)) == 2
    plain = label_source(twin_map(twinned=False), twins=False)
    assert plain.drawn_right[:, 5].all()


def test_thresholds_are_checked():
    from grainseg.errors import GrainsegError

    with pytest.raises(GrainsegError, match="^lagb_deg 12: must be > 0 and at most"):
        label_source(twin_map(), lagb_deg=12, hagb_deg=10)


@pytest.fixture(scope="module")
def specimens(tmp_path_factory):
    from grainseg.synth import generate_specimen, write_specimen

    out = tmp_path_factory.mktemp("synth")
    paths = []
    for seed in (31, 32):
        specimen = generate_specimen(320, 384, seed, grain_size_um=3.0, max_drift_px=15.0)
        paths.append(write_specimen(specimen, out, f"s{seed}"))
    return paths


def test_labels_command_writes_everything(specimens, tmp_path):
    files = specimens[0]
    out = tmp_path / "labels"
    code = main(
        ["labels", "--sem", str(files["sem"]), "--ebsd", str(files["ebsd"]), "--out", str(out)]
    )
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert names == {
        "label.tif",
        "ignore.tif",
        "grain_ids.tif",
        "registration.json",
        "overlay_before.png",
        "overlay_after.png",
        "manifest.json",
    }
    report = json.loads((out / "registration.json").read_text())
    assert report["score_after"] >= report["score_threshold"]
    assert report["score_after"] > report["score_before"]
    for key in ("drift_mean_px", "drift_p95_px", "drift_max_px"):
        assert report[key] >= 0
    label = read_mask(out / "label.tif")
    assert label.dtype == np.uint8 and set(np.unique(label)) == {0, 255}  # on disk: 0/255
    truth = read_mask(files["boundaries"]) > 0
    ignore = read_mask(out / "ignore.tif") > 0
    from grainseg.metrics.boundary import tolerance_counts, tolerance_scores

    f1 = tolerance_scores(tolerance_counts(label > 0, truth, 2.0, valid=~ignore))["boundary_f1"]
    assert f1 > 0.9
    assert read_mask(out / "grain_ids.tif").dtype == np.uint32
    # the folder is a data set pair: it names its SEM image
    assert Path(report["sem_path"]).resolve() == Path(files["sem"]).resolve()
    assert main(["dataset", str(out), "--out", str(tmp_path / "ds"), "--patch", "64",
                 "--val-frac", "0"]) == 0


def test_mismatched_files_fail_and_write_nothing(specimens, tmp_path, capsys):
    out = tmp_path / "labels"
    code = main(
        [
            "labels",
            "--sem",
            str(specimens[0]["sem"]),
            "--ebsd",
            str(specimens[1]["ebsd"]),
            "--out",
            str(out),
        ]
    )
    assert code == 2
    assert "failed or doubtful" in capsys.readouterr().err
    assert not out.exists()


def test_points_outside_the_map_are_no_overlap(specimens, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("sem_x,sem_y,ebsd_x,ebsd_y\n0,0,900,900\n300,0,1000,900\n0,300,900,1000\n")
    out = tmp_path / "labels"
    code = main(
        [
            "labels",
            "--sem",
            str(specimens[0]["sem"]),
            "--ebsd",
            str(specimens[0]["ebsd"]),
            "--out",
            str(out),
            "--points",
            str(pairs),
            "--force",
        ]
    )
    assert code == 2
    assert "no overlap" in capsys.readouterr().err
    assert not out.exists()
