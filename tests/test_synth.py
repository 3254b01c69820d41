"""Tests of the synthetic specimens (issue 2): truth consistency, files, determinism, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from grainseg.cli import main
from grainseg.errors import GrainsegError
from grainseg.io.tiff import read_mask, read_micrograph
from grainseg.preprocess import data_bar_start_row
from grainseg.synth import generate_specimen, write_specimen
from grainseg.synth.likeness import sem_noise_statistics

CROSS = ndimage.generate_binary_structure(2, 1)


@pytest.fixture(scope="module")
def specimen():
    return generate_specimen(320, 384, seed=7, grain_size_um=4.0, twin_fraction=1.0)


@pytest.fixture(scope="module")
def written(specimen, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    return write_specimen(specimen, out, "s", ebsd_format="ctf"), out


def test_boundaries_exactly_where_grain_ids_change(specimen):
    ids = specimen.grain_ids
    assert ids.dtype == np.uint32 and ids.min() >= 1
    differs = ndimage.maximum_filter(
        ids, footprint=CROSS, mode="nearest"
    ) != ndimage.minimum_filter(ids, footprint=CROSS, mode="nearest")
    np.testing.assert_array_equal(specimen.boundaries == 255, differs)
    assert set(np.unique(specimen.boundaries)) == {0, 255}
    # Every grain ID is one 4-connected region, and IDs run 1..n.
    n = int(ids.max())
    assert len(np.unique(ids)) == n
    _, n_regions = ndimage.label(np.ones_like(ids), structure=CROSS)
    pieces = sum(
        ndimage.label(ids[sl] == k + 1, structure=CROSS)[1]
        for k, sl in enumerate(ndimage.find_objects(ids))
    )
    assert pieces == n


def test_twins_are_sigma3_to_their_parents(specimen):
    from orix.quaternion import Misorientation, Orientation
    from orix.quaternion.symmetry import Oh

    twins = np.flatnonzero(specimen.is_twin)
    assert twins.size >= 5
    parents = []
    for t in twins:
        same = np.flatnonzero((specimen.family == specimen.family[t]) & ~specimen.is_twin)
        parents.append(same[0] if same.size else -1)
    parents = np.array(parents)
    twins, parents = twins[parents > 0], parents[parents > 0]
    assert twins.size >= 5
    o_twin = Orientation(specimen.orientations[twins], symmetry=Oh)
    o_parent = Orientation(specimen.orientations[parents], symmetry=Oh)
    mis = Misorientation(o_twin * ~o_parent, symmetry=(Oh, Oh)).reduce()
    np.testing.assert_allclose(np.rad2deg(mis.angle), 60.0, atol=0.5)
    axis = mis.axis.unit.data
    axis_deg = np.rad2deg(np.arccos(np.clip(np.abs(axis @ (np.ones(3) / np.sqrt(3))), 0, 1)))
    assert axis_deg.max() < 0.5
    # The twin mask is exactly the pixels on either side of a Sigma3 grain pair, found here
    # independently from the orientations with orix.
    ids = specimen.grain_ids
    pairs, expected = [], np.zeros(ids.shape, bool)
    slices = [
        ((slice(1, None), slice(None)), (slice(None, -1), slice(None))),
        ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
    ]
    for a, b in slices:
        diff = ids[a] != ids[b]
        pairs.append(np.stack([ids[a][diff], ids[b][diff]], 1))
    unique = np.unique(np.concatenate(pairs), axis=0)
    o_a = Orientation(specimen.orientations[unique[:, 0]], symmetry=Oh)
    o_b = Orientation(specimen.orientations[unique[:, 1]], symmetry=Oh)
    m = Misorientation(o_a * ~o_b, symmetry=(Oh, Oh)).reduce()
    near_axis = np.abs(m.axis.unit.data @ (np.ones(3) / np.sqrt(3))) > np.cos(np.deg2rad(1))
    sigma3 = unique[(np.abs(np.rad2deg(m.angle) - 60) < 1) & near_axis]
    sigma3_codes = set(map(tuple, sigma3.tolist()))
    for a, b in slices:
        is_s3 = np.array(
            [(x, y) in sigma3_codes for x, y in zip(ids[a].ravel(), ids[b].ravel(), strict=True)]
        ).reshape(ids[a].shape)
        expected[a] |= is_s3
        expected[b] |= is_s3
    assert expected.any()
    np.testing.assert_array_equal(specimen.twins == 255, expected)


def test_twin_lamellae_are_straight_parallel_bands(specimen):
    """Each elongated lamella lies between two parallel lines: its full extent across the band
    equals its local width somewhere along it (a curved or wedge band would be wider overall)."""
    ids = specimen.grain_ids
    checked = 0
    for t in np.flatnonzero(specimen.is_twin):
        rows, cols = np.nonzero(ids == t)
        if rows.size < 200:
            continue
        pts = np.stack([rows, cols], 1).astype(float)
        pts -= pts.mean(0)
        _, sv, vt = np.linalg.svd(pts, full_matrices=False)
        if sv[0] < 3 * sv[1]:
            continue
        across, along = pts @ vt[1], pts @ vt[0]
        local = [
            np.ptp(across[np.abs(along - c) < 2])
            for c in np.linspace(along.min(), along.max(), 15)
            if np.any(np.abs(along - c) < 2)
        ]
        assert np.ptp(across) <= max(local) + 2.5
        checked += 1
    assert checked >= 3


def test_drift_within_bound_and_mapping_exact(specimen):
    bound = specimen.params["max_drift_px"]
    drift = np.hypot(specimen.drift_col_px, specimen.drift_row_px)
    assert drift.max() <= bound + 1e-4
    assert drift.max() >= 0.5 * bound  # it really drifts
    # Grows with scan time: the first EBSD rows see little drift.
    early = specimen.ebsd_row < 2
    assert drift[early].max() < 0.15 * bound
    x_col, x_row = specimen.frame.sem_position(
        specimen.ebsd_col.astype(np.float64), specimen.ebsd_row.astype(np.float64)
    )
    h, w = specimen.grain_ids.shape
    assert np.abs(x_col - np.arange(w)[None, :]).max() < 1e-3
    assert np.abs(x_row - np.arange(h)[:, None]).max() < 1e-3


def test_ebsd_map_sees_the_grains_through_the_truth_mapping(specimen):
    """Far from boundaries, the EBSD point nearest to a SEM pixel's mapped coordinates holds that
    grain's orientation (within noise): the drift truth maps the right way round."""
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    ebsd = specimen.ebsd
    step = specimen.params["ebsd_step_px"]
    inner = ndimage.distance_transform_edt(specimen.boundaries == 0) > 2 * step + 2
    r = np.rint(specimen.ebsd_row[inner]).astype(int)
    c = np.rint(specimen.ebsd_col[inner]).astype(int)
    ok = (r >= 0) & (r < ebsd.shape[0]) & (c >= 0) & (c < ebsd.shape[1])
    r, c, gid = r[ok], c[ok], specimen.grain_ids[inner][ok]
    keep = ebsd.indexed[r, c]
    measured = Orientation(ebsd.quaternions[r, c][keep].astype(np.float64), symmetry=Oh)
    truth = Orientation(specimen.orientations[gid[keep]], symmetry=Oh)
    angle = np.rad2deg(measured.angle_with(truth))
    assert np.mean(angle < 3.0) > 0.97
    assert 0.3 < np.median(angle) < 1.5  # orientation noise 0.3-1 degree


