"""Model files, checkpoints and run folders from elsewhere never run code.

A crafted file whose pickle payload writes a marker file is given to every command that reads
models, checkpoints or run folders: each refuses it with one line (exit 2) and the marker is
never written. Genuine checkpoints of this Lightning version, and the hyper-parameter type older
versions wrote, still load.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from test_data_helpers import make_pairs
from test_infer_segment import cell_image

from grainseg.cli import main
from grainseg.data import build_dataset, resolve_pair
from grainseg.io.tiff import write_tiff
from grainseg.models import load_model

TINY = ["--width", "0.125", "--batch", "4", "--epochs", "1", "--no-progress"]


class Payload:
    """Unpickling this object writes ``marker`` (what a malicious checkpoint would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


@pytest.fixture(scope="module")
def genuine(tmp_path_factory) -> dict:
    """A data set, a finished run, and a micrograph."""
    folder = tmp_path_factory.mktemp("untrusted")
    prefixes = make_pairs(folder, n=4, shape=(64, 64))
    build_dataset([resolve_pair(p) for p in prefixes], folder / "ds", patch=32, val_frac=0.25)
    run = folder / "run"
    assert main(["train", str(folder / "ds"), "--out", str(run), "--arch", "unet", *TINY]) == 0
    image = folder / "img.tif"
    write_tiff(image, cell_image((48, 56), 4, seed=1), 0.1)
    return {"ds": folder / "ds", "run": run, "image": image}


@pytest.fixture()
def crafted(genuine, tmp_path) -> dict:
    """Crafted files next to a marker path: a .ckpt, a model.pt and run folders holding them."""
    marker = tmp_path / "marker"
    checkpoint = torch.load(genuine["run"] / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint["hyper_parameters"]["note"] = Payload(marker)
    ckpt = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, ckpt)
    model_file = torch.load(genuine["run"] / "model.pt", weights_only=True)
    model_file["meta"]["note"] = Payload(marker)
    model_pt = tmp_path / "crafted_model.pt"
    torch.save(model_file, model_pt)
    # A run folder as it comes from a cluster: config and checkpoints, no model.pt yet.
    run = tmp_path / "crafted_run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(genuine["run"] / "config.json", run / "config.json")
    shutil.copy(ckpt, run / "checkpoints" / "best.ckpt")
    shutil.copy(ckpt, run / "checkpoints" / "last.ckpt")
    return {"marker": marker, "ckpt": ckpt, "model_pt": model_pt, "run": run}


def _refused(code: int, err: str, marker: Path, named: Path) -> None:
    assert not marker.exists(), "the crafted file ran code"
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.startswith("grainseg ")]
    assert len(lines) == 1, err
    assert str(named) in lines[0] and "builtins.exec" in lines[0], lines[0]


@pytest.mark.parametrize("which", ["ckpt", "model_pt", "run"])
def test_segment_refuses_a_crafted_model(genuine, crafted, which, tmp_path, capsys):
    code = main(["segment", str(genuine["image"]), "--model", str(crafted[which]),
                 "--out", str(tmp_path / "seg"), "--tile", "64"])
    named = crafted["run"] / "checkpoints" / "best.ckpt" if which == "run" else crafted[which]
    _refused(code, capsys.readouterr().err, crafted["marker"], named)


@pytest.mark.parametrize("which", ["ckpt", "model_pt", "run"])
def test_evaluate_refuses_a_crafted_model(genuine, crafted, which, capsys):
    code = main(["evaluate", str(crafted[which]), str(genuine["ds"])])
    named = crafted["run"] / "checkpoints" / "best.ckpt" if which == "run" else crafted[which]
    _refused(code, capsys.readouterr().err, crafted["marker"], named)


@pytest.mark.parametrize("which", ["ckpt", "model_pt", "run"])
def test_train_init_refuses_a_crafted_model(genuine, crafted, which, tmp_path, capsys):
    out = tmp_path / "new_run"
    code = main(["train", str(genuine["ds"]), "--out", str(out), "--init", str(crafted[which]),
                 *TINY])
    named = crafted["run"] / "checkpoints" / "best.ckpt" if which == "run" else crafted[which]
    _refused(code, capsys.readouterr().err, crafted["marker"], named)
    assert not out.exists()


def test_train_resume_refuses_a_crafted_checkpoint(genuine, crafted, capsys):
    code = main(["train", str(genuine["ds"]), "--out", str(crafted["run"]), "--resume", *TINY])
    _refused(code, capsys.readouterr().err, crafted["marker"],
             crafted["run"] / "checkpoints" / "last.ckpt")


