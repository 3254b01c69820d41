from pathlib import Path

import numpy as np
import pytest
import tifffile

from grainseg.errors import GrainsegError
from grainseg.io.tiff import read_micrograph, write_tiff
from grainseg.preprocess import data_bar_start_row, preprocess_sem


def test_roundtrip_keeps_pixel_size_and_values(tmp_path):
    image = np.random.default_rng(0).integers(0, 65535, (40, 50), dtype=np.uint16)
    write_tiff(tmp_path / "a.tif", image, pixel_size_um=0.05)
    m = read_micrograph(tmp_path / "a.tif")
    assert m.pixel_size_um == pytest.approx(0.05)
    np.testing.assert_array_equal(m.image, image)
    assert not list(tmp_path.glob("*.part"))


def test_fei_pixel_size_from_the_real_metadata_block():
    """A crop of a real FEI/Thermo Fisher image (tests/data/sem), so it runs on a clean clone."""
    m = read_micrograph(Path(__file__).parent / "data" / "sem" / "austenitic_steel_bse_002_crop.tif")
    assert m.image.shape == (24, 32) and m.image.dtype == np.uint16
    assert m.pixel_size_um == pytest.approx(0.0770833, rel=1e-5)


def test_real_fei_pixel_size(shared_data):
    m = read_micrograph(shared_data / "sem" / "austenitic_steel_bse_002.tif")
    assert m.image.shape == (954, 1024)
    assert m.image.dtype == np.uint16
    assert m.pixel_size_um == pytest.approx(0.0770833, rel=1e-5)


def test_real_data_bar_found(shared_data):
    for name in ("austenitic_steel_bse_002.tif", "austenitic_steel_bse_006.tif"):
        image = read_micrograph(shared_data / "sem" / name).image
        start = data_bar_start_row(image)
        assert 870 <= start <= 890


def test_no_data_bar_in_a_flat_noisy_grain():
    """A grain filling the bottom rows is not a bar (a rule tolerant of JPEG's grey levels
    around the bar's text found one here, in a 16-bit image with noise of 200 levels)."""
    rng = np.random.default_rng(4)
    grains = np.full((48, 56), 30000.0)  # one grain under the 16 bottom rows, two above
    grains[:32, :28], grains[:32, 28:] = 15000.0, 45000.0
    assert data_bar_start_row(np.clip(grains + rng.normal(0, 200, grains.shape), 0, 65535)
                              .astype(np.uint16)) == 48
    assert data_bar_start_row(np.clip(grains / 257 + rng.normal(0, 4, grains.shape), 0, 255)
                              .astype(np.uint8)) == 48


def test_no_data_bar_on_plain_image():
    image = np.random.default_rng(1).normal(size=(200, 300)).astype(np.float32)
    assert data_bar_start_row(image) == 200


def test_rgb_converted_with_note(tmp_path):
    rgb = np.zeros((20, 30, 3), dtype=np.uint8)
    rgb[..., 1] = 200
    tifffile.imwrite(tmp_path / "rgb.tif", rgb)
    m = read_micrograph(tmp_path / "rgb.tif")
    assert m.image.shape == (20, 30)
    assert any("RGB" in note for note in m.notes)


def test_png_named_tif_is_a_clear_error(tmp_path):
    bad = tmp_path / "fake.tif"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(GrainsegError, match="fake.tif"):
        read_micrograph(bad)


def test_truncated_tiff_is_a_clear_error(tmp_path):
    image = np.random.default_rng(2).integers(0, 255, (300, 300), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "full.tif", image)
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 3])
    with pytest.raises(GrainsegError, match="cut.tif"):
        read_micrograph(tmp_path / "cut.tif")


def test_preprocess_handles_nan_and_blank():
    image = np.ones((32, 32), dtype=np.float32)
    image[3, 3] = np.nan
    out = preprocess_sem(image)
    assert np.isfinite(out).all()


def test_atomic_output_has_normal_permissions(tmp_path):
    import os

    write_tiff(tmp_path / "p.tif", np.zeros((4, 4), dtype=np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "p.tif").stat().st_mode & 0o777 == 0o666 & ~umask