def test_ebsd_unindexed_more_at_boundaries(specimen):
    ebsd = specimen.ebsd
    assert 0.9 < ebsd.indexed.mean() < 0.995
    # EBSD points whose SEM position lies on a boundary fail more often.
    x_col, x_row = specimen.frame.sem_position(*np.mgrid[0 : ebsd.shape[1], 0 : ebsd.shape[0]])
    x_col, x_row = np.rint(x_col.T).astype(int), np.rint(x_row.T).astype(int)
    h, w = specimen.grain_ids.shape
    on = (x_row >= 0) & (x_row < h) & (x_col >= 0) & (x_col < w)
    at_boundary = np.zeros(ebsd.shape, bool)
    at_boundary[on] = specimen.boundaries[x_row[on], x_col[on]] == 255
    fail_b = 1 - ebsd.indexed[at_boundary].mean()
    fail_in = 1 - ebsd.indexed[on & ~at_boundary].mean()
    assert fail_b > 3 * fail_in


@pytest.mark.parametrize("fmt", ["ctf", "ang"])
def test_ebsd_file_loads_in_orix(specimen, tmp_path, fmt):
    from orix import io
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    paths = write_specimen(specimen, tmp_path, "s", ebsd_format=fmt)
    xmap = io.load(paths["ebsd"])
    ebsd = specimen.ebsd
    assert xmap.shape == ebsd.shape
    assert xmap.dx == pytest.approx(ebsd.step_um) and xmap.dy == pytest.approx(ebsd.step_um)
    assert ebsd.step_um == pytest.approx(specimen.params["ebsd_step_px"] * 0.05)
    phase = xmap.phases[1]
    assert phase.point_group.laue.name == "m-3m"
    indexed = xmap.is_indexed.reshape(ebsd.shape)
    np.testing.assert_array_equal(indexed, ebsd.indexed)
    loaded = Orientation(xmap.rotations.data.reshape(*ebsd.shape, 4)[indexed], symmetry=Oh)
    ours = Orientation(ebsd.quaternions[indexed].astype(np.float64), symmetry=Oh)
    assert np.rad2deg(loaded.angle_with(ours)).max() < 0.01


