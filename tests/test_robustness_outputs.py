"""Nothing a user gives is overwritten: output folders of another stage, foreign folders and
model files are refused before any work, and the files there are left as they were."""

from __future__ import annotations

import json

import pytest
from test_data_helpers import make_pairs
from test_grains_cli import grid_mask

from grainseg.cli import main
from grainseg.data import build_dataset, resolve_pair
from grainseg.io.tiff import write_tiff


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("grainseg ")]
    assert len(lines) == 1 and "error" in lines[0], err
    return lines[0]


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ds")
    prefixes = make_pairs(folder, n=3, shape=(64, 64))
    build_dataset([resolve_pair(p) for p in prefixes], folder / "ds", patch=32, val_frac=0.34)
    return folder / "ds"


def _ebsd_grains_folder(folder):
    """What `grainseg ebsd-grains` leaves (content shortened)."""
    folder.mkdir()
    write_tiff(folder / "grain_ids.tif", grid_mask())
    write_tiff(folder / "boundaries.tif", grid_mask())
    (folder / "grains.csv").write_text("grain_id,area_px\n1,10\n")
    (folder / "summary.json").write_text('{"n_grains": 1}\n')
    return folder


# --------------------------------------------------------------------------------- train


@pytest.mark.parametrize("content", ["model.pt", "notes.txt"])
def test_train_refuses_a_folder_it_did_not_make(dataset, tmp_path, capsys, content):
    out = tmp_path / "somewhere"
    out.mkdir()
    (out / content).write_bytes(b"a colleague's file")
    assert main(["train", str(dataset), "--out", str(out), "--no-progress"]) == 2
    line = _one_line(capsys)
    assert f"{out}: holds files grainseg did not write ({content})" in line
    assert _snapshot(out) == {content: b"a colleague's file"}


def test_train_refuses_another_stage_folder(dataset, tmp_path, capsys):
    out = _ebsd_grains_folder(tmp_path / "ebsd")
    before = _snapshot(out)
    assert main(["train", str(dataset), "--out", str(out), "--no-progress"]) == 2
    assert "holds the outputs of `grainseg ebsd-grains`" in _one_line(capsys)
    assert _snapshot(out) == before


# -------------------------------------------------------------------------------- labels


@pytest.mark.parametrize("marked_by", ["files", "manifest"])
def test_labels_refuses_an_ebsd_grains_folder(tmp_path, capsys, marked_by):
    out = _ebsd_grains_folder(tmp_path / "ebsd")
    if marked_by == "manifest":
        (out / "boundaries.tif").unlink()
        (out / "manifest.json").write_text(json.dumps({"stage": "ebsd-grains"}))
    before = _snapshot(out)
    write_tiff(tmp_path / "sem.tif", grid_mask(), 0.1)
    assert main(["labels", "--sem", str(tmp_path / "sem.tif"), "--ebsd",
                 str(tmp_path / "map.ang"), "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert f"{out}: holds the outputs of `grainseg ebsd-grains`" in line
    assert _snapshot(out) == before


@pytest.mark.parametrize("command", ["grains", "segment", "ebsd-grains"])
def test_other_commands_refuse_a_labels_folder(tmp_path, capsys, command):
    out = tmp_path / "labels"
    out.mkdir()
    (out / "registration.json").write_text("{}\n")
    write_tiff(out / "grain_ids.tif", grid_mask())
    before = _snapshot(out)
    mask = tmp_path / "m.tif"
    write_tiff(mask, grid_mask())
    args = {"grains": ["grains", str(mask)], "segment": ["segment", str(mask)],
            "ebsd-grains": ["ebsd-grains", str(tmp_path / "map.ang")]}[command]
    assert main([*args, "--out", str(out)]) == 2
    assert f"{out}: holds the outputs of `grainseg labels`" in _one_line(capsys)
    assert _snapshot(out) == before
