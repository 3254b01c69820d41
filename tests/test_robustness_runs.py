"""Runs that go wrong: a full disk, an output path that cannot be a folder, Ctrl-C in the middle
of `segment`, two runs writing one output folder. The user sees one line, the exit code is not
zero, and no half-written file is left.

SIGKILL during training and --resume are covered by test_train_run.py
(test_resume_after_sigkill_matches_uninterrupted); not repeated here.
"""

from __future__ import annotations

import errno
import json
import os
import threading

import numpy as np
import pytest
import tifffile
from test_grains_cli import grid_mask
from test_infer_segment import cell_image

from grainseg.cli import main
from grainseg.io.tiff import write_tiff

SEGMENT_OUTPUTS = ("probability.tif", "boundaries.tif", "grain_ids.tif", "overlay.png")



@pytest.fixture(scope="module")
def many_images(tmp_path_factory):
    """Twelve small micrographs (the issue's 50, scaled down for a shared 2-core CPU)."""
    folder = tmp_path_factory.mktemp("many")
    for k in range(12):
        write_tiff(folder / f"img{k:02d}.tif", cell_image((48, 56), 4, seed=k), 0.1)
    return sorted(folder.glob("*.tif"))


def _no_partials(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or ".part" in p.name]


def _one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("grainseg ")]
    assert "Traceback" not in err
    assert len(lines) >= 1
    return lines[-1]