def test_sem_reader_returns_pixel_size(written, specimen):
    paths, _ = written
    mg = read_micrograph(paths["sem"])
    assert mg.image.dtype == np.uint16 and mg.image.shape == specimen.sem.shape
    assert mg.pixel_size_um == pytest.approx(0.05)
    np.testing.assert_array_equal(mg.image, specimen.sem)
    np.testing.assert_array_equal(read_mask(paths["grains"]), specimen.grain_ids)
    np.testing.assert_array_equal(read_mask(paths["twins"]), specimen.twins)
    with np.load(paths["drift"]) as npz:
        np.testing.assert_array_equal(npz["ebsd_col"], specimen.ebsd_col)
        np.testing.assert_array_equal(npz["ebsd_row"], specimen.ebsd_row)


def test_real_sem_reader_returns_pixel_size(shared_data):
    for path in sorted((shared_data / "sem").glob("*.tif")):
        size = read_micrograph(path).pixel_size_um
        assert size is not None and 0.076 < size < 0.092


def test_truth_json_records_parameters_and_orientations(written, specimen):
    import json

    paths, _ = written
    truth = json.loads(paths["truth"].read_text())
    assert truth["params"]["seed"] == 7
    assert truth["n_grains"] == int(specimen.grain_ids.max()) == len(truth["grains"])
    g = truth["grains"][0]
    np.testing.assert_allclose(g["quaternion_wxyz"], specimen.orientations[g["id"]], atol=1e-9)
    assert truth["ebsd_file"] == "s_ebsd.ctf"


def test_same_seed_gives_identical_files(tmp_path):
    outs = []
    for k in range(2):
        spec = generate_specimen(96, 128, seed=3, grain_size_um=2.0)
        outs.append(write_specimen(spec, tmp_path / str(k), "s"))
    for role in outs[0]:
        assert outs[0][role].read_bytes() == outs[1][role].read_bytes(), role
    other = generate_specimen(96, 128, seed=4, grain_size_um=2.0)
    assert not np.array_equal(other.sem, read_micrograph(outs[0]["sem"]).image)


def test_default_look_matches_real_image_statistics():
    """DESIGN.md: noise sigma 0.09-0.11, lag-1 corr 0.43 along x and -0.12 along y, scan-line
    sigma ~0.01, a data bar ~7 % of the height that the project's bar detector finds."""
    spec = generate_specimen(480, 512, seed=11, pixel_size_um=0.08, grain_size_um=20)
    stats = sem_noise_statistics(spec.sem)
    assert 0.085 <= stats["noise_sigma"] <= 0.115
    assert 0.38 <= stats["lag1_corr_x"] <= 0.48
    assert -0.16 <= stats["lag1_corr_y"] <= -0.08
    assert 0.006 <= stats["scanline_sigma"] <= 0.018
    assert spec.data_bar_rows == round(0.073 * 480)
    assert data_bar_start_row(spec.sem) == 480 - spec.data_bar_rows


def test_grain_sizes_lognormal_with_requested_mean():
    spec = generate_specimen(768, 768, seed=5, grain_size_um=2.0, twin_fraction=0.0)
    ids = spec.grain_ids
    border = np.unique(np.concatenate([ids[0], ids[-1], ids[:, 0], ids[:, -1]]))
    area = np.bincount(ids.ravel())[1:]
    inner = ~np.isin(np.arange(1, ids.max() + 1), border)
    ecd_um = np.sqrt(4 * area[inner] / np.pi) * 0.05
    assert inner.sum() > 80
    assert 0.75 * 2.0 < ecd_um.mean() < 1.25 * 2.0
    # Log-normal: right-skewed sizes, log sizes about symmetric with the requested spread 0.4.
    from scipy import stats

    assert stats.skew(ecd_um) > 0.3
    assert abs(stats.skew(np.log(ecd_um[ecd_um > 0.25 * ecd_um.mean()]))) < 0.6
    assert 0.3 < np.std(np.log(ecd_um)) < 0.6


