"""EDAX .osc and OIM .h5, Bruker .h5 (through orix) and EbsdLib's edge cases, on tiny fixtures
cut from the shared files (tests/data/ebsd, see cut_fixtures.py there), on the whole shared files
where present, and on a Bruker file built in the layout orix reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from helpers.bruker import write_bruker_h5
from orix.crystal_map import CrystalMap, PhaseList
from orix.quaternion import Rotation

from grainseg.cli import main
from grainseg.ebsd.grains import reconstruct_grains
from grainseg.errors import GrainsegError
from grainseg.io.ebsd import EBSDMap, read_ebsd, write_ebsd

DATA = Path(__file__).parent / "data" / "ebsd"


def _assert_same_map(a: EBSDMap, b: EBSDMap) -> None:
    """Same grid, phases' symmetry, indexed points and orientations (float32 precision)."""
    assert a.shape == b.shape and a.step_um == pytest.approx(b.step_um, rel=1e-6)
    assert [p.laue for p in a.phases] == [p.laue for p in b.phases]
    np.testing.assert_array_equal(a.indexed, b.indexed)
    np.testing.assert_array_equal(a.phase_ids, b.phase_ids)
    np.testing.assert_allclose(a.quaternions, b.quaternions, atol=1e-6)


# ------------------------------------------------------------------------------------- .osc


def test_osc_gives_the_map_of_its_ang_export():
    ang, osc = read_ebsd(DATA / "copper_hex_crop.ang"), read_ebsd(DATA / "copper_hex_crop.osc")
    _assert_same_map(ang, osc)
    assert osc.shape == (17, 30) and osc.step_um == pytest.approx(0.2)
    assert any("hexagonal grid" in note for note in osc.notes)
    for name in ("iq", "fit"):  # the .ang writes 3 decimals
        np.testing.assert_allclose(osc.properties[name][osc.indexed],
                                   ang.properties[name][ang.indexed], atol=6e-4)
    assert 0 < (~osc.indexed).sum() < osc.indexed.size  # EDAX's 4 pi flag honoured


def test_osc_and_ang_give_identical_grain_maps_through_the_cli(tmp_path):
    grain_maps = []
    for suffix in (".ang", ".osc"):
        out = tmp_path / suffix[1:]
        assert main(["ebsd-grains", str(DATA / f"copper_hex_crop{suffix}"), "--out",
                     str(out)]) == 0
        grain_maps.append(tifffile.imread(out / "grain_ids.tif"))
    assert grain_maps[0].max() > 3
    np.testing.assert_array_equal(grain_maps[0], grain_maps[1])


def test_whole_copper_hex_osc_equals_ang(shared_data):
    ebsd = shared_data / "ebsd"
    ang, osc = read_ebsd(ebsd / "copper_hex.ang"), read_ebsd(ebsd / "copper_hex.osc")
    _assert_same_map(ang, osc)
    np.testing.assert_array_equal(reconstruct_grains(ang, 10.0), reconstruct_grains(osc, 10.0))


def test_osc_square_grid_and_errors(tmp_path):
    """A square-grid .osc (steps equal) uses the header's grid; damaged files are refused."""
    raw = (DATA / "copper_hex_crop.osc").read_bytes()
    marker = raw.find(bytes.fromhex("B90BEFFF02000000")) + 8
    rows, cols = 3, 4
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:rows, 0:cols] * 0.5
    records = np.zeros((rows * cols, 10), np.float32)
    records[:, :3] = rng.uniform(0, 3, (rows * cols, 3))
    records[:, 3], records[:, 4], records[:, 6] = x.ravel(), y.ravel(), 0.5
    head = np.frombuffer(raw[:32], "<u4").copy()
    head[4], head[5], head[6] = cols - 1, rows - 1, rows * cols
    body = raw[32:marker] + np.array([0.5, 0.5], "<f4").tobytes() + records.tobytes()
    path = tmp_path / "square.osc"
    path.write_bytes(head.tobytes() + body)
    m = read_ebsd(path)
    assert m.shape == (rows, cols) and m.step_um == 0.5 and m.indexed.all()
    expected = Rotation.from_euler(records[:, :3].astype(np.float64)).data.reshape(rows, cols, 4)
    np.testing.assert_allclose(m.quaternions, expected, atol=1e-6)

    (tmp_path / "cut.osc").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(GrainsegError, match=r"cut\.osc: cannot decode the data block \(trunc"):
        read_ebsd(tmp_path / "cut.osc")
    shutil.copy(DATA / "copper_hex_crop.ang", tmp_path / "text.osc")
    with pytest.raises(GrainsegError, match=r"text\.osc: no data block marker"):
        read_ebsd(tmp_path / "text.osc")


