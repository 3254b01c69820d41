"""Reader bugs the fuzzer found, each pinned by a small case; and the file cases of issue 9 that
the reader tests (test_io_tiff.py, test_ebsd_io.py) do not already cover."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile

from grainseg.errors import GrainsegError
from grainseg.io.ebsd import read_ebsd, write_ebsd
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.tiff import NO_PIXEL_SIZE_NOTE, read_micrograph

DATA = Path(__file__).parent / "data" / "ebsd"


def _map(laue: str = "m-3m") -> EBSDMap:
    rng = np.random.default_rng(1)
    quats = rng.normal(size=(4, 5, 4)).astype(np.float32)
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
    phase_ids = np.zeros((4, 5), np.int16)
    return EBSDMap(quats, phase_ids, phase_ids >= 0, 1.0, [Phase("Nickel", laue)])


@pytest.fixture
def ang(tmp_path):
    path = tmp_path / "m.ang"
    write_ebsd(path, _map())
    return path


@pytest.fixture
def ctf(tmp_path):
    path = tmp_path / "m.ctf"
    write_ebsd(path, _map())
    return path


def _edit(path, pattern, replacement):
    text = path.read_text()
    assert re.search(pattern, text, flags=re.M), pattern
    path.write_text(re.sub(pattern, replacement, text, count=1, flags=re.M))
    return path


def _raises(path, match):
    with pytest.raises(GrainsegError, match=match) as info:
        read_ebsd(path)
    assert str(info.value).startswith(str(path.with_suffix("")))


# ------------------------------------------------------------------ fixed by the fuzzer


def test_ang_phase_number_not_a_number(ang):
    _raises(_edit(ang, r"^# Phase 1$", "# Phase x"), "header Phase is not a whole number")


@pytest.mark.parametrize("value", ["-5", "0", "abc"])
def test_ang_grid_counts_must_be_positive_whole_numbers(ang, value):
    _edit(ang, r"^# NCOLS_ODD: 5$", f"# NCOLS_ODD: {value}")
    _raises(_edit(ang, r"^# NROWS: 4$", f"# NROWS: {value}"), "header NCOLS_ODD")


def test_ang_infinite_step(ang):
    _edit(ang, r"^# XSTEP: .*$", "# XSTEP: inf")
    _raises(_edit(ang, r"^# YSTEP: .*$", "# YSTEP: inf"), "grid steps must be positive")


@pytest.mark.parametrize("line, match", [
    ("Phases", "header Phases is not a whole number"),
    ("Phases\t", "header Phases is not a whole number"),
    ("Phases\t-1", "header Phases must be at least 1"),
    ("Phases\t9", "file ends|header announces 9 phases but only 1 phase line follows"),
])
def test_ctf_phase_count_line(ctf, line, match):
    _raises(_edit(ctf, r"^Phases\t1$", line), match)


def test_ctf_phases_line_at_end_of_file(tmp_path):
    path = tmp_path / "cut.ctf"
    path.write_text("Channel Text File\nXCells\t2\nPhases\t2\n")
    _raises(path, "announces 2 phases but the file ends")


def test_ctf_negative_cells(ctf):
    _edit(ctf, r"^XCells\t5$", "XCells\t-5")
    _raises(_edit(ctf, r"^YCells\t4$", "YCells\t-4"), "header XCells must be at least 1")


@pytest.fixture
def cpr_pair(tmp_path):
    """The real .cpr/.crc cut to a 6 x 4 grid (tests/data/ebsd), copied to be edited."""
    for suffix in (".cpr", ".crc"):
        shutil.copy(DATA / f"ni_superalloy_crop{suffix}", tmp_path / f"m{suffix}")
    assert read_ebsd(tmp_path / "m.cpr").shape == (4, 6)
    return tmp_path / "m.cpr"


def test_cpr_field_listed_twice(cpr_pair):
    _raises(_edit(cpr_pair, r"^Field2=4$", "Field2=3"), r"lists a field twice")


def test_cpr_negative_grid_matching_the_record_count(cpr_pair):
    _edit(cpr_pair, r"^xCells=6$", "xCells=-6")
    _raises(_edit(cpr_pair, r"^yCells=4$", "yCells=-4"), "header xCells must be at least 1")


def test_cpr_bad_edx_count(cpr_pair):
    _raises(_edit(cpr_pair, r"^Count=0$", "Count=x"), r"\[EDX Windows\] Count")


def test_tiff_with_a_broken_zlib_stream(tmp_path):
    path = tmp_path / "z.tif"
    tifffile.imwrite(path, np.arange(4096, dtype=np.uint16).reshape(64, 64), compression="zlib")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        start = tif.pages[0].dataoffsets[0]
    data[start + 10: start + 40] = bytes(30)
    path.write_bytes(bytes(data))
    with pytest.raises(GrainsegError, match="TIFF is damaged or truncated"):
        read_micrograph(path)


@pytest.mark.parametrize("content", [b"II", b"MM\x00", b"II*\x00"])
def test_tiff_cut_inside_the_header(tmp_path, content):
    path = tmp_path / "h.tif"
    path.write_bytes(content)
    with pytest.raises(GrainsegError, match=re.escape(str(path))):
        read_micrograph(path)


# ------------------------------------------------------------------- issue 9 file cases


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.float64])
def test_16_bit_and_float_images_keep_values(tmp_path, dtype):
    image = (np.arange(30 * 40).reshape(30, 40) * 7).astype(dtype)
    tifffile.imwrite(tmp_path / "i.tif", image)
    m = read_micrograph(tmp_path / "i.tif")
    assert m.image.dtype == dtype and np.array_equal(m.image, image)
    assert m.notes == [NO_PIXEL_SIZE_NOTE]


def test_rgba_converted_with_note(tmp_path):
    rgba = np.zeros((6, 7, 4), np.uint8)
    rgba[..., 1] = 200
    rgba[..., 3] = 255
    tifffile.imwrite(tmp_path / "c.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    m = read_micrograph(tmp_path / "c.tif")
    assert m.image.shape == (6, 7) and m.notes == ["converted RGBA to grey", NO_PIXEL_SIZE_NOTE]
    assert int(m.image[0, 0]) == round(200 * 0.7154)  # luminance, alpha ignored


def test_hexagonal_crystal_map_through_ebsd_grains(ctf, tmp_path, capsys):
    """Another symmetry than cubic (Laue 6/mmm): read with its symmetry and reconstructed."""
    from grainseg.cli import main

    _edit(ctf, r"\tNickel\t11\t", "\tTitanium\t9\t")
    assert [p.laue for p in read_ebsd(ctf).phases] == ["6/mmm"]
    assert main(["ebsd-grains", str(ctf), "--out", str(tmp_path / "g")]) == 0
    assert (tmp_path / "g" / "grain_ids.tif").is_file()
    assert not list((tmp_path / "g").glob(".*.part"))


def test_damaged_tag_becomes_a_note_not_log_noise(tmp_path, capfd):
    """tifffile logs (to stderr) the tags it must skip; they become notes of the micrograph."""
    import struct

    path = tmp_path / "t.tif"
    image = np.arange(4096, dtype=np.uint16).reshape(64, 64)
    tifffile.imwrite(path, image, description="a description long enough for an offset")
    data = bytearray(path.read_bytes())
    (ifd,) = struct.unpack("<I", data[4:8])
    (n_tags,) = struct.unpack("<H", data[ifd: ifd + 2])
    for k in range(n_tags):
        entry = ifd + 2 + 12 * k
        if struct.unpack("<H", data[entry: entry + 2])[0] == 270:  # ImageDescription
            data[entry + 8: entry + 12] = struct.pack("<I", 10**7)
    path.write_bytes(bytes(data))
    m = read_micrograph(path)
    assert np.array_equal(m.image, image)
    damage = [n for n in m.notes if n != NO_PIXEL_SIZE_NOTE]
    assert damage and all(n.startswith("damaged TIFF entry skipped") for n in damage)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("case, match", [
    ("ang_bad_header", "unknown crystal symmetry code"),
    ("ang_rows_missing", "rows missing or truncated"),
    ("ang_none_indexed", "no indexed point"),
    ("ctf_phase_disagrees", "phase table and data disagree"),
    ("ctf_truncated", "malformed data table|rows missing"),
])
def test_broken_maps_through_ebsd_grains(ang, ctf, tmp_path, capsys, case, match):
    """At the CLI: exit 2, one line naming the file and the problem, nothing written."""
    from grainseg.cli import main

    if case == "ang_bad_header":
        path = _edit(ang, r"^# Symmetry .*$", "# Symmetry 99")
    elif case == "ang_rows_missing":
        lines = ang.read_text().splitlines()
        path = ang
        path.write_text("\n".join(lines[:-3]) + "\n")
    elif case == "ang_none_indexed":
        path = ang
        lines = [line if line.startswith("#") else " ".join(
            line.split()[:6] + ["-1"] + line.split()[7:]) for line in ang.read_text().splitlines()]
        path.write_text("\n".join(lines) + "\n")
    elif case == "ctf_phase_disagrees":
        path = _edit(ctf, r"^1\t", "3\t")
    else:
        path = ctf
        path.write_bytes(ctf.read_bytes()[:-20])
    out = tmp_path / "o"
    assert main(["ebsd-grains", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert str(path) in err and re.search(match, err), err
    assert not out.exists() or list(out.iterdir()) == []


def test_hexagonal_ang_with_a_point_far_off(tmp_path):
    """One x coordinate of 4294967297 µm once asked for a 64 GiB square grid."""
    from test_fuzz_readers import _hex_ang

    path = tmp_path / "hex.ang"
    path.write_bytes(_hex_ang())
    assert read_ebsd(path).shape == (4, 6)
    lines = path.read_text().splitlines()
    values = lines[-1].split()
    values[3] = "4294967297"
    path.write_text("\n".join([*lines[:-1], " ".join(values)]) + "\n")
    _raises(path, "do not lie on one hexagonal grid")


@pytest.mark.parametrize("compression", [None, "zlib"])
def test_tiff_declaring_a_huge_image(tmp_path, compression):
    """A damaged header declaring 60000 x 60000 px: an error, not gigabytes allocated."""
    import struct

    path = tmp_path / "huge.tif"
    tifffile.imwrite(path, np.zeros((16, 16), np.uint16), compression=compression)
    data = bytearray(path.read_bytes())
    (ifd,) = struct.unpack("<I", data[4:8])
    (n_tags,) = struct.unpack("<H", data[ifd: ifd + 2])
    for k in range(n_tags):
        entry = ifd + 2 + 12 * k
        tag, kind = struct.unpack("<HH", data[entry: entry + 4])
        if tag in (256, 257, 278):  # ImageWidth, ImageLength, RowsPerStrip
            data[entry + 8: entry + 12] = struct.pack("<H" if kind == 3 else "<I", 60000).ljust(
                4, b"\0")
    path.write_bytes(bytes(data))
    with pytest.raises(GrainsegError, match="TIFF header declares a 60000 x 60000 image"):
        read_micrograph(path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
@pytest.mark.parametrize("suffix", [".ang", ".ctf"])
def test_text_maps_saved_with_a_byte_order_mark(tmp_path, suffix, encoding):
    """A map re-saved by a Windows editor (UTF-8 with BOM, or UTF-16) reads as the original."""
    path = tmp_path / f"m{suffix}"
    write_ebsd(path, _map())
    original = read_ebsd(path)
    path.write_bytes(path.read_text().encode(encoding))
    again = read_ebsd(path)
    assert np.array_equal(again.quaternions, original.quaternions)
    assert again.phases == original.phases and again.step_um == original.step_um
