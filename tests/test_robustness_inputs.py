"""Inputs that are not micrographs are refused or warned about, never silently "segmented":
complex and boolean images refused; constant, all-NaN or mostly-NaN images segmented with a
warning and a flag in segment_summary.json; multi-page files read from a stated page (--page);
the RGB note only for real colour images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from test_infer_segment import cell_image

from grainseg.cli import main
from grainseg.io.tiff import read_micrograph


def _segment(model_file, tmp_path, *images, extra=()):
    out = tmp_path / "out"
    code = main(["segment", *map(str, images), "--model", str(model_file), "--out", str(out),
                 "--tile", "64", *extra])
    return code, json.loads((out / "segment_summary.json").read_text())


@pytest.mark.parametrize("dtype", [np.complex64, bool])
def test_complex_and_boolean_images_are_refused(model_file, tmp_path, capsys, dtype):
    path = tmp_path / "odd.tif"
    tifffile.imwrite(path, (cell_image((48, 56), 4) > 100).astype(dtype))
    code, summary = _segment(model_file, tmp_path, path)
    assert code == 1 and summary["images"] == []
    assert str(path) in summary["failed"][0] and "not a micrograph" in summary["failed"][0]


@pytest.mark.parametrize("kind", ["constant", "nan", "mostly_nan"])
def test_images_without_content_are_flagged(model_file, tmp_path, capsys, kind):
    image = np.full((96, 96), 7.0, np.float32)
    if kind == "nan":
        image[:] = np.nan
    if kind == "mostly_nan":
        image = cell_image((96, 96), 4).astype(np.float32)
        image[:, 20:] = np.nan  # 96 x 20 valid pixels, under one 64 x 64 tile
    path = tmp_path / f"{kind}.tif"
    tifffile.imwrite(path, image)
    code, summary = _segment(model_file, tmp_path, path)
    assert code == 0
    record = summary["images"][0]
    assert record["flagged"] is True and record["warnings"]
    assert "warning:" in capsys.readouterr().err


def test_a_micrograph_is_not_flagged(model_file, tmp_path):
    path = tmp_path / "ok.tif"
    tifffile.imwrite(path, cell_image((96, 96), 4))
    _, summary = _segment(model_file, tmp_path, path)
    assert summary["images"][0]["flagged"] is False


def test_multi_page_tiff_states_the_page_and_reads_another(tmp_path):
    path = tmp_path / "pages.tif"
    pages = [cell_image((48, 56), 4, seed=k) for k in range(3)]
    for k, page in enumerate(pages):
        tifffile.imwrite(path, page, append=k > 0)
    first = read_micrograph(path)
    assert np.array_equal(first.image, pages[0])
    assert any("page 1 of 3" in note for note in first.notes)
    third = read_micrograph(path, page=3)
    assert np.array_equal(third.image, pages[2])
    from grainseg.errors import GrainsegError

    with pytest.raises(GrainsegError, match="pages.tif: page 4: the file has 3 pages"):
        read_micrograph(path, page=4)


def test_segment_page_option(model_file, tmp_path):
    path = tmp_path / "pages.tif"
    for k in range(2):
        tifffile.imwrite(path, cell_image((48, 56), 4, seed=k), append=k > 0)
    _, summary = _segment(model_file, tmp_path, path, extra=["--page", "2"])
    assert any("page 2 of 2" in n for n in summary["images"][0]["notes"])


def test_rgb_note_only_for_real_colour(tmp_path):
    stack = tmp_path / "stack.tif"  # five-dimensional: pages of three planes each
    tifffile.imwrite(stack, np.zeros((1, 2, 3, 40, 50), np.uint8), photometric="minisblack")
    notes = read_micrograph(stack).notes
    assert not any("RGB" in n for n in notes) and any("stack" in n or "page" in n for n in notes)
    rgb = tmp_path / "rgb.tif"
    tifffile.imwrite(rgb, np.zeros((40, 50, 3), np.uint8), photometric="rgb")
    assert any("RGB" in n for n in read_micrograph(rgb).notes)


def test_segment_all_pages(model_file, tmp_path):
    path = tmp_path / "pages.tif"
    for k in range(3):
        tifffile.imwrite(path, cell_image((48, 56), 4, seed=k), append=k > 0)
    single = tmp_path / "one.tif"
    tifffile.imwrite(single, cell_image((48, 56), 4, seed=5))
    code, summary = _segment(model_file, tmp_path, path, single, extra=["--all-pages"])
    assert code == 0
    assert [(r["image"], r.get("page")) for r in summary["images"]] == [
        (str(path), 1), (str(path), 2), (str(path), 3), (str(single), None)]
    for k in (1, 2, 3):
        assert (tmp_path / "out" / f"pages_p{k}_grain_ids.tif").is_file()
    assert (tmp_path / "out" / "one_grain_ids.tif").is_file()
    first = tifffile.imread(tmp_path / "out" / "pages_p1_probability.tif")
    third = tifffile.imread(tmp_path / "out" / "pages_p3_probability.tif")
    assert not np.array_equal(first, third)  # each page segmented, not the first three times
