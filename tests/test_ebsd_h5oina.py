"""Oxford .h5oina reader. No small real .h5oina file is public: the fixtures are built with h5py
from the specification (`helpers.h5oina.write_h5oina`)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers.h5oina import COLS, MANDATORY, ROWS, STEP_UM, write_h5oina
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


def test_h5oina_fixture_holds_what_the_spec_makes_mandatory(tmp_path, two_phase_map):
    """The fixtures follow H5OINAFile.md: its mandatory datasets, (1, 1) header scalars; the
    reader takes header scalars stored as (1,) too, as some writers do."""
    euler, phase = two_phase_map
    images = {"BSE": np.zeros((40, 64), np.uint8)}
    path = write_h5oina(tmp_path / "spec.h5oina", euler, phase, images=images)
    with h5py.File(path, "r") as h5:
        for group, names in MANDATORY.items():
            for name in names:
                assert f"{group}/{name}".lstrip("/") in h5, (group, name)
        assert h5["1/EBSD/Header/X Cells"].shape == (1, 1)
        assert h5["1/EBSD/Header/Relative Offset"].shape == (1, 2)
        assert h5["1/EBSD/Data/Euler"].shape == (ROWS * COLS, 3)
        assert h5["1/EBSD/Data/Phase"].dtype == np.uint8
    expected = read_ebsd(path)
    with h5py.File(path, "r+") as h5:
        for key in ("X Cells", "Y Cells", "X Step", "Y Step"):
            value = h5[f"1/EBSD/Header/{key}"][()].ravel()
            del h5[f"1/EBSD/Header/{key}"]
            h5[f"1/EBSD/Header/{key}"] = value
    m = read_ebsd(path)
    assert m.shape == expected.shape and m.step_um == expected.step_um
    np.testing.assert_array_equal(m.quaternions, expected.quaternions)


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
    with h5py.File(path, "r+") as h5:
        values = h5["1/EBSD/Data/Phase"][()].astype(np.float64)
        values[0] = 1e20
        del h5["1/EBSD/Data/Phase"]
        h5["1/EBSD/Data/Phase"] = values
    with pytest.raises(GrainsegError, match=r"data use phase number\(s\) \[3, 1e\+20\] but"):
        read_ebsd(path)
    with pytest.raises(GrainsegError, match="no slice '2' with EBSD data; the file holds 1"):
        read_ebsd(write_h5oina(tmp_path / "ok.h5oina", euler, phase), scan="2")
    (tmp_path / "cut.h5oina").write_bytes(path.read_bytes()[:2000])
    with pytest.raises(GrainsegError, match=r"cut\.h5oina: damaged or unreadable HDF5"):
        read_ebsd(tmp_path / "cut.h5oina")


def test_labels_from_h5oina_use_its_electron_image_and_bounding_box(tmp_path):
    """A site built from a synthetic EBSD map: its grains, 3 px per point, drawn into a larger
    BSE image at (48, 40) px, and the map's bounding box saying so. `grainseg labels --ebsd
    X.h5oina` (no --sem) draws the labels on that image where the grains are."""
    import json

    from grainseg.cli import main
    from grainseg.ebsd.grains import reconstruct_grains
    from grainseg.grains.measure import label_edges
    from grainseg.io.tiff import read_mask
    from grainseg.metrics.boundary import tolerance_counts, tolerance_scores
    from grainseg.synth import generate_specimen

    ebsd = generate_specimen(256, 320, 33, grain_size_um=3.0, max_drift_px=0.0).ebsd
    grains = np.kron(reconstruct_grains(ebsd, 10.0), np.ones((3, 3), np.int64))
    rng = np.random.default_rng(5)
    site = rng.uniform(8000, 50000, grains.max() + 1)[grains] + rng.normal(0, 1500, grains.shape)
    canvas = np.full((336, 432), 30000.0)
    y0, x0 = 40, 48
    canvas[y0:y0 + grains.shape[0], x0:x0 + grains.shape[1]] = site
    canvas = np.clip(canvas, 0, 65535).astype(np.uint16)
    height, width = canvas.shape
    euler = Rotation(ebsd.quaternions.reshape(-1, 4).astype(np.float64)).to_euler()
    path = write_h5oina(
        tmp_path / "site.h5oina", euler.reshape(*ebsd.shape, 3),
        np.where(ebsd.indexed, ebsd.phase_ids + 1, 0), phases=(("Iron fcc", 11, "m-3m"),),
        images={"BSE": canvas}, image_step_um=ebsd.step_um / 3, step_um=ebsd.step_um,
        relative_offset=(x0 / width, y0 / height),
        relative_size=(grains.shape[1] / width, grains.shape[0] / height),
    )
    truth = np.zeros(canvas.shape, bool)
    truth[y0:y0 + grains.shape[0], x0:x0 + grains.shape[1]] = label_edges(grains)
    for register in ("none", "auto"):
        out = tmp_path / register
        assert main(["labels", "--ebsd", str(path), "--out", str(out), "--register",
                     register]) == 0
        report = json.loads((out / "registration.json").read_text())
        assert report["sem_shape_px"] == [height, width] and "BSE" in report["sem_source"]
        assert report["score_after"] >= report["score_threshold"]
        label, ignore = read_mask(out / "label.tif") > 0, read_mask(out / "ignore.tif") > 0
        assert ignore[:y0 - 2].all() and not ignore[y0 + 20:y0 + 200, x0 + 20:x0 + 280].any()
        f1 = tolerance_scores(tolerance_counts(label, truth, 2.0, valid=~ignore))["boundary_f1"]
        assert f1 > 0.9, (register, f1)
        assert (out / "sem.tif").is_file()  # the folder is a data set pair


def test_ebsd_grains_reads_h5oina_and_says_so(tmp_path, two_phase_map, capsys):
    from grainseg.cli import main

    euler, phase = two_phase_map
    path = write_h5oina(tmp_path / "m.h5oina", euler, phase)
    assert main(["ebsd-grains", str(path), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "grain_ids.tif").is_file()
    for argv in (["--help"], ["ebsd-grains", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert ".h5oina" in capsys.readouterr().out.split("ebsd-grains", 1)[1], argv
