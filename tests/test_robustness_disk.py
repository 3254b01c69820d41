"""A disk that is full, or fills up, while `dataset` and `train` write: one line saying what
happened and what was kept, no partial file or folder left, and the run can go on afterwards.

The full disk is simulated (ENOSPC raised where the bytes would go); `segment`, `grains` and
`ebsd-grains` on a full disk are in test_robustness_runs.py.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections import namedtuple

import pytest
from helpers.cli import one_error_line
from test_data_helpers import make_pairs

from grainseg.cli import main
from grainseg.data import build_dataset, resolve_pair

TINY = ["--width", "0.125", "--batch", "4", "--no-progress"]



def _hidden(folder):
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or ".part" in p.name)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    return make_pairs(folder, n=3, shape=(64, 64))


# ------------------------------------------------------------------------------- dataset


def test_dataset_checks_free_space_first(pairs, tmp_path, capsys, monkeypatch):
    import grainseg.data.build as build

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(build.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 4096))
    out = tmp_path / "ds"
    assert main(["dataset", *pairs, "--out", str(out), "--patch", "32"]) == 2
    line = one_error_line(capsys)
    assert str(out) in line and "MiB free" in line
    assert list(tmp_path.iterdir()) == []


def test_dataset_disk_fills_while_writing(pairs, tmp_path, capsys, monkeypatch):
    """The arrays are reserved on disk before they are written through the memory map: a full
    disk is an error there, not a bus error in the middle of the writes."""
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "posix_fallocate", full)
    out = tmp_path / "ds"
    assert main(["dataset", *pairs, "--out", str(out), "--patch", "32"]) == 2
    line = one_error_line(capsys)
    assert str(out) in line and "No space left on device" in line
    assert list(tmp_path.iterdir()) == []


def test_dataset_removes_what_a_killed_build_left(pairs, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    left = tmp_path / f".ds.partial-{int(dead.stdout)}"
    left.mkdir()
    (left / "images.npy").write_bytes(b"\0" * 100)
    build_dataset([resolve_pair(p) for p in pairs], tmp_path / "ds", patch=32, val_frac=0.34)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


# --------------------------------------------------------------------------------- train


@pytest.mark.slow
def test_train_disk_fills_keeps_the_last_complete_checkpoint(pairs, tmp_path, capsys,
                                                             monkeypatch):
    """Checkpoints every step; the disk is full from the 4th write on."""
    import lightning.fabric.plugins.io.torch_io as torch_io

    ds = tmp_path / "ds"
    build_dataset([resolve_pair(p) for p in pairs], ds, patch=32, val_frac=0.34)
    real_save = torch_io._atomic_save
    writes = []

    def filling(checkpoint, path):
        writes.append(str(path))
        if len(writes) >= 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(checkpoint, path)

    monkeypatch.setattr(torch_io, "_atomic_save", filling)
    run = tmp_path / "run"
    code = main(["train", str(ds), "--out", str(run), "--epochs", "3", "--save-every", "1",
                 *TINY])
    line = one_error_line(capsys)
    last = run / "checkpoints" / "last.ckpt"
    assert code == 2
    assert "No space left on device" in line and "training stopped" in line
    assert f"{last} holds the last complete checkpoint" in line and "--resume" in line
    assert _hidden(run) == []
    from grainseg.models import read_torch_file

    kept = read_torch_file(last)
    assert kept["global_step"] >= 1
    monkeypatch.setattr(torch_io, "_atomic_save", real_save)  # space freed: resume
    assert main(["train", str(ds), "--out", str(run), "--resume", "--epochs", "3", *TINY]) == 0
    assert (run / "model.pt").is_file()