def test_lightning_resume_loads_weights_only(genuine, crafted, monkeypatch, tmp_path):
    """Lightning reads the checkpoint once more in ``trainer.fit``: that read is safe too."""
    from grainseg.errors import GrainsegError
    from grainseg.train import run as run_module

    monkeypatch.setattr(run_module, "_check_checkpoint", lambda path: None)
    resumed = tmp_path / "resumed"
    shutil.copytree(genuine["run"], resumed)
    shutil.copy(crafted["ckpt"], resumed / "checkpoints" / "last.ckpt")
    with pytest.raises(GrainsegError, match="builtins.exec"):
        run_module.train(run_module.TrainConfig(dataset=str(genuine["ds"])), resumed,
                         resume=True, explicit=set(), progress=False)
    assert not crafted["marker"].exists()


def test_compare_refuses_a_crafted_run(genuine, crafted, tmp_path, capsys):
    """An unfinished run in the comparison folder is resumed: its checkpoint is refused."""
    out = tmp_path / "tables"
    shutil.copytree(crafted["run"], out / "runs" / "unet_w9")
    code = main(["compare", str(genuine["ds"]), "--out", str(out), "--archs", "unet",
                 "--pos-weights", "none", "--width", "0.125", "--batch", "4", "--epochs", "1"])
    _refused(code, capsys.readouterr().err, crafted["marker"],
             out / "runs" / "unet_w9" / "checkpoints" / "last.ckpt")


def test_compare_refuses_a_crafted_finished_run(genuine, crafted, tmp_path, capsys):
    """A finished run whose scores are missing is evaluated: its model.pt is refused."""
    run = tmp_path / "tables" / "runs" / "unet_w9"
    shutil.copytree(genuine["run"], run)
    shutil.copy(crafted["model_pt"], run / "model.pt")
    code = main(["compare", str(genuine["ds"]), "--out", str(tmp_path / "tables"), "--archs",
                 "unet", "--pos-weights", "none", "--width", "0.125", "--batch", "4"])
    _refused(code, capsys.readouterr().err, crafted["marker"], run / "model.pt")


def test_report_never_reads_model_files(genuine, crafted, tmp_path, capsys):
    """The report reads JSON, CSV and images only: a crafted run folder runs nothing."""
    shutil.copy(crafted["model_pt"], crafted["run"] / "model.pt")
    shutil.copy(genuine["run"] / "metrics.csv", crafted["run"] / "metrics.csv")
    assert main(["report", str(crafted["run"]), "--out", str(tmp_path / "r.html")]) == 0
    assert not crafted["marker"].exists()
    assert (tmp_path / "r.html").is_file()


def test_demo_checks_the_shipped_model_before_any_work(crafted, tmp_path, capsys, monkeypatch):
    import grainseg.models

    monkeypatch.setattr(grainseg.models, "default_model_path", lambda: crafted["ckpt"])
    out = tmp_path / "demo"
    code = main(["demo", "--quick", "--out", str(out)])
    _refused(code, capsys.readouterr().err, crafted["marker"], crafted["ckpt"])
    assert not (out / "specimens").exists()  # refused before the first step


def test_genuine_checkpoints_load_weights_only(genuine):
    from grainseg.models.io import read_torch_file

    for name in ("best.ckpt", "last.ckpt"):
        checkpoint = read_torch_file(genuine["run"] / "checkpoints" / name)
        assert {"state_dict", "epoch", "callbacks", "optimizer_states"} <= checkpoint.keys()
    model, meta = load_model(genuine["run"] / "checkpoints" / "best.ckpt")
    assert meta["arch"] == "unet"


def test_older_lightning_hyper_parameters_load_as_a_dict(genuine, tmp_path):
    """Lightning before 2.0 stored hyper-parameters as an AttributeDict (a dict subclass)."""
    from lightning.fabric.utilities.data import AttributeDict

    checkpoint = torch.load(genuine["run"] / "checkpoints" / "best.ckpt", weights_only=True)
    checkpoint["hyper_parameters"] = AttributeDict(checkpoint["hyper_parameters"])
    path = tmp_path / "old.ckpt"
    torch.save(checkpoint, path)
    model, meta = load_model(path)
    assert type(meta) is dict and meta["arch"] == "unet"


def test_refusal_names_what_the_file_needs(crafted):
    from grainseg.errors import GrainsegError
    from grainseg.models.io import read_torch_file

    with pytest.raises(GrainsegError) as info:
        read_torch_file(crafted["ckpt"])
    message = str(info.value)
    assert message.startswith(str(crafted["ckpt"])) and "builtins.exec" in message
    assert "\n" not in message
    assert not crafted["marker"].exists()
    assert json.dumps(message)  # plain text
