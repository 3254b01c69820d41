"""Oxford .h5oina reader. No small real .h5oina file is public: the fixtures are built with h5py
from the specification (`helpers.h5oina.write_h5oina`)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers.h5oina import COLS, ROWS, STEP_UM, write_h5oina
from orix.quaternion import Rotation

from grainseg.errors import GrainsegError
from grainseg.io.ebsd import read_ebsd
from grainseg.io.ebsd.h5oina import read_electron_image


@pytest.fixture
def two_phase_map():
    rng = np.random.default_rng(4)
    euler = rng.uniform([0, 0, 0], [2 * np.pi, np.pi, 2 * np.pi], (ROWS, COLS, 3))
    phase = rng.integers(0, 3, (ROWS, COLS))
    phase[0, 0] = 1
    return euler, phase


def test_h5oina_map_phases_and_not_indexed(tmp_path, two_phase_map):
    euler, phase = two_phase_map
    m = read_ebsd(write_h5oina(tmp_path / "map.h5oina", euler, phase))
    assert m.shape == (ROWS, COLS) and m.step_um == STEP_UM
    assert [(p.name, p.laue) for p in m.phases] == [("Iron fcc", "m-3m"), ("Titanium", "6/mmm")]
    np.testing.assert_array_equal(m.indexed, phase > 0)
    np.testing.assert_array_equal(m.phase_ids, phase - 1)
    expected = Rotation.from_euler(euler.reshape(-1, 3).astype(np.float32).astype(float)).data
    np.testing.assert_allclose(m.quaternions[m.indexed], expected.reshape(ROWS, COLS, 4)[m.indexed],
                               atol=1e-6)
    assert m.properties["bc"].shape == (ROWS, COLS)


def test_h5oina_laue_group_from_the_number_when_no_symbol(tmp_path, two_phase_map):
    euler, phase = two_phase_map
    path = write_h5oina(tmp_path / "n.h5oina", euler, phase,
                        phases=(("Nickel", 11, None), ("Zinc", 9, None)))
    assert [p.laue for p in read_ebsd(path).phases] == ["m-3m", "6/mmm"]


def test_h5oina_nan_outside_the_acquisition_area_is_not_indexed(tmp_path, two_phase_map):
    euler, phase = two_phase_map
    euler[:, 5:] = np.nan  # an irregular area: the right columns were not scanned
    phase[:, 5:] = 0
    m = read_ebsd(write_h5oina(tmp_path / "irregular.h5oina", euler, phase))
    assert not m.indexed[:, 5:].any() and np.isfinite(m.quaternions).all()
    assert any(f"{ROWS * 3} points outside the acquisition area" in n for n in m.notes)


def test_h5oina_electron_image_and_bounding_box(tmp_path, two_phase_map):
    euler, phase = two_phase_map
    rng = np.random.default_rng(0)
    images = {d: rng.integers(0, 255, (40, 64), dtype=np.uint8) for d in ("SE", "BSE")}
    path = write_h5oina(tmp_path / "site.h5oina", euler, phase, images=images)
    micrograph, box = read_electron_image(path)
    np.testing.assert_array_equal(micrograph.image, images["BSE"])  # BSE before SE
    assert micrograph.pixel_size_um == pytest.approx(0.1)
    assert (box.x0_px, box.y0_px, box.width_px, box.height_px) == (16.0, 5.0, 32.0, 15.0)
    se, _ = read_electron_image(path, detector="SE")
    np.testing.assert_array_equal(se.image, images["SE"])
    with pytest.raises(GrainsegError, match=r"site\.h5oina: no FSE electron image; the file "
                                            r"holds BSE, SE"):
        read_electron_image(path, detector="FSE")
    no_image = write_h5oina(tmp_path / "bare.h5oina", euler, phase)
    with pytest.raises(GrainsegError, match="holds no electron image"):
        read_electron_image(no_image)


def test_h5oina_damaged_files_are_refused(tmp_path, two_phase_map):
    euler, phase = two_phase_map
    path = write_h5oina(tmp_path / "bad.h5oina", euler, phase)
    with h5py.File(path, "r+") as h5:
        h5["1/EBSD/Header/X Cells"][0] = COLS + 1
    with pytest.raises(GrainsegError, match=r"bad\.h5oina: 1/EBSD/Data holds 48 phases .* "
                                            r"\(truncated file\?\)"):
        read_ebsd(path)
    path = write_h5oina(tmp_path / "laue.h5oina", euler, phase,
                        phases=(("A", 42, None), ("B", 9, None)))
    with pytest.raises(GrainsegError, match="Phases/1: no known Laue Group"):
        read_ebsd(path)
    path = write_h5oina(tmp_path / "extra.h5oina", euler, np.where(phase == 2, 3, phase))
    with pytest.raises(GrainsegError, match=r"data use phase number\(s\) \[3\]"):
        read_ebsd(path)
    with pytest.raises(GrainsegError, match="no slice '2' with EBSD data; the file holds 1"):
        read_ebsd(write_h5oina(tmp_path / "ok.h5oina", euler, phase), scan="2")
    (tmp_path / "cut.h5oina").write_bytes(path.read_bytes()[:2000])
    with pytest.raises(GrainsegError, match=r"cut\.h5oina: damaged or unreadable HDF5"):
        read_ebsd(tmp_path / "cut.h5oina")
