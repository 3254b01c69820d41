"""Options and numbers checked before any work starts: each bad value is one line naming the
option (or the file whose metadata holds it), exit 2, and nothing is written. A bad pixel size
in one image of a `segment` batch fails that image only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from helpers.cli import one_error_line
from test_data_helpers import make_pairs
from test_grains_cli import grid_mask
from test_infer_segment import cell_image

from grainseg.cli import main
from grainseg.data import build_dataset, resolve_pair
from grainseg.io.tiff import write_tiff


def _tiff_claiming(path, array, pixel_size_um) -> None:
    """A TIFF whose grainseg metadata gives ``pixel_size_um`` (any number, as a damaged or
    foreign file might)."""
    description = json.dumps({"grainseg": {"pixel_size_um": pixel_size_um}})
    tifffile.imwrite(path, array, description=description, metadata=None)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    return folder, make_pairs(folder, n=3, shape=(64, 64))


@pytest.fixture(scope="module")
def dataset(pairs):
    folder, prefixes = pairs
    build_dataset([resolve_pair(p) for p in prefixes], folder / "ds", patch=32, val_frac=0.34)
    return folder / "ds"



# ------------------------------------------------------------------------------- dataset


@pytest.mark.parametrize("value", ["100000", "-3"])
def test_dataset_median_out_of_range(pairs, tmp_path, capsys, value):
    folder, prefixes = pairs
    out = tmp_path / "ds"
    assert main(["dataset", *prefixes, "--out", str(out), "--patch", "32",
                 "--median", value]) == 2
    line = one_error_line(capsys)
    assert f"--median {value}" in line and "between 0 and" in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_dataset_out_is_a_file(pairs, tmp_path, capsys):
    folder, prefixes = pairs
    out = tmp_path / "afile"
    out.write_text("keep me")
    assert main(["dataset", *prefixes, "--out", str(out), "--patch", "32"]) == 2
    line = one_error_line(capsys)
    assert f"{out}: exists and is not a folder; choose another --out" in line
    assert out.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_dataset_negative_seed(pairs, tmp_path, capsys):
    folder, prefixes = pairs
    assert main(["dataset", *prefixes, "--out", str(tmp_path / "ds"), "--seed", "-1"]) == 2
    assert "--seed -1" in one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------- train


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_train_seed_out_of_range(dataset, tmp_path, capsys, seed):
    out = tmp_path / "run"
    assert main(["train", str(dataset), "--out", str(out), "--seed", seed, "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert f"--seed {seed}" in line and "between 0 and 4294967295" in line
    assert not out.exists()


def test_train_more_devices_than_the_machine_has(dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    assert main(["train", str(dataset), "--out", str(out), "--devices", "99",
                 "--no-progress"]) == 2
    line = one_error_line(capsys)
    assert "--devices 99" in line and "CPU" in line
    assert not out.exists()


# ------------------------------------------------------------------------------- compare


def test_compare_bad_weight_refused_before_training(dataset, tmp_path, capsys, monkeypatch):
    from grainseg.train import compare as compare_module

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(compare_module, "train", no_training)
    out = tmp_path / "tables"
    assert main(["compare", str(dataset), "--out", str(out), "--archs", "unet",
                 "--pos-weights", "4,-1"]) == 2
    line = one_error_line(capsys)
    assert "--pos-weights" in line and "-1" in line
    assert not out.exists()


@pytest.mark.parametrize("option", ["--archs", "--pos-weights"])
@pytest.mark.parametrize("text", [",,", " , "])
def test_compare_empty_list_is_refused(dataset, tmp_path, capsys, monkeypatch, option, text):
    from grainseg.train import compare as compare_module

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(compare_module, "train", no_training)
    out = tmp_path / "tables"
    assert main(["compare", str(dataset), "--out", str(out), option, text]) == 2
    line = one_error_line(capsys)
    assert option in line and "none" in line
    assert not out.exists()


# --------------------------------------------------------------------------- pixel sizes

IMPLAUSIBLE = ["inf", "nan", "1e-12", "1e300", "1e-300", "0", "-1"]


@pytest.mark.parametrize("value", IMPLAUSIBLE)
def test_labels_pixel_size_option(tmp_path, capsys, value):
    write_tiff(tmp_path / "sem.tif", np.zeros((32, 32), np.uint8))
    out = tmp_path / "o"
    assert main(["labels", "--sem", str(tmp_path / "sem.tif"), "--ebsd",
                 str(tmp_path / "map.ang"), "--out", str(out), "--pixel-size-um", value]) == 2
    assert f"--pixel-size-um {value}" in one_error_line(capsys).replace("+", "")
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("value", IMPLAUSIBLE)
def test_grains_pixel_size_option(tmp_path, capsys, value):
    write_tiff(tmp_path / "m.tif", grid_mask())
    out = tmp_path / "o"
    assert main(["grains", str(tmp_path / "m.tif"), "--out", str(out),
                 "--pixel-size-um", value]) == 2
    assert f"--pixel-size-um {value}" in one_error_line(capsys).replace("+", "")
    assert not (out / "summary.json").exists()


@pytest.mark.parametrize("value", [1e-12, 1e300, 1e-300])
def test_labels_and_grains_pixel_size_from_metadata(tmp_path, capsys, value):
    sem = tmp_path / "sem.tif"
    _tiff_claiming(sem, np.zeros((32, 32), np.uint8), value)
    ebsd_map = Path(__file__).parent / "data" / "ebsd" / "copper_hex_crop.ang"
    assert main(["labels", "--sem", str(sem), "--ebsd", str(ebsd_map),
                 "--out", str(tmp_path / "o")]) == 2
    line = one_error_line(capsys)
    assert str(sem) in line and "pixel size" in line and "--pixel-size-um" in line
    mask = tmp_path / "m.tif"
    _tiff_claiming(mask, grid_mask(), value)
    assert main(["grains", str(mask), "--out", str(tmp_path / "g")]) == 2
    line = one_error_line(capsys)
    assert str(mask) in line and "pixel size" in line
    # the option replaces metadata that cannot be right
    assert main(["grains", str(mask), "--out", str(tmp_path / "g"),
                 "--pixel-size-um", "0.5"]) == 0
    summary = json.loads((tmp_path / "g" / "summary.json").read_text())
    assert summary["pixel_size_um"] == 0.5


def test_segment_bad_pixel_size_fails_that_image_only(model_file, tmp_path, capsys):
    images = []
    for k, pixel_size_um in enumerate((0.1, 1e300, 1e-300, 0.1)):
        path = tmp_path / f"img{k}.tif"
        _tiff_claiming(path, cell_image((48, 56), 4, seed=k), pixel_size_um)
        images.append(path)
    out = tmp_path / "out"
    code = main(["segment", *map(str, images), "--model", str(model_file), "--out", str(out),
                 "--tile", "64"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    summary = json.loads((out / "segment_summary.json").read_text())
    assert [r["image"] for r in summary["images"]] == [str(images[0]), str(images[3])]
    assert len(summary["failed"]) == 2
    for path, message in zip(images[1:3], summary["failed"], strict=True):
        assert str(path) in message and "pixel size" in message
    assert (out / "img3_grain_ids.tif").is_file()
