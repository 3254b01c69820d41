"""`grainseg report` on damaged files: a note in the report and on the screen, never a crash and
never silence."""

from __future__ import annotations

import pytest

from grainseg.cli import main

GOOD_CSV = "epoch,step,train_loss,val_loss\n0,4,0.9,0.8\n1,8,0.7,0.6\n"


@pytest.mark.parametrize("damage", [
    "epoch,step,train_loss,val_loss\n0,4,0.9,0.8\n1,8,abc,\x00\x01\n",  # garbage in a row
    "epoch,step,train_loss,val_loss\n0,4,0.9",                          # cut short
    "\x89PNG\r\n\x1a\n\x00\x00binary",                                  # not text at all
])
def test_report_notes_a_damaged_metrics_csv(tmp_path, capsys, damage):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.mkdir()
    bad.mkdir()
    (good / "metrics.csv").write_text(GOOD_CSV)
    (bad / "metrics.csv").write_bytes(damage.encode("latin-1"))
    out = tmp_path / "r.html"
    assert main(["report", str(good), str(bad), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    note = [line for line in captured.out.splitlines() if "note:" in line]
    assert note and str(bad / "metrics.csv") in note[0]
    assert str(bad / "metrics.csv") in out.read_text(encoding="utf-8")


def test_report_notes_a_damaged_summary_json(tmp_path, capsys):
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "summary.json").write_text('{"n_grains": 12, "astm_g_plan')
    (tmp_path / "metrics.csv").write_text(GOOD_CSV)
    out = tmp_path / "r.html"
    assert main(["report", str(tmp_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"note: {tmp_path / 'g' / 'summary.json'}" in printed and "not readable JSON" in printed
