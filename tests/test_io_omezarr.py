"""zarr / OME-Zarr: round trip with the pixel size, NGFF 0.4 and plain arrays, and `segment`
on a zarr mosaic writing OME-Zarr outputs."""

import json

import numpy as np
import pytest
import tifffile
import torch
from test_infer_segment import cell_image

from grainseg.cli import main
from grainseg.errors import GrainsegError
from grainseg.infer.batch import output_paths
from grainseg.infer.large import segment_large
from grainseg.infer.segment import load_predictor
from grainseg.io.omezarr import open_zarr_image, write_ome_zarr
from grainseg.io.tiff import write_tiff
from grainseg.models import build_model, save_model

zarr = pytest.importorskip("zarr", minversion="3")


def test_ome_zarr_round_trip_keeps_pixels_and_pixel_size(tmp_path):
    image = np.random.default_rng(0).integers(0, 65535, (70, 90), dtype=np.uint16)
    write_ome_zarr(tmp_path / "a.ome.zarr", image, 0.125)
    plane, pixel_size_um = open_zarr_image(tmp_path / "a.ome.zarr")
    assert pixel_size_um == 0.125 and plane.shape == (70, 90) and plane.dtype == np.uint16
    np.testing.assert_array_equal(plane.read(0, 70), image)
    np.testing.assert_array_equal(plane.read(10, 20, 5, 9), image[10:20, 5:9])
    attrs = dict(zarr.open_group(str(tmp_path / "a.ome.zarr"), mode="r").attrs)
    axes = attrs["ome"]["multiscales"][0]["axes"]
    assert [a["unit"] for a in axes] == ["micrometer", "micrometer"]
    write_ome_zarr(tmp_path / "a.ome.zarr", image[:5], None)  # overwrite in place
    plane, pixel_size_um = open_zarr_image(tmp_path / "a.ome.zarr")
    assert plane.shape == (5, 90) and pixel_size_um is None
    assert not list(tmp_path.glob(".*"))


def test_ngff_04_with_leading_axes_and_plain_arrays(tmp_path):
    group = zarr.open_group(str(tmp_path / "v04.zarr"), mode="w", zarr_format=2)
    group.create_array("s0", shape=(1, 1, 40, 50), chunks=(1, 1, 16, 16), dtype="uint8")
    group["s0"][0, 0, 3, 4] = 7
    group.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": "c", "type": "channel"}, {"name": "z", "type": "space"},
                 {"name": "y", "type": "space", "unit": "nanometer"},
                 {"name": "x", "type": "space", "unit": "nanometer"}],
        "datasets": [{"path": "s0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, 1.0, 20.0, 20.0]}]}],
        "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0, 2.0, 2.0]}],
    }]
    plane, pixel_size_um = open_zarr_image(tmp_path / "v04.zarr")
    assert plane.shape == (40, 50) and plane.read(3, 4, 4, 5)[0, 0] == 7
    assert pixel_size_um == pytest.approx(0.04)
    plain = zarr.create_array(str(tmp_path / "plain.zarr"), shape=(2, 30, 30), dtype="f4")
    with pytest.raises(GrainsegError, match="plain.zarr: expected one 2-D image plane"):
        open_zarr_image(tmp_path / "plain.zarr")
    with pytest.raises(GrainsegError, match="missing.zarr: file not found"):
        open_zarr_image(tmp_path / "missing.zarr")
    del plain


@pytest.mark.slow
def test_segment_zarr_mosaic_to_ome_zarr(tmp_path):
    torch.manual_seed(0)
    model = tmp_path / "model.pt"
    save_model(model, build_model("unet", width=0.0625), {"median_px": 3, "patch": 64})
    image = cell_image((150, 200), 8, seed=4)
    (tmp_path / "in").mkdir()
    write_ome_zarr(tmp_path / "in" / "mosaic.ome.zarr", image, 0.08)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "in" / "mosaic.ome.zarr"), "--model", str(model),
                 "--out", str(out), "--tile", "64", "--device", "cpu"]) == 0
    outputs = output_paths(tmp_path / "in" / "mosaic.ome.zarr", out)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [p.name for p in outputs.values()] + ["segment_summary.json", "manifest.json"])
    grain_ids, pixel_size_um = open_zarr_image(outputs["grain_ids"])
    assert pixel_size_um == 0.08 and grain_ids.shape == (150, 200)
    # The same pixels from a TIFF through the same bounded-memory path give the same grains.
    write_tiff(tmp_path / "mosaic.tif", image, 0.08, compress=False)
    predict, _ = load_predictor(model)
    tiff_out = {k: tmp_path / f"t_{k}.{'png' if k == 'overlay' else 'tif'}" for k in outputs}
    segment_large(tmp_path / "mosaic.tif", predict, tiff_out, tile_px=64, multiple=16)
    np.testing.assert_array_equal(grain_ids.read(0, 150), tifffile.imread(tiff_out["grain_ids"]))


def test_grains_reads_zarr_grain_ids_with_their_pixel_size(tmp_path):
    cell_image((60, 80), 10, seed=5)
    write_ome_zarr(tmp_path / "m_grain_ids.zarr", (cell_image.owner + 1).astype("uint32"), 0.25)
    assert main(["grains", str(tmp_path / "m_grain_ids.zarr"), "--out", str(tmp_path / "s")]) == 0
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["pixel_size_um"] == 0.25 and summary["n_grains_total"] == 10
