"""The new-user probe of runs and commands (issue 19): re-runs, interrupts, batch summaries."""

from __future__ import annotations

import json

import pytest

from grainseg.cli import main
from tests.helpers.cli import one_error_line


class _FirstStep(Exception):
    """Raised by the stand-in for the demo's first step: the folder is seen as step 1 finds it."""


@pytest.fixture
def first_step(monkeypatch):
    """Stop the demo at its first step, recording what its --out held at that moment."""
    import grainseg.commands.demo as demo

    seen: dict[str, list[str]] = {}

    def step(title, argv):
        out = demo_out["path"]
        seen["entries"] = sorted(p.name for p in out.iterdir())
        raise _FirstStep

    demo_out: dict = {}
    monkeypatch.setattr(demo, "_step", step)
    return demo_out, seen


def _earlier_demo(out):
    """What an earlier demo leaves (a trained run folder included), plus its manifest."""
    (out / "run_bce" / "checkpoints").mkdir(parents=True)
    (out / "run_bce" / "versions.json").write_text("{}")
    (out / "labels" / "specimen_000").mkdir(parents=True)
    (out / "labels" / "specimen_000" / "registration.json").write_text("{}")
    (out / "report.html").write_text("<html></html>")
    (out / ".report.x.html.part").write_text("")


@pytest.mark.parametrize("manifest", [True, False])
def test_demo_runs_again_into_its_own_out(tmp_path, first_step, manifest):
    """Re-running the demo (same --out, default demo_out included) starts afresh, no --resume."""
    demo_out, seen = first_step
    out = demo_out["path"] = tmp_path / "demo_out"
    out.mkdir()
    _earlier_demo(out)
    if manifest:  # an earlier demo of this version; without it, one from before manifests
        (out / "manifest.json").write_text(json.dumps({"stage": "demo"}))
    with pytest.raises(_FirstStep):
        main(["demo", "--quick", "--out", str(out)])
    assert seen["entries"] == ["manifest.json"]
    assert json.loads((out / "manifest.json").read_text())["stage"] == "demo"


def test_demo_refuses_a_folder_holding_other_files(tmp_path, first_step, capsys):
    demo_out, seen = first_step
    out = demo_out["path"] = tmp_path / "mine"
    out.mkdir()
    _earlier_demo(out)
    (out / "thesis.docx").write_text("years of work")
    assert main(["demo", "--quick", "--out", str(out)]) == 2
    line = one_error_line(capsys)
    assert f"{out}: holds files grainseg did not write (thesis.docx)" in line
    assert "`grainseg demo` needs a new or empty --out" in line
    assert (out / "thesis.docx").read_text() == "years of work" and (out / "run_bce").is_dir()
    assert "entries" not in seen