def _enospc():
    def replace(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return replace


# ------------------------------------------------------------------------------- full disk


def test_grains_on_a_full_disk(tmp_path, capsys, monkeypatch):
    mask = tmp_path / "m.tif"
    write_tiff(mask, grid_mask())
    monkeypatch.setattr(os, "replace", _enospc())
    out = tmp_path / "out"
    assert main(["grains", str(mask), "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "No space left on device" in line and str(out) in line
    assert list(out.iterdir()) == []  # nothing half-written, no temporary file


def test_segment_on_a_full_disk(many_images, model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "replace", _enospc())
    out = tmp_path / "out"
    code = main(["segment", *map(str, many_images[:2]), "--model", str(model_file),
                 "--out", str(out), "--tile", "64"])
    assert code == 2
    captured = capsys.readouterr()
    assert "No space left on device" in _one_line(captured.err)
    assert list(out.iterdir()) == []


def test_ebsd_grains_on_a_full_disk(shared_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(os, "replace", _enospc())
    out = tmp_path / "out"
    ang = shared_data / "ebsd" / "sdss_ferrite_austenite.ang"
    assert main(["ebsd-grains", str(ang), "--out", str(out)]) == 2
    assert "No space left on device" in _one_line(capsys.readouterr().err)
    assert list(out.iterdir()) == []


# ---------------------------------------------------------------- output path is not a folder


@pytest.mark.parametrize("command", ["grains", "segment", "ebsd-grains", "synth"])
def test_output_under_a_file(command, many_images, model_file, shared_data, tmp_path, capsys):
    """--out below a plain file (how a read-only folder is simulated when tests run as root)."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "out"
    mask = tmp_path / "m.tif"
    write_tiff(mask, grid_mask())
    args = {
        "grains": ["grains", str(mask), "--out", str(out)],
        "segment": ["segment", str(many_images[0]), "--model", str(model_file), "--out", str(out)],
        "ebsd-grains": ["ebsd-grains", str(shared_data / "ebsd" / "sdss_ferrite_austenite.ang"),
                        "--out", str(out)],
        "synth": ["synth", "--size", "128x128", str(out)],
    }[command]
    assert main(args) == 2
    line = _one_line(capsys.readouterr().err)
    assert str(out) in line and "cannot create output folder" in line
    assert blocker.read_text() == "x"


# ------------------------------------------------------------------ Ctrl-C during segment


def test_ctrl_c_during_segment_keeps_finished_images(many_images, model_file, tmp_path, capsys,
                                                     monkeypatch):
    """Ctrl-C while the 5th image is being written: 4 images complete, no temporary file;
    the rerun with --skip-existing segments only the other 8."""
    out = tmp_path / "out"
    real_imwrite = tifffile.imwrite
    calls = {"n": 0}

    def interrupted_imwrite(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4 * 3 + 2:  # three TIFFs per image: the 5th image's second TIFF
            real_imwrite(*args, **kwargs)  # half of the file written, then Ctrl-C
            raise KeyboardInterrupt
        return real_imwrite(*args, **kwargs)

    monkeypatch.setattr(tifffile, "imwrite", interrupted_imwrite)
    base = ["segment", *map(str, many_images), "--model", str(model_file), "--out", str(out),
            "--tile", "64"]
    assert main(base) == 130
    assert "interrupted" in capsys.readouterr().err
    assert _no_partials(out) == []
    done = [p.stem for p in many_images if all(
        (out / f"{p.stem}_{name}").is_file() for name in SEGMENT_OUTPUTS)]
    assert done == [p.stem for p in many_images[:4]]
    kept = {p.name: p.read_bytes() for p in out.iterdir()}
    for name in kept:  # every file left is complete and readable
        if name.endswith(".tif"):
            assert tifffile.imread(out / name).shape == (48, 56), name

    monkeypatch.setattr(tifffile, "imwrite", real_imwrite)
    from grainseg.infer import segment as infer_segment

    real_segment_image = infer_segment.segment_image
    segmented = []

    def counting(image, *args, **kwargs):
        segmented.append(image.shape)
        return real_segment_image(image, *args, **kwargs)

    monkeypatch.setattr(infer_segment, "segment_image", counting)
    assert main([*base, "--skip-existing"]) == 0
    assert len(segmented) == 8
    for name, data in kept.items():
        if name.startswith(tuple(p.stem for p in many_images[:4])):
            assert (out / name).read_bytes() == data  # finished images untouched
    summary = json.loads((out / "segment_summary.json").read_text())
    assert summary["skipped_existing"] == 4 and len(summary["images"]) == 12  # the whole folder
    assert _no_partials(out) == []


# --------------------------------------------------------- two runs, one output folder


def test_two_grains_runs_into_one_folder(tmp_path):
    """Two runs at once into one folder: every file is whole and comes from one of the runs."""
    masks = []
    for k, period in enumerate((16, 24)):
        path = tmp_path / f"in{k}" / "m.tif"
        path.parent.mkdir()
        write_tiff(path, grid_mask(period=period, n=192 // period, jitter=3, seed=k), 0.5)
        masks.append(path)
    solo = []
    for k, mask in enumerate(masks):  # each run alone, for reference
        assert main(["grains", str(mask), "--out", str(tmp_path / f"solo{k}")]) == 0
        solo.append(json.loads((tmp_path / f"solo{k}" / "summary.json").read_text()))
    out = tmp_path / "shared"
    codes = [None, None]

    def run(k):
        codes[k] = main(["grains", str(masks[k]), "--out", str(out)])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [0, 0]
    assert _no_partials(out) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_grains"] in (solo[0]["n_grains"], solo[1]["n_grains"])
    rows = (out / "grains.csv").read_text().strip().splitlines()
    assert len(rows) - 1 in (solo[0]["n_grains"], solo[1]["n_grains"])
    assert np.isfinite(summary["mean_ecd_um"])


def test_output_name_taken_by_a_folder(tmp_path, capsys):
    """summary.json exists as a folder: one line naming it (was an IsADirectoryError)."""
    mask = tmp_path / "m.tif"
    write_tiff(mask, grid_mask())
    out = tmp_path / "out"
    (out / "summary.json").mkdir(parents=True)
    assert main(["grains", str(mask), "--out", str(out)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"{out / 'summary.json'}: cannot write (Is a directory)" in line
    assert _no_partials(out) == []


def test_debug_shows_the_traceback(tmp_path):
    args = ["grains", str(tmp_path / "missing.tif"), "--out", str(tmp_path / "o")]
    assert main(args) == 2
    from grainseg.errors import GrainsegError

    with pytest.raises(GrainsegError, match="missing.tif: file not found"):
        main([*args, "--debug"])
