"""read_ebsd on the real files, on small files written here, and on broken files."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from orix.quaternion import Rotation

from grainseg.errors import GrainsegError
from grainseg.io.ebsd import read_ebsd, write_ebsd


def _euler_to_quat(euler_rad):
    """Quaternions (..., 4) of Bunge Euler angles (..., 3) in radians, by orix."""
    euler_rad = np.asarray(euler_rad, dtype=np.float64)
    return Rotation.from_euler(euler_rad.reshape(-1, 3)).data.reshape(*euler_rad.shape[:-1], 4)


@pytest.fixture
def ebsd_dir(shared_data):
    return shared_data / "ebsd"


def _write_ctf(path, euler_deg, phase, step, phases=(("Nickel", 11),), table_extra=""):
    """A minimal Oxford .ctf: ``euler_deg`` (R, C, 3), ``phase`` (R, C) file numbers."""
    rows, cols = phase.shape
    lines = [
        "Channel Text File", "Prj\ttest", "Author\tgrainseg", "JobMode\tGrid",
        f"XCells\t{cols}", f"YCells\t{rows}", f"XStep\t{step}", f"YStep\t{step}",
        "AcqE1\t0", "AcqE2\t0", "AcqE3\t0",
        "Euler angles refer to Sample Coordinate system (CS0)!\tMag\t100",
        f"Phases\t{len(phases)}",
    ]
    lines += [f"3.52;3.52;3.52\t90;90;90\t{name}\t{laue}\t225" for name, laue in phases]
    lines.append("Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS" + table_extra)
    r, c = np.mgrid[:rows, :cols]
    for k in range(rows * cols):
        i, j = divmod(k, cols)
        e = euler_deg[i, j]
        lines.append(
            f"{phase[i, j]}\t{c[i, j] * step:.4f}\t{r[i, j] * step:.4f}\t8\t0\t{e[0]:.4f}\t"
            f"{e[1]:.4f}\t{e[2]:.4f}\t0.5\t120\t200"
        )
    path.write_text("\n".join(lines) + "\n")


def _ang_header(grid="SqrGrid", extra=()):
    return [
        "# TEM_PIXperUM 1.0", "# Phase 1", "# MaterialName Nickel", "# Formula Ni",
        "# Symmetry 43", "# LatticeConstants 3.52 3.52 3.52 90 90 90", "#",
        f"# GRID: {grid}", *extra, "#",
    ]


def _ang_line(e, x, y, ci=0.9, phase=1):
    return f"{e[0]:.5f} {e[1]:.5f} {e[2]:.5f} {x:.5f} {y:.5f} 100.0 {ci:.3f} {phase} 1 1.0"


# ----------------------------------------------------------------------------- real files


def test_cpr_crc_pair(ebsd_dir):
    m = read_ebsd(ebsd_dir / "ni_superalloy.cpr")
    assert m.shape == (243, 359)  # yCells x xCells of the .cpr
    assert m.step_um == pytest.approx(0.12)
    assert [(p.name, p.laue) for p in m.phases] == [("Ni-superalloy", "m-3m")]
    assert m.quaternions.shape == (243, 359, 4) and m.quaternions.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(m.quaternions, axis=-1), 1.0, atol=1e-6)
    assert set(m.properties) >= {"mad", "bc", "bs", "bands", "error"}
    # band counts are small integers, MAD a few degrees: the record layout decodes sensibly
    assert m.properties["bands"].max() <= 16
    assert 0 < np.median(m.properties["mad"]) < 2
    # the .crc side of the pair reads the same
    m2 = read_ebsd(ebsd_dir / "ni_superalloy.crc")
    np.testing.assert_array_equal(m2.quaternions, m.quaternions)


def test_cpr_crc_crop_of_the_real_pair():
    """The first 24 records of the real pair as a 6 x 4 map (tests/data/ebsd): a clean clone
    reads a real .cpr/.crc too."""
    m = read_ebsd(Path(__file__).parent / "data" / "ebsd" / "ni_superalloy_crop.cpr")
    assert m.shape == (4, 6) and m.step_um == pytest.approx(0.12)
    assert [(p.name, p.laue) for p in m.phases] == [("Ni-superalloy", "m-3m")]
    np.testing.assert_allclose(np.linalg.norm(m.quaternions, axis=-1), 1.0, atol=1e-6)
    assert m.properties["bands"].max() <= 16


def test_square_ang_matches_orix_reader(ebsd_dir):
    from orix import io as orix_io

    path = ebsd_dir / "sdss_ferrite_austenite.ang"
    m = read_ebsd(path)
    assert m.shape == (100, 117) and m.step_um == 1.5
    assert [p.name for p in m.phases] == ["austenite/austenite", "ferrite/ferrite"]
    assert all(p.laue == "m-3m" for p in m.phases)
    xmap = orix_io.load(path)
    np.testing.assert_allclose(
        m.quaternions.reshape(-1, 4), xmap.rotations.data, atol=1e-6
    )
    # orix numbers phases as the file does (1, 2); ours are 0-based indices into m.phases
    np.testing.assert_array_equal(m.phase_ids.ravel() + 1, xmap.phase_id)


def test_hexagonal_ang_resampled_to_square(ebsd_dir):
    path = ebsd_dir / "copper_hex.ang"
    m = read_ebsd(path)
    raw = np.loadtxt(path)
    # 231 hex rows 0.17321 um apart (39.837 um) and 104 columns at 0.2 um -> 200 x 104 square
    assert m.shape == (200, 104)
    assert m.step_um == pytest.approx(0.2)
    assert any("hexagonal grid" in n for n in m.notes)
    # square row 0 lies on hex row 0: its nodes are exactly the first 104 points of the file
    np.testing.assert_allclose(m.quaternions[0], _euler_to_quat(raw[:104, :3]), atol=1e-6)
    # EDAX's not-indexed flag (Euler angles 4 pi, CI 0) is honoured
    flagged = raw[:104, 0] > 12
    assert flagged.any()
    np.testing.assert_array_equal(m.indexed[0], ~flagged)
    assert 0.8 < m.indexed.mean() < 0.95


def test_hex_resampling_rule_is_nearest_hex_point(tmp_path):
    """Every square node takes the hexagonal point nearest to it (brute force check)."""
    step = 0.5
    lines = _ang_header("HexGrid")
    points = []
    for i in range(9):
        n = 6 if i % 2 == 0 else 5
        for j in range(n):
            x = step * (j + (0.5 if i % 2 else 0.0))
            y = i * step * np.sqrt(3) / 2
            points.append((x, y))
    rng = np.random.default_rng(3)
    euler = np.round(rng.uniform(0, 1, (len(points), 3)), 5)  # as written to the file
    lines += [_ang_line(e, x, y) for e, (x, y) in zip(euler, points, strict=True)]
    path = tmp_path / "hex.ang"
    path.write_text("\n".join(lines) + "\n")
    m = read_ebsd(path)
    pts = np.array(points)
    rows = int(np.floor(pts[:, 1].max() / step + 1e-6)) + 1
    assert m.shape == (rows, 6) and m.step_um == step
    for i in range(rows):
        for j in range(6):
            nearest = np.argmin(np.hypot(pts[:, 0] - j * step, pts[:, 1] - i * step))
            np.testing.assert_allclose(m.quaternions[i, j], _euler_to_quat(euler[nearest]),
                                       atol=1e-6)


def test_nickel_tiny_has_no_indexed_point(ebsd_dir):
    with pytest.raises(GrainsegError, match="nickel_tiny.ang: no indexed point"):
        read_ebsd(ebsd_dir / "nickel_tiny.ang")


# ------------------------------------------------------------------------------- written here


def test_ctf_reads_phases_angles_and_not_indexed(tmp_path):
    rng = np.random.default_rng(4)
    euler = rng.uniform([0, 0, 0], [360, 180, 360], (3, 4, 3))
    phase = np.array([[1, 1, 2, 2], [1, 0, 2, 2], [1, 1, 1, 2]])
    path = tmp_path / "map.ctf"
    _write_ctf(path, euler, phase, 0.25, phases=(("Austenite", 11), ("Titanium", 9)))
    m = read_ebsd(path)
    assert m.shape == (3, 4) and m.step_um == 0.25
    assert [(p.name, p.laue) for p in m.phases] == [("Austenite", "m-3m"), ("Titanium", "6/mmm")]
    np.testing.assert_array_equal(m.phase_ids, phase - 1)
    assert not m.indexed[1, 1] and m.indexed.sum() == 11
    np.testing.assert_allclose(
        m.quaternions[m.indexed], _euler_to_quat(np.radians(euler))[m.indexed], atol=1e-5
    )
    assert set(m.properties) == {"bands", "error", "mad", "bc", "bs"}


def test_hdf5_via_orix_round_trip(ebsd_dir, tmp_path):
    from orix import io as orix_io

    src = ebsd_dir / "sdss_ferrite_austenite.ang"
    xmap = orix_io.load(src)
    h5 = tmp_path / "sdss.h5"
    orix_io.save(h5, xmap)
    m = read_ebsd(h5)
    ref = read_ebsd(src)
    assert m.shape == ref.shape and m.step_um == ref.step_um
    np.testing.assert_array_equal(m.phase_ids, ref.phase_ids)
    np.testing.assert_allclose(m.quaternions, ref.quaternions, atol=1e-6)
    assert [p.laue for p in m.phases] == ["m-3m", "m-3m"]


# -------------------------------------------------------------------------------- bad files


def test_truncated_ang(ebsd_dir, tmp_path):
    text = (ebsd_dir / "sdss_ferrite_austenite.ang").read_bytes()
    bad = tmp_path / "cut.ang"
    bad.write_bytes(text[: len(text) - 25])  # ends in the middle of a line
    with pytest.raises(GrainsegError, match=r"cut\.ang: .*(malformed|truncated)"):
        read_ebsd(bad)


def test_ang_with_rows_missing(ebsd_dir, tmp_path):
    lines = (ebsd_dir / "sdss_ferrite_austenite.ang").read_text(encoding="utf-8").split("\n")
    first_data = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    del lines[first_data + 200 : first_data + 317]  # one whole row of 117 points
    bad = tmp_path / "missing.ang"
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(GrainsegError, match=r"missing\.ang: header grid .*rows missing"):
        read_ebsd(bad)


def test_ang_coordinates_disagree_with_header(tmp_path):
    lines = _ang_header("SqrGrid", ("# XSTEP: 1.0", "# YSTEP: 1.0", "# NCOLS_ODD: 3",
                                    "# NCOLS_EVEN: 3", "# NROWS: 2"))
    coords = [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (5, 1)]  # last point off the grid
    lines += [_ang_line((0.1, 0.2, 0.3), x, y) for x, y in coords]
    bad = tmp_path / "coords.ang"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(GrainsegError, match="coordinates disagree"):
        read_ebsd(bad)


def test_ang_phase_number_not_in_header(tmp_path):
    lines = _ang_header("SqrGrid", ("# XSTEP: 1.0", "# YSTEP: 1.0", "# NCOLS_ODD: 2",
                                    "# NCOLS_EVEN: 2", "# NROWS: 1"))
    lines += [_ang_line((0.1, 0.2, 0.3), 0, 0), _ang_line((0.1, 0.2, 0.3), 1, 0, phase=3)]
    bad = tmp_path / "phase.ang"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(GrainsegError, match=r"phase table and data disagree: .*\(s\) \[3\]"):
        read_ebsd(bad)
    # a number too large for an integer is named as written, not as a wrapped-around integer
    bad.write_text("\n".join(lines).replace(" 3 1 1.0", " 1e20 1 1.0") + "\n")
    with pytest.raises(GrainsegError, match=r"phase number\(s\) \[1e\+20\] but"):
        read_ebsd(bad)


def test_ctf_phase_table_disagrees_with_data(tmp_path):
    euler = np.zeros((2, 2, 3))
    phase = np.array([[1, 1], [2, 1]])  # phase 2 used, one phase listed
    bad = tmp_path / "phases.ctf"
    _write_ctf(bad, euler, phase, 1.0)
    with pytest.raises(GrainsegError, match=r"phases\.ctf: phase table and data disagree"):
        read_ebsd(bad)


def test_cpr_without_crc(ebsd_dir, tmp_path):
    shutil.copy(ebsd_dir / "ni_superalloy.cpr", tmp_path / "alone.cpr")
    with pytest.raises(GrainsegError, match=r"alone\.crc: file not found"):
        read_ebsd(tmp_path / "alone.cpr")


def test_truncated_crc(ebsd_dir, tmp_path):
    shutil.copy(ebsd_dir / "ni_superalloy.cpr", tmp_path / "cut.cpr")
    (tmp_path / "cut.crc").write_bytes((ebsd_dir / "ni_superalloy.crc").read_bytes()[:-1000])
    with pytest.raises(GrainsegError, match=r"cut\.crc: has \d+ bytes .*truncated"):
        read_ebsd(tmp_path / "cut.cpr")


def test_cpr_header_grid_disagrees_with_crc(ebsd_dir, tmp_path):
    text = (ebsd_dir / "ni_superalloy.cpr").read_text()
    (tmp_path / "grid.cpr").write_text(text.replace("xCells=359", "xCells=360"))
    shutil.copy(ebsd_dir / "ni_superalloy.crc", tmp_path / "grid.crc")
    with pytest.raises(GrainsegError, match="header and data disagree|too long"):
        read_ebsd(tmp_path / "grid.cpr")


def test_wrong_extensions(ebsd_dir, tmp_path):
    # an .ang under a .ctf name, a binary .crc under an .ang name, an unknown extension
    shutil.copy(ebsd_dir / "sdss_ferrite_austenite.ang", tmp_path / "really_ang.ctf")
    with pytest.raises(GrainsegError, match=r"really_ang\.ctf: .*not an Oxford \.ctf"):
        read_ebsd(tmp_path / "really_ang.ctf")
    shutil.copy(ebsd_dir / "ni_superalloy.crc", tmp_path / "binary.ang")
    with pytest.raises(GrainsegError, match=r"binary\.ang: binary data"):
        read_ebsd(tmp_path / "binary.ang")
    shutil.copy(ebsd_dir / "nickel_tiny.ang", tmp_path / "map.xyz")
    with pytest.raises(GrainsegError, match=r"map\.xyz: unsupported EBSD file extension '\.xyz' "
                                            r"\(grainseg reads \.ang, \.osc, \.ctf"):
        read_ebsd(tmp_path / "map.xyz")
    with pytest.raises(GrainsegError, match=r"nothing\.ang: file not found"):
        read_ebsd(tmp_path / "nothing.ang")


@pytest.mark.parametrize("suffix", [".ctf", ".ang"])
def test_round_trip_through_the_synth_writers_and_orix(tmp_path, suffix):
    """Files written by grainseg.io.ebsd.write_ebsd read back exactly, and as orix reads them."""
    from orix import io as orix_io

    from grainseg.io.ebsd.map import EBSDMap, Phase

    rng = np.random.default_rng(6)
    euler = rng.uniform([0, 0, 0], [2 * np.pi, np.pi, 2 * np.pi], (7, 9, 3))
    quats = _euler_to_quat(euler).astype(np.float32)
    phase = rng.integers(-1, 2, (7, 9)).astype(np.int16)
    quats[phase < 0] = (1, 0, 0, 0)
    original = EBSDMap(quats, phase, phase >= 0, 0.5,
                       [Phase("Austenite", "m-3m"), Phase("Ferrite", "m-3m")])
    path = tmp_path / f"map{suffix}"
    write_ebsd(path, original)
    m = read_ebsd(path)
    assert m.shape == (7, 9) and m.step_um == 0.5
    assert [p.name for p in m.phases] == ["Austenite", "Ferrite"]
    np.testing.assert_array_equal(m.phase_ids, phase)
    same = np.abs(np.sum(m.quaternions * quats, axis=-1))[phase >= 0]
    np.testing.assert_allclose(same, 1.0, atol=1e-6)
    xmap = orix_io.load(path)
    ours = m.quaternions.reshape(-1, 4)[m.indexed.ravel()]
    theirs = xmap.rotations.data[xmap.is_indexed]
    np.testing.assert_allclose(np.abs(np.sum(ours * theirs, axis=1)), 1.0, atol=1e-6)


@pytest.mark.parametrize("code, laue", [("43", "m-3m"), ("62", "6/mmm"), ("m3m", "m-3m"),
                                        ("32", "-3m"), ("99", None)])
def test_ang_symmetry_codes(tmp_path, code, laue):
    header = _ang_header("SqrGrid", ("# XSTEP: 1.0", "# YSTEP: 1.0", "# NCOLS_ODD: 2",
                                     "# NCOLS_EVEN: 2", "# NROWS: 1"))
    header = [ln.replace("Symmetry 43", f"Symmetry {code}") for ln in header]
    path = tmp_path / "sym.ang"
    path.write_text("\n".join(header + [_ang_line((0.1, 0.2, 0.3), 0, 0),
                                        _ang_line((0.1, 0.2, 0.3), 1, 0)]) + "\n")
    if laue is None:
        with pytest.raises(GrainsegError, match="unknown crystal symmetry code '99'"):
            read_ebsd(path)
    else:
        assert read_ebsd(path).phases[0].laue == laue


def test_crystal_map_round_trip_keeps_orientations_phases_and_properties():
    """EBSDMap -> orix CrystalMap -> EBSDMap is the identity; orix sees the right symmetry."""
    from grainseg.io.ebsd.map import EBSDMap, Phase

    rng = np.random.default_rng(11)
    euler = rng.uniform([0, 0, 0], [2 * np.pi, np.pi, 2 * np.pi], (6, 8, 3))
    quats = _euler_to_quat(euler).astype(np.float32)
    phase = rng.integers(-1, 2, (6, 8)).astype(np.int16)
    quats[phase < 0] = (1, 0, 0, 0)
    ci = rng.uniform(0, 1, (6, 8)).astype(np.float32)
    original = EBSDMap(quats, phase, phase >= 0, 0.25,
                       [Phase("Nickel", "m-3m"), Phase("Titanium", "6/mmm")], properties={"ci": ci})
    xmap = original.to_crystal_map()
    assert xmap.shape == (6, 8) and xmap.dx == 0.25 and xmap.scan_unit == "um"
    assert [xmap.phases[i].point_group.name for i in (0, 1)] == ["m-3m", "6/mmm"]
    assert (xmap.phase_id.reshape(6, 8) == phase).all()
    back = EBSDMap.from_crystal_map(xmap)
    assert [(p.name, p.laue) for p in back.phases] == [("Nickel", "m-3m"), ("Titanium", "6/mmm")]
    assert (back.phase_ids == phase).all() and (back.indexed == (phase >= 0)).all()
    np.testing.assert_array_equal(back.quaternions, quats)
    np.testing.assert_array_equal(back.properties["ci"], ci)
    assert back.step_um == 0.25


def test_from_crystal_map_refuses_non_square_steps():
    from orix.crystal_map import CrystalMap
    from orix.quaternion import Rotation as OrixRotation

    y, x = np.mgrid[0:3, 0:4].astype(float)
    xmap = CrystalMap(OrixRotation.identity(12), x=x.ravel() * 0.5, y=y.ravel())
    from grainseg.io.ebsd.map import EBSDMap

    with pytest.raises(GrainsegError, match="non-square grid steps"):
        EBSDMap.from_crystal_map(xmap)