def test_random_appearance_varies_and_stays_consistent():
    looks = [generate_specimen(128, 160, seed=s, appearance="random") for s in range(4)]
    styles = {round(s.style.noise_sigma, 4) for s in looks}
    assert len(styles) == 4
    for s in looks:
        assert s.sem.dtype == np.uint16 and s.sem.shape == (128, 160)
        assert np.ptp(s.sem) > 0
        assert np.hypot(s.drift_col_px, s.drift_row_px).max() <= 40 + 1e-4


@pytest.mark.parametrize(
    "kwargs",
    [
        {"height": 0, "width": 5},
        {"max_drift_px": -1.0},
        {"twin_fraction": 1.5},
        {"ebsd_step_px": 0.5},
        {"pixel_size_um": 0.0},
        {"appearance": "pretty"},
        {"height": 20000},
        {"grain_size_um": 0.2},
    ],
)
def test_bad_arguments_raise_grainseg_error(kwargs):
    args = {"height": 64, "width": 64, "seed": 0, "max_drift_px": 10.0} | kwargs
    with pytest.raises(GrainsegError):
        generate_specimen(**args)


def test_cli_writes_specimens(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "synth",
            str(out),
            "--n",
            "2",
            "--size",
            "96x64",
            "--seed",
            "1",
            "--grain-size-um",
            "1.5",
            "--max-drift-px",
            "8",
            "--ebsd-format",
            "ang",
        ]
    )
    assert rc == 0
    names = sorted(p.name for p in out.iterdir() if p.name != "manifest.json")
    assert (out / "manifest.json").is_file()
    assert names == sorted(
        f"specimen_00{k}_{suffix}"
        for k in range(2)
        for suffix in (
            "sem.tif",
            "ebsd.ang",
            "truth_grains.tif",
            "truth_boundaries.tif",
            "truth_twins.tif",
            "truth_drift.npz",
            "truth.json",
        )
    )
    assert read_micrograph(out / "specimen_001_sem.tif").image.shape == (64, 96)


@pytest.mark.parametrize(
    "extra",
    [["--size", "0x5"], ["--max-drift-px", "-3"], ["--size", "big"], ["--n", "0"]],
)
def test_cli_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys, extra):
    out = tmp_path / "out"
    try:
        rc = main(["synth", str(out), "--size", "64x64", "--max-drift-px", "5", *extra])
    except SystemExit as exc:  # argparse rejects a malformed --size itself
        rc = exc.code
    assert rc == 2
    assert not out.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and "Traceback" not in "\n".join(err)


