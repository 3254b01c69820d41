"""Hand-drawn masks: either polarity, JPEG grey levels, grain-ID label images, folders paired by
name, and a data set built from them that `train` and `evaluate` run on."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.segmentation import find_boundaries
from test_data_helpers import voronoi_grains

from grainseg.cli import main
from grainseg.data import boundary_from_mask, open_dataset, pairs_from_folders
from grainseg.errors import GrainsegError
from grainseg.io.tiff import read_mask, write_tiff

GRAINS = voronoi_grains((64, 64), 10, seed=3)
LINES = find_boundaries(GRAINS, mode="inner")


def test_two_level_masks_of_either_polarity():
    white = LINES.astype(np.uint8) * 255
    np.testing.assert_array_equal(boundary_from_mask(white), LINES)
    np.testing.assert_array_equal(boundary_from_mask(255 - white), LINES)  # auto: the fewer
    np.testing.assert_array_equal(boundary_from_mask(255 - white, "black"), LINES)
    np.testing.assert_array_equal(boundary_from_mask(LINES.astype(np.uint8), "white"), LINES)
    with pytest.raises(GrainsegError, match=r"m\.png: with white boundaries .* the boundaries "
                                            r"look black"):
        boundary_from_mask(255 - white, "white", "m.png")


def test_jpeg_grey_levels_are_thresholded(tmp_path):
    Image.fromarray(np.where(LINES, 0, 255).astype(np.uint8)).save(tmp_path / "m.jpg", quality=75)
    mask = read_mask(tmp_path / "m.jpg")
    assert np.unique(mask).size > 2  # compression grey
    found = boundary_from_mask(mask, "auto", tmp_path / "m.jpg")
    assert (found != LINES).mean() < 0.01


def test_label_images_give_their_boundaries(tmp_path):
    ids = GRAINS.astype(np.uint16)
    edges = boundary_from_mask(ids)
    assert edges[:, :-1][GRAINS[:, :-1] != GRAINS[:, 1:]].all()
    assert not edges[(GRAINS == np.roll(GRAINS, 1, 0)) & (GRAINS == np.roll(GRAINS, -1, 0))
                     & (GRAINS == np.roll(GRAINS, 1, 1)) & (GRAINS == np.roll(GRAINS, -1, 1))
                     ].any()
    palette_image = Image.fromarray(GRAINS.astype(np.uint8), mode="P")
    palette_image.putpalette(np.random.default_rng(1).integers(0, 256, 768).tolist())
    palette_image.save(tmp_path / "ids.png")  # an ImageJ-style label image with a colour LUT
    np.testing.assert_array_equal(boundary_from_mask(read_mask(tmp_path / "ids.png")), edges)
    with_zero = np.where(LINES, 0, GRAINS).astype(np.uint16)
    assert boundary_from_mask(with_zero)[LINES].all()


def test_masks_that_look_like_neither_are_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(GrainsegError, match=r"photo\.png: looks like a grey image, not a boundary "
                                            r"mask \(two values\) or a grain-ID image"):
        boundary_from_mask(rng.integers(0, 256, (32, 32), dtype=np.uint8), "auto", "photo.png")
    half = np.zeros((32, 32), np.uint8)
    half[:, 16:] = 255
    with pytest.raises(GrainsegError, match="cannot tell boundaries from grains"):
        boundary_from_mask(half)


def _folders(tmp_path, n=5):
    """n SEM images (TIFF and PNG) and masks in mixed formats, polarities and names."""
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    truths = []
    for k in range(n):
        grains = voronoi_grains((64, 64), 10, seed=k)
        lines = find_boundaries(grains, mode="inner")
        rng = np.random.default_rng(k)
        sem = np.clip(rng.uniform(60, 200, grains.max() + 1)[grains] + rng.normal(0, 6, (64, 64)),
                      0, 255).astype(np.uint8)
        if k % 2:
            Image.fromarray(sem).save(images / f"Area{k}.png")
        else:
            write_tiff(images / f"area{k}.tif", sem)
        black_on_white = np.where(lines, 0, 255).astype(np.uint8)
        if k == 0:
            Image.fromarray(black_on_white).save(masks / "area0_mask.png")
        elif k == 1:
            Image.fromarray(black_on_white).save(masks / "Area1.jpg", quality=90)
        elif k == 2:
            Image.fromarray(255 - black_on_white).save(masks / "area2_label.png")
        elif k == 4:
            Image.fromarray(255 - black_on_white).save(masks / "area4_gt.jpeg", quality=90)
        else:  # a grain-ID label image: its boundaries are where the ID changes
            write_tiff(masks / f"Area{k}.tif", grains.astype(np.uint16))
            lines = boundary_from_mask(grains.astype(np.uint16))
        truths.append(lines)
    return images, masks, truths


def test_folders_pair_by_name(tmp_path):
    images, masks, _ = _folders(tmp_path)
    pairs = pairs_from_folders(images, masks)
    assert [(p.sem_path.name, p.label_path.name) for p in pairs] == [
        ("area0.tif", "area0_mask.png"), ("Area1.png", "Area1.jpg"),
        ("area2.tif", "area2_label.png"), ("Area3.png", "Area3.tif"),
        ("area4.tif", "area4_gt.jpeg")]
    (images / "extra.png").write_bytes((images / "Area1.png").read_bytes())
    with pytest.raises(GrainsegError, match=r"1 image\(s\) without a mask \(extra\.png\)"):
        pairs_from_folders(images, masks)


@pytest.mark.slow
def test_dataset_from_hand_masks_trains_and_evaluates(tmp_path):
    images, masks, truths = _folders(tmp_path)
    ds = tmp_path / "ds"
    assert main(["dataset", "--images", str(images), "--masks", str(masks), "--out", str(ds),
                 "--patch", "32", "--val-frac", "0.25"]) == 0
    arrays = open_dataset(ds)
    assert arrays.labels.shape[0] == 20
    # each image's four patches are its drawn boundaries, whatever the mask's format and
    # polarity (PNG and JPEG, black on white and white on black; JPEG grey thresholded)
    for k, truth in enumerate(truths):
        drawn = np.asarray(arrays.labels[4 * k:4 * k + 4]).reshape(2, 2, 32, 32)
        drawn = drawn.swapaxes(1, 2).reshape(64, 64).astype(bool)
        if k in (1, 4):  # JPEG
            assert (drawn != truth).mean() < 0.01, k
        else:
            np.testing.assert_array_equal(drawn, truth, err_msg=str(k))
    run = tmp_path / "run"
    assert main(["train", str(ds), "--out", str(run), "--width", "0.125", "--batch", "4",
                 "--epochs", "1", "--no-progress"]) == 0
    assert main(["evaluate", str(run), str(ds), "--json", str(tmp_path / "scores.json")]) == 0
    assert (tmp_path / "scores.json").is_file()
