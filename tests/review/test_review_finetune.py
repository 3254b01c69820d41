"""Learning from corrections without Qt: segment, correct, save, data set, fine-tune the default."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest

from grainseg.cli import main
from grainseg.io.tiff import read_micrograph, write_tiff
from grainseg.models import load_model
from grainseg.review.session import ReviewSession, load_session, segment_for_review

SAMPLE = Path(str(files("grainseg") / "sample_data" / "austenitic_steel_bse_002.tif"))


@pytest.mark.slow
def test_segment_review_finetune_loop(tmp_path):
    micrograph = read_micrograph(SAMPLE)
    image_path = tmp_path / "crop.tif"
    write_tiff(image_path, micrograph.image[100:292, 300:556], micrograph.pixel_size_um)
    session = load_session(image_path)
    assert session.grain_ids.max() == 1  # nothing segmented yet
    result = segment_for_review(session.image, flips=False, device="cpu")
    session = ReviewSession(image=session.image, grain_ids=result["grain_ids"],
                            probability=result["probability"], image_path=image_path,
                            pixel_size_um=session.pixel_size_um)
    session.delete(np.argwhere(session.grain_ids == session.grain_ids.max())[0])
    session.mark_reviewed((0, 128, 0, 256))
    out = session.save(tmp_path / "reviewed")

    resumed = load_session(image_path, out)
    assert np.array_equal(resumed.grain_ids, session.grain_ids)
    assert np.array_equal(resumed.reviewed, session.reviewed)

    assert main(["dataset", str(out), "--patch", "64", "--split", "patch", "--val-frac", "0.25",
                 "--out", str(tmp_path / "ds")]) == 0
    info = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    reviewed_tiles = session.reviewed.reshape(3, 64, 4, 64).any(axis=(1, 3))
    assert info["n_patches"] == reviewed_tiles.sum() < 12  # unreviewed patches are left out
    assert main(["train", str(tmp_path / "ds"), "--out", str(tmp_path / "run"), "--init",
                 "default", "--epochs", "1", "--batch", "4", "--lr", "1e-4",
                 "--no-progress"]) == 0
    model, _ = load_model(tmp_path / "run")
    assert model.arch == "unet" and model.width == 0.25  # taken from the shipped model
    config = json.loads((tmp_path / "run" / "config.json").read_text())["config"]
    assert config["init"].endswith("default.pt")