# -------------------------------------------------------------------------------- OIM .h5


def _orix_map_of_euler_angles(path: Path, scan: str = "Scan_1") -> CrystalMap:
    """What an orix user makes of the file: its Euler angles and coordinates in a CrystalMap."""
    with h5py.File(path, "r") as h5:
        data = h5[f"{scan}/EBSD/Data"]
        euler = np.column_stack([data[k][()] for k in ("Phi1", "Phi", "Phi2")])
        x, y = data["X Position"][()], data["Y Position"][()]
    return CrystalMap(Rotation.from_euler(euler.astype(np.float64)), x=x.astype(float),
                      y=y.astype(float), phase_id=np.zeros(len(x), int),
                      phase_list=PhaseList(names="Nickel", point_groups="m-3m"), scan_unit="um")


def test_oim_h5_gives_the_grains_of_orix_loaded_euler_angles():
    path = DATA / "edax_ni_oim_crop.h5"
    m = read_ebsd(path)
    assert m.shape == (16, 20) and m.step_um == 1.5
    assert [(p.name, p.laue) for p in m.phases] == [("Nickel", "m-3m")]
    assert {"iq", "ci", "fit"} <= set(m.properties)
    reference = EBSDMap.from_crystal_map(_orix_map_of_euler_angles(path))
    _assert_same_map(m, reference)
    grains = reconstruct_grains(m, 10.0)
    assert grains.max() > 3
    np.testing.assert_array_equal(grains, reconstruct_grains(reference, 10.0))


def test_whole_oim_h5_gives_the_grains_of_orix_loaded_euler_angles(shared_data):
    path = shared_data / "ebsd" / "edax_ni_oim.h5"
    m = read_ebsd(path)
    reference = EBSDMap.from_crystal_map(_orix_map_of_euler_angles(path))
    assert m.shape == (151, 186)
    _assert_same_map(m, reference)
    np.testing.assert_array_equal(reconstruct_grains(m, 10.0),
                                  reconstruct_grains(reference, 10.0))


def test_oim_h5_gives_the_grains_orix_reads_from_its_ang_export(tmp_path):
    """orix reads .ang: the map written as .ang (our writer) and loaded by orix is the map."""
    from orix import io as orix_io

    m = read_ebsd(DATA / "edax_ni_oim_crop.h5")
    write_ebsd(tmp_path / "export.ang", m)
    reference = EBSDMap.from_crystal_map(orix_io.load(tmp_path / "export.ang"))
    assert [p.name for p in reference.phases] == ["Nickel"]
    _assert_same_map(m, reference)
    np.testing.assert_array_equal(reconstruct_grains(m, 10.0),
                                  reconstruct_grains(reference, 10.0))


@pytest.fixture
def three_scans(tmp_path) -> Path:
    """The fixture with scans "Scan 2" (Euler angles shifted) and "Scan 10" added."""
    path = tmp_path / "three.h5"
    shutil.copy(DATA / "edax_ni_oim_crop.h5", path)
    with h5py.File(path, "r+") as h5:
        for name, shift in (("Scan 2", 0.3), ("Scan 10", 0.6)):
            h5.copy("Scan_1", name)
            phi1 = h5[f"{name}/EBSD/Data/Phi1"]
            phi1[...] = (phi1[()] + shift) % (2 * np.pi)
    return path


def test_oim_h5_scans_default_first_chosen_by_name_listed_in_the_error(three_scans):
    first = read_ebsd(three_scans)  # natural order: Scan 2, Scan 10, Scan_1
    chosen = read_ebsd(three_scans, scan="Scan_1")
    assert any("'Scan 2'" in note and "Scan 10" in note for note in first.notes)
    np.testing.assert_allclose(first.quaternions,
                               read_ebsd(three_scans, scan="Scan 2").quaternions)
    assert not np.allclose(first.quaternions, chosen.quaternions, atol=1e-3)
    with pytest.raises(GrainsegError, match=r"three\.h5: no scan 'Scan 3'; the file holds "
                                            r"Scan 2, Scan 10, Scan_1"):
        read_ebsd(three_scans, scan="Scan 3")
    with pytest.raises(GrainsegError, match=r"\.ang: holds one map"):
        read_ebsd(DATA / "copper_hex_crop.ang", scan="Scan 1")


