"""`grainseg demo --quick`: the whole method end to end, as `make demo` runs it (smaller)."""

import json
import math

import pytest

from grainseg.cli import main


@pytest.mark.slow
def test_quick_demo_runs_every_step_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Report:" in printed
    html = (out / "report.html").read_text(encoding="utf-8")
    for figure in ("Fig. 1", "Fig. 2", "Fig. 3", "Fig. 4", "Fig. 6", "Fig. 7"):
        assert figure in html
    for run in ("run_bce", "run_topo"):
        scores = json.loads((out / f"evaluate_{run}.json").read_text())
        assert scores["n_patches"] > 0
        assert math.isfinite(scores["dice"]) and 0 <= scores["dice"] <= 1
    real = json.loads((out / "grains" / "real" / "summary.json").read_text())
    assert real["pixel_size_um"] > 0 and real["n_grains"] > 1
