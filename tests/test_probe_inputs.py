"""Inputs that used to give silently wrong results or unclear messages (new-user probe)."""

from __future__ import annotations

import numpy as np
import pytest
from test_data_helpers import make_pair, make_pairs

from grainseg.cli import main
from grainseg.data import build_dataset, resolve_pair
from grainseg.errors import GrainsegError
from grainseg.io.tiff import write_tiff


def test_dataset_refuses_one_image_given_twice(tmp_path, capsys):
    prefix = make_pairs(tmp_path, n=2, shape=(64, 64))[0]
    same = str(tmp_path / "." / "spec_0")
    with pytest.raises(GrainsegError, match="given twice"):
        build_dataset([resolve_pair(prefix), resolve_pair(same)], tmp_path / "ds", patch=32)
    folder = tmp_path / "lab"
    folder.mkdir()
    (folder / "sem.tif").write_bytes((tmp_path / "spec_0_sem.tif").read_bytes())
    (folder / "label.tif").write_bytes((tmp_path / "spec_0_truth_boundaries.tif").read_bytes())
    assert main(["dataset", str(folder), f"{folder}/", "--out", str(tmp_path / "ds")]) == 2
    err = capsys.readouterr().err
    assert "sem.tif: SEM image given twice" in err and not (tmp_path / "ds").exists()


def test_grey_micrograph_refused_as_label_as_grains_does(tmp_path, capsys):
    rng = np.random.default_rng(0)
    grey = np.clip(rng.normal(120, 30, (96, 96)), 0, 255).astype(np.uint8)
    write_tiff(tmp_path / "grey.tif", grey)
    write_tiff(tmp_path / "grey16.tif", grey.astype(np.uint16) * 200)
    for name in ("grey.tif", "grey16.tif"):
        path = tmp_path / name
        assert main(["dataset", f"{path}:{path}", "--out", str(tmp_path / "ds"),
                     "--patch", "32", "--val-frac", "0"]) == 2
        dataset_err = capsys.readouterr().err
        assert main(["grains", str(path), "--out", str(tmp_path / "g")]) == 2
        grains_err = capsys.readouterr().err
        assert "looks like a grey image" in dataset_err and "looks like a grey image" in grains_err