def test_oim_h5_cli_scan_option(three_scans, tmp_path):
    assert main(["ebsd-grains", str(three_scans), "--scan", "Scan_1", "--out",
                 str(tmp_path / "g")]) == 0
    assert main(["ebsd-grains", str(three_scans), "--scan", "nope", "--out",
                 str(tmp_path / "h")]) == 2


def test_oim_h5_points_without_data_are_not_indexed(tmp_path):
    """OIM writes x = y = -1111111 for grid points without data."""
    path = tmp_path / "holes.h5"
    shutil.copy(DATA / "edax_ni_oim_crop.h5", path)
    with h5py.File(path, "r+") as h5:
        for key in ("X Position", "Y Position"):
            h5[f"Scan_1/EBSD/Data/{key}"][[0, 25]] = -1111111.0
    m = read_ebsd(path)
    assert m.shape == (16, 20)
    assert not m.indexed.flat[0] and not m.indexed.flat[25] and m.indexed.sum() == 16 * 20 - 2


def test_oim_h5_damaged_files_are_refused(tmp_path):
    path = tmp_path / "bad.h5"
    shutil.copy(DATA / "edax_ni_oim_crop.h5", path)
    with h5py.File(path, "r+") as h5:
        del h5["Scan_1/EBSD/Data/CI"]
    with pytest.raises(GrainsegError, match=r"bad\.h5: scan 'Scan_1': EBSD/Data lacks CI"):
        read_ebsd(path)
    with h5py.File(path, "r+") as h5:
        h5["Scan_1/EBSD/Data/CI"] = np.zeros(7, np.float32)
    with pytest.raises(GrainsegError, match="differ in length"):
        read_ebsd(path)
    (tmp_path / "cut.h5").write_bytes((DATA / "edax_ni_oim_crop.h5").read_bytes()[:3000])
    with pytest.raises(GrainsegError, match=r"cut\.h5: "):
        read_ebsd(tmp_path / "cut.h5")


# ---------------------------------------------------------------------- EbsdLib's edge cases

EDGE = DATA / "edge_cases"


@pytest.mark.parametrize(("name", "problem"), [
    ("Corrupted_XCells.ctf", r"header grid YCells x XCells = 5 x 123456789123456789"),
    ("ShortFile.ang", r"NROWS x NCOLS = 4 x 40 = 160 points but the file has 88 \(rows missing"),
    ("ShortFile.ctf", r"YCells x XCells = 5 x 100 = 500 points but the file has 2"),
    ("ZeroXYCells.ctf", r"header XCells must be at least 1, got 0"),
    ("Test_HeaderCache-1.ang", r"no data rows after the header"),
    # every point of these three is flagged not indexed (CI -1, Euler angles 4 pi): the grid
    # is read (no GRID line; HexGrid over square points; no grid lines at all) and then refused
    ("GridMissing.ang", r"no indexed point"),
    ("HexHeader.ang", r"no indexed point"),
    ("MissingHeader_1.ang", r"no indexed point"),
])
def test_edge_cases_are_refused_naming_file_and_problem(name, problem):
    with pytest.raises(GrainsegError, match=rf"{name.replace('.', '[.]')}: .*{problem}"):
        read_ebsd(EDGE / name)


def _indexed_copy(source: Path, target: Path) -> Path:
    """The file with every point given CI 0.5 (its own points are all flagged not indexed)."""
    lines = source.read_text(encoding="latin-1").split("\n")
    out = []
    for line in lines:
        if line.startswith("#") or not line.strip():
            out.append(line)
            continue
        values = line.split()
        values[0:3], values[6] = ["0.1", "0.2", "0.3"], "0.5"
        out.append(" ".join(values))
    target.write_text("\n".join(out), encoding="latin-1")
    return target


