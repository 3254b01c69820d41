"""Data sets: pairs, patches, split, memmaps, flips, sampler and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_data_helpers import make_pair, make_pairs

from grainseg.cli import main
from grainseg.data import EpochSampler, PatchDataset, build_dataset, open_dataset, resolve_pair
from grainseg.data.dataset import N_FLIPS
from grainseg.errors import GrainsegError
from grainseg.io.tiff import write_tiff
from grainseg.preprocess import preprocess_sem


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp("pairs"), n=4, shape=(100, 130))


def test_build_by_image_keeps_images_on_one_side(pairs, tmp_path):
    info = build_dataset([resolve_pair(p) for p in pairs], tmp_path / "ds", patch=32,
                         val_frac=0.25, seed=3)
    data = open_dataset(tmp_path / "ds")
    # 100 x 130 px -> 3 x 4 non-overlapping 32 px patches per image
    assert info["n_patches"] == 4 * 12 == data.images.shape[0]
    assert data.images.dtype == np.float16 and data.labels.dtype == np.uint8
    assert isinstance(data.images, np.memmap)
    sources_val = np.unique(data.patches[data.split == 1, 0])
    sources_train = np.unique(data.patches[data.split == 0, 0])
    assert len(sources_val) == 1 and not set(sources_val) & set(sources_train)
    assert info["counts"] == {"train": 36, "val": 12}
    assert [s["split"] for s in info["sources"]].count("val") == 1
    assert len(info["arrays"]["images"]) == 64  # sha256 hex


def test_patches_match_preprocessed_image(pairs, tmp_path):
    pair = resolve_pair(pairs[1])
    build_dataset([pair, resolve_pair(pairs[0])], tmp_path / "ds", patch=32, val_frac=0.5)
    data = open_dataset(tmp_path / "ds")
    from grainseg.io.tiff import read_mask, read_micrograph

    k = int(np.flatnonzero((data.patches[:, 0] == 0) & (data.patches[:, 1] == 32)
                           & (data.patches[:, 2] == 64))[0])
    image = preprocess_sem(read_micrograph(pair.sem_path).image, 3)
    label = read_mask(pair.label_path) > 0
    np.testing.assert_allclose(data.images[k], image[32:64, 64:96], atol=2e-3)
    np.testing.assert_array_equal(data.labels[k], label[32:64, 64:96])
    assert data.valid[k].all()


def test_patch_split_is_seeded_and_sized(pairs, tmp_path):
    specs = [resolve_pair(p) for p in pairs]
    a = build_dataset(specs, tmp_path / "a", patch=32, split="patch", val_frac=0.1, seed=1)
    b = build_dataset(specs, tmp_path / "b", patch=32, split="patch", val_frac=0.1, seed=1)
    assert a["counts"]["val"] == round(0.1 * 48)
    assert a["arrays"]["split"] == b["arrays"]["split"]


def test_ignore_mask_and_explicit_pairs(tmp_path):
    prefix, boundary = make_pair(tmp_path, "x", shape=(64, 64), seed=5)
    ignore = np.zeros((64, 64), np.uint8)
    ignore[:32, :32] = 255  # one whole patch ignored: dropped
    ignore[40, 40] = 255
    write_tiff(tmp_path / "ignore.tif", ignore)
    spec = f"{prefix}_sem.tif:{prefix}_truth_boundaries.tif:{tmp_path / 'ignore.tif'}"
    info = build_dataset([resolve_pair(spec)], tmp_path / "ds", patch=32, val_frac=0)
    data = open_dataset(tmp_path / "ds")
    assert info["n_patches"] == 3
    assert data.valid.sum() == 3 * 32 * 32 - 1
    with pytest.raises(GrainsegError, match="'val' split .* empty"):
        data.indices("val")


def test_labels_folder_pair_reads_registration(tmp_path):
    prefix, _ = make_pair(tmp_path, "y", shape=(64, 64))
    folder = tmp_path / "labels_out"
    folder.mkdir()
    (folder / "label.tif").write_bytes((tmp_path / "y_truth_boundaries.tif").read_bytes())
    (folder / "registration.json").write_text(json.dumps({"sem_path": "../y_sem.tif"}))
    pair = resolve_pair(str(folder))
    assert pair.sem_path.resolve() == (tmp_path / "y_sem.tif").resolve()
    assert pair.ignore_path is None


def test_data_bar_is_cropped(tmp_path):
    prefix, _ = make_pair(tmp_path, "z", shape=(100, 64))
    from grainseg.io.tiff import read_micrograph

    sem = read_micrograph(f"{prefix}_sem.tif").image.copy()
    sem[70:] = 0  # a 30-row flat data bar
    sem[70:, 5:20] = 255
    write_tiff(f"{prefix}_sem.tif", sem)
    info = build_dataset([resolve_pair(prefix)], tmp_path / "ds", patch=32, val_frac=0)
    assert info["sources"][0]["data_bar_start_row"] == 70
    assert info["n_patches"] == 2 * 2  # rows 0..63 only


def test_dataset_items_flip_consistently(pairs, tmp_path):
    build_dataset([resolve_pair(p) for p in pairs], tmp_path / "ds", patch=32, val_frac=0.25)
    dataset = PatchDataset(tmp_path / "ds", "train")
    image0, label0, valid0 = dataset[2 * N_FLIPS]
    image3, label3, valid3 = dataset[2 * N_FLIPS + 3]
    assert image0.shape == (1, 32, 32) and valid0.dtype.is_floating_point is False
    np.testing.assert_array_equal(image3.numpy(), image0.numpy()[:, ::-1, ::-1])
    np.testing.assert_array_equal(label3.numpy(), label0.numpy()[:, ::-1, ::-1])


def test_sampler_depends_on_seed_and_epoch_and_shards():
    sampler = EpochSampler(10, seed=4)
    first = list(sampler)
    assert list(sampler) == first
    assert sorted(k // N_FLIPS for k in first) == list(range(10))
    sampler.set_epoch(1)
    assert list(sampler) != first
    shards = [list(EpochSampler(10, seed=4, rank=r, world_size=3)) for r in range(3)]
    assert all(len(s) == 4 for s in shards)
    assert {k // N_FLIPS for s in shards for k in s} == set(range(10))
    assert list(EpochSampler(5, shuffle=False, flips=False)) == [0, 4, 8, 12, 16]


def test_bad_inputs(tmp_path, pairs, capsys):
    big, _ = make_pair(tmp_path, "big", shape=(64, 80))
    small, _ = make_pair(tmp_path, "small", shape=(64, 64))
    mixed = f"{big}_sem.tif:{small}_truth_boundaries.tif"
    with pytest.raises(GrainsegError, match="label is 64x64 px but its SEM image"):
        build_dataset([resolve_pair(mixed)], tmp_path / "ds", patch=32)
    with pytest.raises(GrainsegError, match="not a grainseg data set"):
        open_dataset(tmp_path)
    with pytest.raises(GrainsegError, match="smaller than one"):
        build_dataset([resolve_pair(small)], tmp_path / "ds", patch=128, val_frac=0)
    with pytest.raises(GrainsegError, match="at least 2 images"):
        build_dataset([resolve_pair(small)], tmp_path / "ds", patch=32)
    with pytest.raises(GrainsegError, match="not a labels folder"):
        resolve_pair(str(tmp_path / "nothing"))
    assert not (tmp_path / "ds").exists()
    assert main(["dataset", mixed, "--out", str(tmp_path / "ds"), "--patch", "32"]) == 2
    assert "label is 64x64" in capsys.readouterr().err


def test_cli_builds_and_replaces(pairs, tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["dataset", *pairs, "--out", str(out), "--patch", "32", "--val-frac",
                 "0.25"]) == 0
    assert "48 patches of 32 px from 4 image(s): 36 train, 12 val" in capsys.readouterr().out
    assert main(["dataset", *pairs[:2], "--out", str(out), "--patch", "64", "--val-frac",
                 "0.5"]) == 0
    assert open_dataset(out).info["patch_px"] == 64
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_everything_ignored_names_the_first_three_pairs(tmp_path):
    """Five pairs whose ignore masks cover everything: the error lists three, counts the rest."""
    prefixes = make_pairs(tmp_path, n=5, shape=(40, 40))
    write_tiff(tmp_path / "all_ignored.tif", np.full((40, 40), 255, np.uint8))
    specs = [f"{p}_sem.tif:{p}_truth_boundaries.tif:{tmp_path / 'all_ignored.tif'}"
             for p in prefixes]
    with pytest.raises(GrainsegError) as caught:
        build_dataset([resolve_pair(s) for s in specs], tmp_path / "ds", patch=16)
    message = str(caught.value)
    assert f"everything is ignored) in {', '.join(specs[:3])} and 2 more; check" in message
    assert specs[3] not in message and not (tmp_path / "ds").exists()
