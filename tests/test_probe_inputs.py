"""Inputs that used to give silently wrong results or unclear messages (new-user probe)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from test_data_helpers import make_pairs

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


def test_grains_reference_keeps_its_own_pixel_size(tmp_path):
    from grainseg.grains.measure import grains_from_boundaries

    grid = np.zeros((96, 96), bool)
    grid[::12] = grid[:, ::12] = True
    write_tiff(tmp_path / "pred.tif", grid.astype(np.uint8) * 255)
    write_tiff(tmp_path / "ebsd.tif", grains_from_boundaries(grid).astype(np.uint16),
               pixel_size_um=0.5)
    out = tmp_path / "g"
    assert main(["grains", str(tmp_path / "pred.tif"), "--pixel-size-um", "0.25",
                 "--reference", str(tmp_path / "ebsd.tif"), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pixel_size_um"] == 0.25 and summary["reference_pixel_size_um"] == 0.5
    assert main(["grains", str(tmp_path / "pred.tif"), "--pixel-size-um", "0.25",
                 "--reference", str(tmp_path / "ebsd.tif"), "--reference-pixel-size-um",
                 "0.25", "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["reference_pixel_size_um"] == 0.25


@pytest.mark.parametrize("shape", [(1, 300), (300, 1), (1, 1), (1, 1, 300)])
def test_one_pixel_wide_images_are_refused_by_their_size(tmp_path, shape):
    from grainseg.io.tiff import read_micrograph

    write_tiff(tmp_path / "thin.tif", np.zeros(shape, np.uint8))
    rows, cols = shape[-2:]
    with pytest.raises(GrainsegError, match=rf"thin\.tif: image is {rows} x {cols} px: too small"):
        read_micrograph(tmp_path / "thin.tif")


def test_rgb_row_and_single_page_stack_keep_their_axes(tmp_path):
    from grainseg.io.tiff import read_micrograph

    tifffile.imwrite(tmp_path / "stack.tif", np.zeros((1, 5, 7), np.uint8))
    assert read_micrograph(tmp_path / "stack.tif").image.shape == (5, 7)
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((1, 5, 7, 3), np.uint8), photometric="rgb")
    assert read_micrograph(tmp_path / "rgb.tif").image.shape == (5, 7)


@pytest.mark.parametrize("keep_bytes", [8, 16, 50, 200])
def test_truncated_tiff_says_damaged_or_truncated(tmp_path, keep_bytes):
    from grainseg.io.tiff import read_micrograph

    image = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    write_tiff(tmp_path / "full.tif", image)
    (tmp_path / "cut.tif").write_bytes((tmp_path / "full.tif").read_bytes()[:keep_bytes])
    with pytest.raises(GrainsegError, match=r"cut\.tif: TIFF is damaged or truncated"):
        read_micrograph(tmp_path / "cut.tif")
    (tmp_path / "png.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(GrainsegError, match=r"png\.tif: not a readable TIFF"):
        read_micrograph(tmp_path / "png.tif")


EBSD_DATA = Path(__file__).parent / "data" / "ebsd"


@pytest.mark.parametrize("cut_lines", [1, 5])
def test_truncated_hexagonal_ang_is_refused_not_gap_filled(tmp_path, cut_lines):
    from grainseg.io.ebsd import read_ebsd

    lines = (EBSD_DATA / "copper_hex_crop.ang").read_text().splitlines()
    (tmp_path / "cut.ang").write_text("\n".join(lines[:-cut_lines]) + "\n")
    with pytest.raises(GrainsegError, match=rf"cut\.ang: .*{cut_lines} points? missing.*truncated"):
        read_ebsd(tmp_path / "cut.ang")


@pytest.mark.parametrize("name", ["copper_hex_crop.ang", "s.ctf"])
def test_truncated_text_table_message_has_no_numpy_advice(tmp_path, name):
    from test_fuzz_readers import _small_map

    from grainseg.io.ebsd import read_ebsd, write_ebsd

    source = EBSD_DATA / name
    if name == "s.ctf":
        write_ebsd(tmp_path / name, _small_map())
        source = tmp_path / name
    text = source.read_text()
    (tmp_path / f"cut{source.suffix}").write_text(text[: len(text.rstrip()) - 12])
    with pytest.raises(GrainsegError, match="truncated") as info:
        read_ebsd(tmp_path / f"cut{source.suffix}")
    assert "usecols" not in str(info.value) and "data row" in str(info.value)


def test_ctf_missing_a_phase_line_says_so(tmp_path):
    from test_fuzz_readers import _small_map

    from grainseg.io.ebsd import read_ebsd, write_ebsd

    write_ebsd(tmp_path / "s.ctf", _small_map())
    lines = (tmp_path / "s.ctf").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Phases\t"))
    assert lines[at] == "Phases\t2"
    del lines[at + 2]  # the second phase's line
    (tmp_path / "bad.ctf").write_text("\n".join(lines) + "\n")
    with pytest.raises(GrainsegError, match=r"bad\.ctf: header announces 2 phases but only 1 "
                                            r"phase line follows"):
        read_ebsd(tmp_path / "bad.ctf")
