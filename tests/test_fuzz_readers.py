"""Fuzz the file readers: mutated .ang, .ctf, .cpr/.crc, .osc, EDAX .h5, Bruker .h5, .h5oina
(its EBSD map and its electron image), TIFF, PNG, JPEG and BMP files may only raise
GrainsegError.

Seeds are small valid files (written here with the synth writers, the real .cpr/.crc, .osc and
OIM .h5 crops of tests/data/ebsd, a spec-built .h5oina, and a TIFF carrying the real FEI
metadata block of tests/data/sem), so the fuzzing runs on a clean clone. Mutations: truncation, byte flips, number tokens replaced by odd values,
dropped and duplicated lines; for HDF5 also datasets removed, shortened or filled with odd
values. Whatever the reader returns
must be a sane map / image. ``GRAINSEG_FUZZ_EXAMPLES`` sets the examples per reader (default 150;
``benchmarks/fuzz_readers.py`` runs thousands).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from helpers.bruker import write_bruker_h5
from helpers.h5oina import COLS, ROWS, write_h5oina
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grainseg.errors import GrainsegError
from grainseg.io.ebsd import read_ebsd, write_ebsd
from grainseg.io.ebsd.h5oina import read_electron_image
from grainseg.io.ebsd.map import EBSDMap, Phase
from grainseg.io.tiff import read_micrograph

DATA = Path(__file__).parent / "data" / "ebsd"
N_EXAMPLES = int(os.environ.get("GRAINSEG_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=N_EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("GRAINSEG_FUZZ_RANDOM") is None,  # seeded in `make test`
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
ODD_NUMBERS = ["-1", "0", "1", "2", "3", "12", "1e309", "nan", "inf", "-inf", "abc", "", "99999999999", "3.5", "-0",
               "1e-300", "4294967297", "0x10", "7 7"]
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


# ------------------------------------------------------------------------------------ seeds


def _small_map() -> EBSDMap:
    """A 5 x 6 two-phase map with a few not-indexed points."""
    rng = np.random.default_rng(3)
    quats = rng.normal(size=(5, 6, 4)).astype(np.float32)
    quats /= np.linalg.norm(quats, axis=-1, keepdims=True)
    quats[..., 0] = np.abs(quats[..., 0])
    phase_ids = (rng.random((5, 6)) < 0.3).astype(np.int16)
    phase_ids[0, :2] = -1
    return EBSDMap(quats, phase_ids, phase_ids >= 0, 0.5,
                   [Phase("Austenite", "m-3m"), Phase("Ferrite", "m-3m")])


def _hex_ang() -> bytes:
    """A 5-row hexagonal-grid .ang (rows of 6 and 5 points, step 0.5 um)."""
    header = ["# Phase 1", "# MaterialName Nickel", "# Symmetry 43", "# GRID: HexGrid",
              "# XSTEP: 0.5", "# YSTEP: 0.433013", "# NCOLS_ODD: 6", "# NCOLS_EVEN: 5",
              "# NROWS: 5", "#"]
    rng = np.random.default_rng(5)
    rows = []
    for i in range(5):
        for j in range(6 - i % 2):
            e = rng.uniform(0, 3, 3)
            rows.append(f"{e[0]:.5f} {e[1]:.5f} {e[2]:.5f} {0.5 * j + 0.25 * (i % 2):.5f} "
                        f"{0.433013 * i:.5f} 100.0 0.9 1 1 1.0")
    return ("\n".join(header + rows) + "\n").encode()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes | tuple[bytes, bytes]]:
    """Seed file contents by kind."""
    folder = tmp_path_factory.mktemp("seeds")
    ebsd = _small_map()
    write_ebsd(folder / "s.ang", ebsd)
    write_ebsd(folder / "s.ctf", ebsd)
    out: dict = {
        "ang": (folder / "s.ang").read_bytes(),
        "hex.ang": _hex_ang(),
        "ctf": (folder / "s.ctf").read_bytes(),
    }
    out["cpr"] = ((DATA / "ni_superalloy_crop.cpr").read_bytes(),
                  (DATA / "ni_superalloy_crop.crc").read_bytes())
    with tifffile.TiffFile(DATA.parent / "sem" / "austenitic_steel_bse_002_crop.tif") as tif:
        tag = tif.pages[0].tags[34682]  # the raw FEI text block (tifffile parses .value)
        tif.filehandle.seek(tag.valueoffset)
        fei = tif.filehandle.read(tag.count)
    image = np.random.default_rng(0).integers(0, 65535, (12, 10), dtype=np.uint16)
    tifffile.imwrite(folder / "fei.tif", image, extratags=[(34682, "s", 0, fei, True)])
    tifffile.imwrite(folder / "rgb.tif", np.zeros((8, 9, 3), np.uint8), photometric="rgb")
    tifffile.imwrite(folder / "f.tif", np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8),
                     compression="zlib")
    out["tif"] = [(folder / n).read_bytes() for n in ("fei.tif", "rgb.tif", "f.tif")]
    from PIL import Image

    grey16 = np.random.default_rng(1).integers(0, 65535, (9, 11), dtype=np.uint16)
    for kind, arrays in (("png", [image[:9, :10].astype(np.uint8), grey16]),
                         ("jpg", [image[:9, :10].astype(np.uint8)]),
                         ("bmp", [image[:9, :10].astype(np.uint8)])):
        out[kind] = []
        for k, array in enumerate(arrays):
            Image.fromarray(array).save(folder / f"r{k}.{kind}")
            out[kind].append((folder / f"r{k}.{kind}").read_bytes())
    out["osc"] = (DATA / "copper_hex_crop.osc").read_bytes()
    out["oim.h5"] = (DATA / "edax_ni_oim_crop.h5").read_bytes()
    rng = np.random.default_rng(8)
    euler = rng.uniform(0, 3, (ROWS, COLS, 3))
    euler[0, -2:] = np.nan  # outside the acquisition area
    phase = rng.integers(0, 3, (ROWS, COLS))
    phase[1, 1] = 1
    bse = rng.integers(0, 65535, (12, 16), dtype=np.uint16)
    out["h5oina"] = write_h5oina(folder / "s.h5oina", euler, phase,
                                 images={"BSE": bse, "SE": bse // 2}).read_bytes()
    bruker = write_bruker_h5(folder / "b.h5", rng.uniform(0, 180, (4, 5, 3)),
                             (rng.random((4, 5)) < 0.8).astype(int))
    out["bruker.h5"] = bruker.read_bytes()
    return out


# -------------------------------------------------------------------------------- mutations


@st.composite
def mutate_text(draw, seed: bytes) -> bytes:
    """Text mutations: replace number tokens, drop / duplicate lines, truncate, flip bytes."""
    data = seed
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["number", "drop", "dup", "truncate", "flip"]))
        if op == "number":
            spans = [m.span() for m in NUMBER.finditer(data)]
            if not spans:
                continue
            start, end = spans[draw(st.integers(0, len(spans) - 1))]
            data = data[:start] + draw(st.sampled_from(ODD_NUMBERS)).encode() + data[end:]
        elif op in ("drop", "dup"):
            lines = data.split(b"\n")
            k = draw(st.integers(0, len(lines) - 1))
            lines[k:k + 1] = [] if op == "drop" else [lines[k], lines[k]]
            data = b"\n".join(lines)
        else:
            data = mutate_bytes_once(draw, data, op)
    return data


def mutate_bytes_once(draw, data: bytes, op: str) -> bytes:
    if not data:
        return data
    if op == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        k = draw(st.integers(0, len(buf) - 1))
        buf[k] = draw(st.integers(0, 255))
    return bytes(buf)


@st.composite
def mutate_binary(draw, seed: bytes) -> bytes:
    data = seed
    for _ in range(draw(st.integers(1, 2))):
        data = mutate_bytes_once(draw, data, draw(st.sampled_from(["truncate", "flip"])))
    return data


# ------------------------------------------------------------------------------------ checks


def _check_ebsd(path: Path) -> None:
    try:
        m = read_ebsd(path)
    except GrainsegError as exc:
        assert str(exc).startswith(str(path.with_suffix(""))), exc  # names the file
        return
    rows, cols = m.shape
    assert rows >= 1 and cols >= 1
    assert m.quaternions.shape == (rows, cols, 4) and np.isfinite(m.quaternions).all()
    assert np.isfinite(m.step_um) and m.step_um > 0
    assert m.indexed.any() and ((m.phase_ids >= 0) == m.indexed).all()
    assert m.phase_ids.max() < len(m.phases)


@pytest.mark.parametrize("kind", ["ang", "hex.ang", "ctf"])
def test_fuzz_text_ebsd(seeds, tmp_path_factory, kind):
    folder = tmp_path_factory.mktemp(f"fuzz_{kind.replace('.', '_')}")
    path = folder / f"m.{kind.split('.')[-1]}"
    assert read_ebsd(_write(path, seeds[kind])).indexed.any()  # the seed itself reads

    @FUZZ
    @given(data=st.data())
    def run(data):
        _check_ebsd(_write(path, data.draw(mutate_text(seeds[kind]))))

    run()


def test_fuzz_cpr_crc(seeds, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_cpr")
    cpr, crc = seeds["cpr"]
    _write(folder / "m.crc", crc)
    assert read_ebsd(_write(folder / "m.cpr", cpr)).shape == (4, 6)

    @FUZZ
    @given(data=st.data())
    def run(data):
        which = data.draw(st.sampled_from(["cpr", "crc", "both"]))
        _write(folder / "m.cpr", data.draw(mutate_text(cpr)) if which != "crc" else cpr)
        _write(folder / "m.crc", data.draw(mutate_binary(crc)) if which != "cpr" else crc)
        _check_ebsd(folder / data.draw(st.sampled_from(["m.cpr", "m.crc"])))

    run()


def test_fuzz_osc(seeds, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz_osc") / "m.osc"
    assert read_ebsd(_write(path, seeds["osc"])).indexed.any()

    @FUZZ
    @given(data=st.data())
    def run(data):
        _check_ebsd(_write(path, data.draw(mutate_binary(seeds["osc"]))))

    run()


ODD_VALUES = [np.nan, np.inf, -1.0, 0.0, 1e30, -1111111.0, 7.0, 4 * np.pi]


def _mutate_hdf5(h5, draw) -> None:
    """One structural change to an open HDF5 file: a dataset removed, shortened, or given odd
    values, or a scan group renamed."""
    names: list[str] = []
    h5.visititems(lambda name, item: names.append(name) if hasattr(item, "shape") else None)
    name = names[draw(st.integers(0, len(names) - 1))]
    op = draw(st.sampled_from(["delete", "shorten", "odd", "odd", "rename"]))
    top = [key for key in h5 if hasattr(h5[key], "keys")]
    if op == "rename" and top:
        h5.move(top[0], draw(st.sampled_from(["Scan 1", "x", "2"])))
        return
    if name not in h5:  # its scan was renamed
        return
    values = np.asarray(h5[name][()])
    del h5[name]
    if op == "delete" or (op == "shorten" and values.ndim == 0):
        return
    if op == "shorten":
        h5[name] = values[: draw(st.integers(0, max(len(values) - 1, 0)))]
        return
    if values.dtype.kind in "iuf" and values.size:
        values = values.astype(np.float64)
        values.flat[draw(st.integers(0, values.size - 1))] = draw(st.sampled_from(ODD_VALUES))
    elif values.dtype.kind == "S":
        values = np.array([draw(st.sampled_from([b"", b"HexGrid", b"x", b"\xff"]))])
    h5[name] = values


def _check_electron_image(path: Path) -> None:
    """`labels` without --sem: the .h5oina's electron image and the map's bounding box."""
    try:
        micrograph, box = read_electron_image(path)
    except GrainsegError as exc:
        assert str(exc).startswith(str(path)), exc
        return
    assert micrograph.image.ndim == 2 and micrograph.image.size > 0
    assert micrograph.pixel_size_um is None or (np.isfinite(micrograph.pixel_size_um)
                                                and micrograph.pixel_size_um > 0)
    if box is not None:
        assert np.isfinite([box.x0_px, box.y0_px, box.width_px, box.height_px]).all()
        assert box.width_px > 0 and box.height_px > 0


@pytest.mark.parametrize("kind", ["oim.h5", "h5oina", "bruker.h5"])
def test_fuzz_hdf5_ebsd(seeds, tmp_path_factory, kind):
    import h5py

    path = tmp_path_factory.mktemp(f"fuzz_{kind.replace('.', '_')}") / f"m.{kind.split('.')[-1]}"
    assert read_ebsd(_write(path, seeds[kind])).indexed.any()
    if kind == "h5oina":
        assert read_electron_image(path)[1] is not None  # the seed has an image and a box

    @FUZZ
    @given(data=st.data())
    def run(data):
        _write(path, seeds[kind])
        if data.draw(st.booleans()):
            with h5py.File(path, "r+") as h5:
                for _ in range(data.draw(st.integers(1, 3))):
                    _mutate_hdf5(h5, data.draw)
        else:
            _write(path, data.draw(mutate_binary(seeds[kind])))
        _check_ebsd(path)
        if kind == "h5oina":
            _check_electron_image(path)

    run()


@pytest.mark.parametrize("kind", ["tif", "png", "jpg", "bmp"])
def test_fuzz_micrograph(seeds, tmp_path_factory, kind):
    path = tmp_path_factory.mktemp(f"fuzz_{kind}") / f"m.{kind}"
    assert read_micrograph(_write(path, seeds[kind][0])).image.size

    @FUZZ
    @given(data=st.data())
    def run(data):
        seed = seeds[kind][data.draw(st.integers(0, len(seeds[kind]) - 1))]
        _write(path, data.draw(mutate_binary(seed)))
        try:
            m = read_micrograph(path)
        except GrainsegError as exc:
            assert str(exc).startswith(str(path)), exc
            return
        assert m.image.ndim == 2 and m.image.size > 0
        assert m.pixel_size_um is None or (np.isfinite(m.pixel_size_um) and m.pixel_size_um > 0)

    run()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