@pytest.mark.parametrize("name", ["GridMissing.ang", "HexHeader.ang", "MissingHeader_1.ang"])
def test_edge_case_grids_are_read(tmp_path, name):
    """No GRID line, a HexGrid header over square-grid points, no grid lines: 4 x 40 at 0.25."""
    m = read_ebsd(_indexed_copy(EDGE / name, tmp_path / name))
    assert m.shape == (4, 40) and m.step_um == 0.25 and m.indexed.all()
    if name == "HexHeader.ang":
        assert any("points lie on a square grid" in note for note in m.notes)


def test_decimal_commas_give_the_map_of_the_same_file_with_points():
    european, us = read_ebsd(EDGE / "Test_European_1.ctf"), read_ebsd(EDGE / "Test_US_1.ctf")
    assert european.shape == (5, 40) and european.step_um == 0.5
    assert "decimal commas read as decimal points" in european.notes
    np.testing.assert_array_equal(european.quaternions, us.quaternions)
    np.testing.assert_array_equal(european.indexed, us.indexed)


def _boundary_agreement(m: EBSDMap, image: np.ndarray) -> float:
    """Fraction of indexed horizontal neighbour pairs on which the expected image changes colour
    exactly where the map has a boundary above 5 degrees."""
    from grainseg.ebsd.misorientation import neighbour_misorientation_deg

    right, _ = neighbour_misorientation_deg(m)
    colour_step = np.abs(np.diff(image.astype(float), axis=1)).max(axis=-1) > 20
    pairs = m.indexed[:, 1:] & m.indexed[:, :-1]
    return float(((right > 5) == colour_step)[pairs].mean())


def test_rows_out_of_scan_order_are_placed_by_their_coordinates():
    m = read_ebsd(EDGE / "Out_Of_Order.ang")
    expected = tifffile.imread(EDGE / "Out_Of_Order_Correct.tiff")
    assert m.shape == expected.shape[:2] == (20, 40)
    assert any("not in scan order" in note for note in m.notes)
    agreement = _boundary_agreement(m, expected)
    assert agreement > 0.95
    # the measure tells placements apart: the same map one row off agrees much less
    shifted = EBSDMap(np.roll(m.quaternions, 1, axis=0), np.roll(m.phase_ids, 1, axis=0),
                      np.roll(m.indexed, 1, axis=0), m.step_um, m.phases)
    assert _boundary_agreement(shifted, expected) < agreement - 0.1


def test_whole_out_of_order_file_matches_its_expected_image(shared_data):
    edge = shared_data / "ebsd" / "edge_cases"
    m = read_ebsd(edge / "Out_Of_Order.ang")
    expected = tifffile.imread(edge / "Out_Of_Order_Correct.tiff")
    assert m.shape == expected.shape[:2] == (201, 189)
    assert _boundary_agreement(m, expected) > 0.95


# --------------------------------------------------------------------- Bruker h5ebsd (orix)


def test_bruker_h5_is_read_through_orix(tmp_path):
    rng = np.random.default_rng(1)
    euler_deg = rng.uniform([0, 0, 0], [360, 180, 360], (4, 6, 3))
    phase = rng.integers(0, 2, (4, 6))
    phase[0, 0] = 1
    m = read_ebsd(write_bruker_h5(tmp_path / "esprit.h5", euler_deg, phase))
    assert m.shape == (4, 6) and m.step_um == 0.5
    assert [(p.name, p.laue) for p in m.phases] == [("Nickel", "m-3m")]
    np.testing.assert_array_equal(m.indexed, phase > 0)
    expected = Rotation.from_euler(np.deg2rad(euler_deg.reshape(-1, 3).astype(np.float32)
                                              .astype(np.float64))).data.reshape(4, 6, 4)
    np.testing.assert_allclose(m.quaternions[m.indexed], expected[m.indexed], atol=1e-6)
    assert any("orix" in note for note in m.notes)


def test_bruker_h5_orix_cannot_read_is_refused_naming_the_file(tmp_path):
    path = write_bruker_h5(tmp_path / "roi.h5", np.zeros((4, 6, 3)), np.ones((4, 6), int))
    with h5py.File(path, "r+") as h5:
        h5["Scan 0/SEM/IX"][0] = 9  # a point off the rectangle: orix reads rectangles only
    with pytest.raises(GrainsegError, match=r"roi\.h5: orix cannot read this HDF5 file"):
        read_ebsd(path)
