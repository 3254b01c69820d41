"""`grainseg segment` end to end: outputs, a bad file among good ones, --skip-existing."""

import json

import numpy as np
import pytest
import tifffile
from test_infer_postprocess import assert_closed_thin_network
from test_infer_segment import cell_image

from grainseg.cli import main
from grainseg.infer import large
from grainseg.io.tiff import read_micrograph, write_tiff

OUTPUTS = ("probability.tif", "boundaries.tif", "grain_ids.tif", "overlay.png")



@pytest.fixture()
def images(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    write_tiff(folder / "a.tif", cell_image((120, 150), 6, seed=1, bar_rows=20), 0.08)
    rgb = np.repeat(cell_image((90, 70), 4, seed=2)[..., None] // 256, 3, axis=-1)
    tifffile.imwrite(folder / "b.tif", rgb.astype(np.uint8), photometric="rgb")
    (folder / "broken.tif").write_bytes(b"II*\x00 this is not a TIFF")
    return folder


def run_cli(*args):
    return main(["segment", *map(str, args)])


def test_segment_writes_outputs_and_skips_a_bad_file(images, model_file, tmp_path, capsys):
    out = tmp_path / "out"
    code = run_cli(images / "a.tif", images / "broken.tif", images / "b.tif",
                   "--model", model_file, "--out", out, "--tile", 64, "--batch", 2)
    assert code == 1  # one failure
    captured = capsys.readouterr()
    assert "broken.tif" in captured.err + captured.out
    assert "converted RGB to grey" in captured.out and "data bar from row 100" in captured.out
    for stem, shape, pixel_size in (("a", (100, 150), 0.08), ("b", (90, 70), None)):
        files = [out / f"{stem}_{name}" for name in OUTPUTS]
        assert all(f.is_file() for f in files)
        prob = read_micrograph(files[0])
        assert prob.image.dtype == np.float32 and prob.image.shape == shape
        assert prob.pixel_size_um == pixel_size
        boundaries = tifffile.imread(files[1])
        grain_ids = tifffile.imread(files[2])
        assert boundaries.dtype == np.uint8 and set(np.unique(boundaries)) <= {0, 255}
        assert grain_ids.dtype == np.uint32 and grain_ids.shape == shape
        assert_closed_thin_network(boundaries == 255, grain_ids)
    assert not (out / "broken_probability.tif").exists()
    summary = json.loads((out / "segment_summary.json").read_text())
    assert len(summary["images"]) == 2 and len(summary["failed"]) == 1
    assert summary["settings"]["median_px"] == 3
    assert not list(out.glob(".*"))  # no temporary files


def test_skip_existing_keeps_finished_images(images, model_file, tmp_path):
    out = tmp_path / "out"
    assert run_cli(images / "a.tif", "--model", model_file, "--out", out, "--tile", 64) == 0
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("a_*")}
    assert len(first) == 4
    assert run_cli(images / "a.tif", images / "b.tif", "--model", model_file, "--out", out,
                   "--tile", 64, "--skip-existing") == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("a_*")} == first
    assert (out / "b_grain_ids.tif").is_file()
    summary = json.loads((out / "segment_summary.json").read_text())
    assert summary["skipped_existing"] == 1


def test_large_images_take_the_bounded_path(images, model_file, tmp_path, monkeypatch):
    monkeypatch.setattr(large, "LARGE_IMAGE_PX", 1000)
    out = tmp_path / "out"
    assert run_cli(images / "a.tif", "--model", model_file, "--out", out, "--tile", 64) == 0
    grain_ids = tifffile.imread(out / "a_grain_ids.tif")
    assert grain_ids.shape == (100, 150)
    assert read_micrograph(out / "a_boundaries.tif").pixel_size_um == 0.08
    summary = json.loads((out / "segment_summary.json").read_text())
    assert summary["images"][0]["n_grains"] == grain_ids.max()


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--overlap", "0.9"], "--overlap"), (["--tile", "4"], "--tile"),
     (["--threshold", "1.5"], "--threshold"), (["--model", "missing.pt"], "missing.pt")],
)
def test_bad_arguments_are_one_line_errors(images, tmp_path, capsys, extra, message):
    code = run_cli(images / "a.tif", "--out", tmp_path / "o", *extra)
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_no_shipped_model_is_explained(images, tmp_path, capsys, monkeypatch):
    import grainseg.models

    monkeypatch.setattr(grainseg.models, "default_model_path", lambda: tmp_path / "none" / "default.pt")
    assert run_cli(images / "a.tif", "--out", tmp_path / "o") == 2
    assert "--model" in capsys.readouterr().err