def test_cli_unwritable_out_dir_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = main(["synth", str(blocker / "out"), "--size", "64x64", "--max-drift-px", "5"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot create output folder" in err[0]
    assert blocker.read_text() == "x"


def test_format_table_matches_printf():
    from grainseg.io.ebsd.common import format_table

    rng = np.random.default_rng(0)
    a = rng.uniform(-400, 400, 2000)
    b = rng.integers(-5, 300, 2000)
    c = np.concatenate([[0.0, -0.0, 1e-9, -1.0, 9.99995e-3, 12345.6], rng.uniform(0, 1, 1994)])
    text = format_table([(a, 4), (b, 0), (c, 3)], "\t").decode()
    lines = text.splitlines()
    assert len(lines) == 2000 and text.endswith("\n")
    parsed = np.array([[float(v) for v in line.split("\t")] for line in lines])
    np.testing.assert_allclose(parsed[:, 0], a, atol=0.5e-4 + 1e-9)
    np.testing.assert_array_equal(parsed[:, 1], b)
    np.testing.assert_allclose(parsed[:, 2], c, atol=0.5e-3 + 1e-9)
    # Away from exact ties the text is what printf writes.
    expected = [f"{x:.4f}\t{y:d}\t{z:.3f}" for x, y, z in zip(a, b, c, strict=True)]
    same = sum(e == line for e, line in zip(expected, lines, strict=True))
    assert same >= 1995


def test_every_boundary_separates_different_orientations(specimen):
    """No boundary between two pieces of one crystal (e.g. two overlapping twin lamellae)."""
    from orix.quaternion import Orientation
    from orix.quaternion.symmetry import Oh

    ids = specimen.grain_ids
    pairs = np.concatenate(
        [
            np.stack([ids[1:][ids[1:] != ids[:-1]], ids[:-1][ids[1:] != ids[:-1]]], 1),
            np.stack(
                [ids[:, 1:][ids[:, 1:] != ids[:, :-1]], ids[:, :-1][ids[:, 1:] != ids[:, :-1]]], 1
            ),
        ]
    )
    unique = np.unique(np.sort(pairs, axis=1), axis=0)
    a = Orientation(specimen.orientations[unique[:, 0]], symmetry=Oh)
    b = Orientation(specimen.orientations[unique[:, 1]], symmetry=Oh)
    assert len(unique) > 20
    assert np.rad2deg(a.angle_with(b)).min() > 2.0


def _junction_angles(labels: np.ndarray, r_in: int = 5, r_out: int = 11) -> np.ndarray:
    """Angles (deg) of the grains at each triple junction, from the share of a ring around the
    junction that each of its three grains covers (exact for straight boundaries)."""
    a, b, c, d = labels[:-1, :-1], labels[1:, :-1], labels[:-1, 1:], labels[1:, 1:]
    n_distinct = 1 + (b != a) + ((c != a) & (c != b)) + ((d != a) & (d != b) & (d != c))
    junction = n_distinct >= 3
    lab, n = ndimage.label(junction, structure=np.ones((3, 3)))
    centres = np.array(ndimage.center_of_mass(junction, lab, np.arange(1, n + 1))) + 0.5
    yy, xx = np.mgrid[-r_out : r_out + 1, -r_out : r_out + 1]
    ring = (np.hypot(yy, xx) >= r_in) & (np.hypot(yy, xx) <= r_out)
    h, w = labels.shape
    angles = []
    for cy, cx in np.rint(centres).astype(int):
        if min(cy, cx) < r_out or cy + r_out >= h or cx + r_out >= w:
            continue
        patch = labels[cy - r_out : cy + r_out + 1, cx - r_out : cx + r_out + 1][ring]
        _, counts = np.unique(patch, return_counts=True)
        if len(counts) == 3:
            angles.extend(360.0 * counts / counts.sum())
    return np.array(angles)


def test_triple_junctions_near_120_degrees_unlike_voronoi():
    from scipy.spatial import cKDTree

    from grainseg.synth.microstructure import grain_field, relabel_connected

    shape, diameter = (768, 768), 70
    ids, _ = relabel_connected(grain_field(shape, diameter, np.random.default_rng(3)))
    ours = _junction_angles(ids)
    n_seeds = int(np.prod(shape) / (np.pi / 4 * diameter**2))
    seeds = np.random.default_rng(3).uniform(0, shape[0], (n_seeds, 2))
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    voronoi = cKDTree(seeds).query(np.column_stack([rows.ravel(), cols.ravel()]))[1]
    plain = _junction_angles(voronoi.reshape(shape))
    assert len(ours) > 300 and len(plain) > 300
    deviation = np.mean(np.abs(ours - 120))
    assert deviation < 19.0
    assert deviation < 0.8 * np.mean(np.abs(plain - 120))


def test_grey_level_is_a_function_of_orientation_under_cubic_symmetry():
    from orix.quaternion import Rotation
    from orix.quaternion.symmetry import Oh

    from grainseg.synth.sem_contrast import SemStyle, grain_grey_levels
    from grainseg.synth.twins import random_orientations, twin_orientations

    q = random_orientations(200, np.random.default_rng(1))
    ops = Oh[np.random.default_rng(2).integers(0, Oh.size, 200)]
    equivalent = (Rotation(ops.data) * Rotation(q)).data
    style = SemStyle()
    grey = grain_grey_levels(q, style, np.random.default_rng(5))
    grey_eq = grain_grey_levels(equivalent, style, np.random.default_rng(5))
    np.testing.assert_allclose(grey, grey_eq, atol=1e-5)
    assert grey.std() == pytest.approx(style.grain_contrast, rel=1e-3)
    # Twins mostly look different from their parents.
    both = np.concatenate([q, twin_orientations(q, np.zeros(200, int))])
    levels = grain_grey_levels(both, style, np.random.default_rng(5))
    assert np.median(np.abs(levels[:200] - levels[200:])) > 0.2 * style.grain_contrast


@pytest.mark.parametrize("seed", range(6))
def test_small_fields_with_large_drift_stay_invertible(seed):
    """Whatever the field size, the EBSD scan never drifts faster than it scans, so the SEM ->
    EBSD truth mapping exists and inverts the scan geometry exactly."""
    spec = generate_specimen(40, 96, seed, max_drift_px=20, ebsd_step_px=1 + seed, grain_size_um=1)
    assert np.hypot(spec.drift_col_px, spec.drift_row_px).max() <= 20 + 1e-4
    x_col, x_row = spec.frame.sem_position(
        spec.ebsd_col.astype(np.float64), spec.ebsd_row.astype(np.float64)
    )
    assert np.abs(x_col - np.arange(96)[None, :]).max() < 1e-3
    assert np.abs(x_row - np.arange(40)[:, None]).max() < 1e-3


def _neighbour_pairs(ids):
    a = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    b = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    step = a != b
    return np.unique(np.sort(np.stack([a[step], b[step]], axis=1), axis=1), axis=0)


def test_hard_look_makes_neighbour_steps_below_the_pixel_noise_common():
    def faint_share(appearance):  # share of neighbour pairs whose step is below the noise
        shares = []
        for seed in range(3):
            s = generate_specimen(256, 256, seed=900 + seed, grain_size_um=3.0,
                                  appearance=appearance, max_drift_px=5.0)
            bar = s.data_bar_rows or None
            ids = s.grain_ids[: -bar if bar else None]
            sem = s.sem[: -bar if bar else None].astype(np.float64)
            interior = ndimage.binary_erosion(~(s.boundaries[: len(ids)] > 0), iterations=2)
            counts = np.bincount(ids[interior], minlength=ids.max() + 1)
            means = np.bincount(ids[interior], sem[interior], minlength=ids.max() + 1)
            means = means / np.maximum(counts, 1)
            noise = sem_noise_statistics(sem)["noise_sigma"] * np.subtract(
                *np.percentile(sem, [99, 1]))
            pairs = _neighbour_pairs(ids)
            pairs = pairs[(counts[pairs] >= 20).all(axis=1)]
            shares.append(np.mean(np.abs(means[pairs[:, 0]] - means[pairs[:, 1]]) < noise))
        return float(np.mean(shares))

    assert faint_share("hard") >= 0.2


def test_blend_neighbour_levels_puts_each_chosen_grain_next_to_a_neighbours_level():
    from grainseg.synth.sem_contrast import SemStyle, blend_neighbour_levels

    rng = np.random.default_rng(0)
    ids = np.repeat(np.repeat(np.arange(1, 17).reshape(4, 4), 8, 0), 8, 1).astype(np.uint32)
    grey = np.concatenate([[0.0], rng.uniform(0.0, 1.0, 16)]).astype(np.float32)
    style = SemStyle(similar_share=1.0, similar_step=0.5, noise_sigma=0.1)
    out = blend_neighbour_levels(ids, grey, style, np.random.default_rng(1))
    pairs = _neighbour_pairs(ids)
    value_range = np.percentile(grey[1:], 99) - np.percentile(grey[1:], 1)
    limit = 0.5 * 0.1 * value_range + 1e-6
    for g in range(1, 17):
        nbs = np.concatenate([pairs[pairs[:, 0] == g, 1], pairs[pairs[:, 1] == g, 0]])
        assert np.min(np.abs(out[g] - grey[nbs])) <= limit
    assert out[0] == grey[0]
    assert not np.shares_memory(out, grey)


def test_waviness_lengthens_the_boundaries():
    from grainseg.synth.microstructure import boundary_mask, grain_field

    smooth = grain_field((256, 256), 40.0, np.random.default_rng(3), waviness=0.0)
    wavy = grain_field((256, 256), 40.0, np.random.default_rng(3), waviness=0.1)
    assert boundary_mask(wavy).sum() > 1.1 * boundary_mask(smooth).sum()


def test_hard_look_draws_rings_and_large_rimmed_pits():
    s = generate_specimen(256, 256, seed=5, grain_size_um=3.0, appearance="hard")
    assert s.style.rings_per_mpx >= 10 and s.style.pit_radius_px >= 3
    assert s.params["waviness"] > 0 and s.params["appearance"] == "hard"
    assert s.style.similar_share >= 0.2
