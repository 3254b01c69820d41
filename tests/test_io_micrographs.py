"""Micrographs in every raster format SEM software saves, and the vendors' pixel sizes.

The vendor metadata here is written in each vendor's documented layout (Zeiss tag 34118 text,
Tescan tag 50431 and .hdr, JEOL and Hitachi .txt sidecars, ImageJ calibration); the FEI/Thermo
Fisher block of the real SEM files is tested in test_io_tiff.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from grainseg.errors import GrainsegError
from grainseg.io.tiff import NO_PIXEL_SIZE_NOTE, TESCAN_TAG, read_mask, read_micrograph

RNG = np.random.default_rng(0)
GREY8 = RNG.integers(0, 256, (12, 16), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (12, 16), dtype=np.uint16)


@pytest.mark.parametrize(("suffix", "image"), [
    (".png", GREY8), (".png", GREY16), (".bmp", GREY8), (".tif", GREY16),
    (".tif", GREY16.astype(np.float32) / 65535),
])
def test_lossless_formats_keep_values_and_dtype(tmp_path, suffix, image):
    path = tmp_path / f"img{suffix}"
    if suffix == ".tif":
        tifffile.imwrite(path, image)
    else:
        Image.fromarray(image).save(path)
    m = read_micrograph(path)
    assert m.image.dtype == image.dtype
    np.testing.assert_array_equal(m.image, image)
    assert m.pixel_size_um is None and NO_PIXEL_SIZE_NOTE in m.notes


def test_jpeg_and_rgb_png_become_grey(tmp_path):
    rgb = np.zeros((12, 16, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "c.png")
    m = read_micrograph(tmp_path / "c.png")
    assert m.image.shape == (12, 16) and int(m.image[0, 0]) == round(200 * 0.2125)
    assert "converted RGB to grey" in m.notes
    smooth = np.tile(np.linspace(0, 255, 16, dtype=np.uint8), (12, 1))
    Image.fromarray(smooth).save(tmp_path / "s.jpg", quality=95)
    jpeg = read_micrograph(tmp_path / "s.jpg")
    assert jpeg.image.dtype == np.uint8 and np.abs(jpeg.image.astype(int) - smooth).max() < 12


def test_palette_png_is_colours_for_micrographs_and_indices_for_masks(tmp_path):
    labels = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    im = Image.fromarray(labels, mode="P")
    im.putpalette([0, 0, 0, 250, 0, 0, 0, 0, 250] + [0] * (253 * 3))
    im.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "p.png"), labels)
    assert read_micrograph(tmp_path / "p.png").image[0, 1] == round(250 * 0.2125)


def test_zeiss_and_imagej_and_tescan_tags(tmp_path):
    zeiss = "\r\n".join(["0", "0", "0", "AP_IMAGE_PIXEL_SIZE", "Image Pixel Size = 2.500 nm", ""])
    tifffile.imwrite(tmp_path / "z.tif", GREY8, extratags=[(34118, "s", 0, zeiss, True)])
    assert read_micrograph(tmp_path / "z.tif").pixel_size_um == pytest.approx(0.0025)
    tifffile.imwrite(tmp_path / "ij.tif", GREY8, imagej=True, resolution=(4.0, 4.0),
                     metadata={"unit": "um"})
    assert read_micrograph(tmp_path / "ij.tif").pixel_size_um == pytest.approx(0.25)
    tescan = b"\x00\x01binary header\x00[MAIN]\r\nDevice=MIRA\r\nPixelSizeX=1.5e-08\r\n"
    tifffile.imwrite(tmp_path / "t.tif", GREY8, extratags=[(TESCAN_TAG, "B", len(tescan),
                                                             tescan, True)])
    m = read_micrograph(tmp_path / "t.tif")
    assert m.pixel_size_um == pytest.approx(0.015) and NO_PIXEL_SIZE_NOTE not in m.notes


@pytest.mark.parametrize(("sidecar", "text", "pixel_um"), [
    ("img.txt", "$CM_FORMAT JEOL/SEM\n$CM_FULL_SIZE 16 12\n$$SM_MICRON_BAR 240\n"
                "$$SM_MICRON_MARKER 5um\n", 5 / 240),
    ("img.txt", "$CM_FORMAT JEOL/SEM\r\n$SM_MICRON_BAR 100\r\n$SM_MICRON_MARKER 500nm\r\n",
     0.005),
    ("img.txt", "[SemImageFile]\r\nInstructName=S-4800\r\nDataSize=1280x960\r\n"
                "PixelSize=9.921875\r\n", 0.009921875),
    ("img.hdr", "[MAIN]\r\nDevice=VEGA3\r\nPixelSizeX=2.5e-07\r\nPixelSizeY=2.5e-07\r\n", 0.25),
    ("img-png.hdr", "[MAIN]\nPixelSizeX=1e-06\n", 1.0),
])
def test_sidecar_pixel_sizes(tmp_path, sidecar, text, pixel_um):
    Image.fromarray(GREY8).save(tmp_path / "img.png")
    (tmp_path / sidecar).write_bytes(text.encode("latin-1"))
    m = read_micrograph(tmp_path / "img.png")
    assert m.pixel_size_um == pytest.approx(pixel_um)
    assert any(sidecar in note for note in m.notes) and NO_PIXEL_SIZE_NOTE not in m.notes


def test_sidecar_without_a_pixel_size_is_ignored(tmp_path):
    Image.fromarray(GREY8).save(tmp_path / "img.jpg")
    (tmp_path / "img.txt").write_text("notes of the operator\nPixelSize=abc\n")
    m = read_micrograph(tmp_path / "img.jpg")
    assert m.pixel_size_um is None and NO_PIXEL_SIZE_NOTE in m.notes


def test_damaged_raster_files_are_refused(tmp_path):
    Image.fromarray(GREY8).save(tmp_path / "img.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "img.png").read_bytes()[:60])
    with pytest.raises(GrainsegError, match=r"cut\.png: not a readable PNG image"):
        read_micrograph(tmp_path / "cut.png")
    (tmp_path / "text.bmp").write_text("not an image")
    with pytest.raises(GrainsegError, match=r"text\.bmp: not a readable BMP image"):
        read_micrograph(tmp_path / "text.bmp")
