"""Nothing a user gives is overwritten: output folders of another stage, foreign folders and
model files are refused before any work, and the files there are left as they were."""

from __future__ import annotations

import json

import pytest
from helpers.cli import one_error_line
from test_data_helpers import make_pairs
from test_grains_cli import grid_mask

from grainseg.cli import main
from grainseg.data import build_dataset, resolve_pair
from grainseg.io.tiff import write_tiff


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
    line = one_error_line(capsys)
    assert f"{out}: holds files grainseg did not write ({content})" in line
    assert _snapshot(out) == {content: b"a colleague's file"}


def test_train_refuses_another_stage_folder(dataset, tmp_path, capsys):
    out = _ebsd_grains_folder(tmp_path / "ebsd")
    before = _snapshot(out)
    assert main(["train", str(dataset), "--out", str(out), "--no-progress"]) == 2
    assert "holds the outputs of `grainseg ebsd-grains`" in one_error_line(capsys)
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
    line = one_error_line(capsys)
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
    assert f"{out}: holds the outputs of `grainseg labels`" in one_error_line(capsys)
    assert _snapshot(out) == before


# ------------------------------------------------------------- segment and grains names



def _micrograph(path, seed):
    from test_infer_segment import cell_image

    path.parent.mkdir(parents=True, exist_ok=True)
    write_tiff(path, cell_image((48, 56), 4, seed=seed), 0.1)
    return path


def test_segment_same_stem_in_two_folders(model_file, tmp_path):
    """a.tif and sub/a.tif: two sets of outputs, the relative folder folded into the name."""
    first, second = _micrograph(tmp_path / "a.tif", 0), _micrograph(tmp_path / "sub" / "a.tif", 1)
    out = tmp_path / "o"
    assert main(["segment", str(first), str(second), "--model", str(model_file), "--out",
                 str(out), "--tile", "64"]) == 0
    assert (out / "a_grain_ids.tif").is_file() and (out / "sub_a_grain_ids.tif").is_file()
    summary = json.loads((out / "segment_summary.json").read_text())
    assert sorted(r["image"] for r in summary["images"]) == sorted([str(first), str(second)])
    assert len({r["outputs"]["grain_ids"] for r in summary["images"]}) == 2


def test_segment_refuses_names_that_still_collide(model_file, tmp_path, capsys):
    paths = [_micrograph(tmp_path / "a.tif", 0), _micrograph(tmp_path / "sub" / "a.tif", 1),
             _micrograph(tmp_path / "sub_a.tif", 2)]
    out = tmp_path / "o"
    assert main(["segment", *map(str, paths), "--model", str(model_file), "--out", str(out),
                 "--tile", "64"]) == 2
    line = one_error_line(capsys)
    assert "same output name" in line and str(paths[1]) in line and str(paths[2]) in line
    assert not out.exists() or list(out.iterdir()) == []


def test_segment_never_replaces_an_input(model_file, tmp_path, capsys):
    """An input named like another input's output is refused before anything is written."""
    folder = tmp_path / "c"
    a = _micrograph(folder / "a.tif", 0)
    b = _micrograph(folder / "a_boundaries.tif", 1)
    import tifffile

    tifffile.imwrite(b, tifffile.imread(b))  # not written by grainseg: a user's file
    before = b.read_bytes()
    assert main(["segment", str(a), str(b), "--model", str(model_file), "--out", str(folder),
                 "--tile", "64"]) == 2
    line = one_error_line(capsys)
    assert f"{b}: would be replaced by an output of {a}" in line
    assert b.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["a.tif", "a_boundaries.tif"]


def test_segment_skips_its_own_outputs_given_as_inputs(model_file, tmp_path, capsys):
    folder = tmp_path / "d"
    _micrograph(folder / "a.tif", 0)
    base = ["--model", str(model_file), "--out", str(folder), "--tile", "64"]
    assert main(["segment", str(folder / "a.tif"), *base]) == 0
    written = {p.name: p.read_bytes() for p in folder.glob("a_*")}
    capsys.readouterr()
    again = sorted(str(p) for p in folder.glob("*.tif"))  # DIR/*.tif picks up the outputs
    assert main(["segment", *again, *base]) == 0
    printed = capsys.readouterr().out
    assert "a_grain_ids.tif" in printed and "output of grainseg segment, skipped" in printed
    summary = json.loads((folder / "segment_summary.json").read_text())
    assert [r["image"] for r in summary["images"]] == [str(folder / "a.tif")]
    assert len(summary["skipped_outputs"]) == 3
    assert sorted(p.name for p in folder.glob("a_*")) == sorted(written)
    assert not list(folder.glob("a_probability_*"))


def test_grains_same_stem_in_two_folders(tmp_path):
    masks = []
    for k, sub in enumerate(("x", "y", "")):
        path = tmp_path / sub / ("m.tif" if sub else "x_m.tif")
        path.parent.mkdir(exist_ok=True)
        write_tiff(path, grid_mask(period=16 + 8 * k, n=192 // (16 + 8 * k)))
        masks.append(path)
    out = tmp_path / "o"
    assert main(["grains", *map(str, masks[:2]), "--out", str(out)]) == 0
    assert (out / "x_m" / "summary.json").is_file() and (out / "y_m" / "summary.json").is_file()
    assert main(["grains", *map(str, masks), "--out", str(tmp_path / "o2")]) == 2
