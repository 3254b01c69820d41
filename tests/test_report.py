"""The HTML report: built from explicit sections, collected from output folders, opened in Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from grainseg.cli import main
from grainseg.errors import GrainsegError
from grainseg.io.png import rgb_png_bytes
from grainseg.io.tiff import write_tiff
from grainseg.report.collect import collect_sections
from grainseg.report.figures import confusion_overlay
from grainseg.report.html import (
    Section,
    array_item,
    build_report,
    figure_item,
    table_item,
    text_item,
)

CHROMIUM = Path("/usr/bin/chromium")


def grid_mask(shape=(160, 200), period=32, offset=16, width=1) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for w in range(width):
        mask[offset + w :: period, :] = 255
        mask[:, offset + w :: period] = 255
    return mask


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    """A small tree of the files grainseg commands write, made here (read-only for the tests)."""
    root = tmp_path_factory.mktemp("report") / "outputs"
    rng = np.random.default_rng(0)
    spec = root / "specimens"
    spec.mkdir(parents=True)
    sem = (rng.normal(30000, 2000, (160, 200))).astype(np.uint16)
    write_tiff(spec / "s0_sem.tif", sem, pixel_size_um=0.05)
    write_tiff(spec / "s0_truth_boundaries.tif", grid_mask(), pixel_size_um=0.05)
    for name, width in (("segment_bce", 3), ("segment_topo", 1)):
        (root / name).mkdir()
        write_tiff(root / name / "s0_sem_boundaries.tif", grid_mask(offset=15, width=width), 0.05)
    labels = root / "labels" / "s0"
    labels.mkdir(parents=True)
    for name in ("overlay_before.png", "overlay_after.png"):
        (labels / name).write_bytes(rgb_png_bytes(rng.integers(0, 255, (40, 50, 3), np.uint8)))
    (labels / "registration.json").write_text(json.dumps({"score": {"before": 0.6, "after": 0.9},
                                                          "drift_px": {"mean": 0.7}}))
    dataset = root / "dataset"
    dataset.mkdir()
    (dataset / "dataset.json").write_text(json.dumps({"patch_px": 64, "sources": [{
        "name": "s0", "sem_path": str(spec / "s0_sem.tif"),
        "label_path": str(spec / "s0_truth_boundaries.tif"), "data_bar_start_row": 150}]}))
    (root / "evaluate_run_bce.json").write_text(json.dumps({"dice": 0.41, "ari": 0.72, "tpr": 0.8}))
    (root / "compare").mkdir()
    (root / "compare" / "table2.csv").write_text("arch,dice,paper_dice\nunet,0.41234,0.409\n")
    run = root / "run_bce"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,step,train_loss,val_loss\n0,10,0.9,\n0,10,,0.8\n"
                                     "1,20,0.7,\n1,20,,0.65\n")
    assert main(["grains", str(root / "segment_topo" / "s0_sem_boundaries.tif"), "--reference",
                 str(spec / "s0_truth_boundaries.tif"), "--out", str(root / "grains")]) == 0
    return root


def test_build_report_is_one_self_contained_file(tmp_path):
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    sections = [
        Section("A figure", [figure_item(fig, "a line"), array_item(np.zeros((5, 7, 3), np.uint8),
                                                                     "black <b>box</b>")]),
        Section("A table", [table_item(["name", "value"], [["dice", 0.40912], ["g", None]])],
                note="note & more"),
        Section("Empty, left out"),
        Section("Text", [text_item("plain <text>")]),
    ]
    path = build_report(sections, tmp_path / "r.html", title="Test")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="([^"]+)"', text)
    assert len(images) == 2 and all(s.startswith("data:image/png;base64,") for s in images)
    for src in images:
        assert base64.b64decode(src.split(",", 1)[1])[:4] == b"\x89PNG"
    assert "0.4091" in text and "&lt;b&gt;box&lt;/b&gt;" in text and "plain &lt;text&gt;" in text
    assert "Empty, left out" not in text
    assert not re.search(r'(href|src)="(http|//)', text)


def test_collect_finds_every_figure(outputs):
    sections, notes = collect_sections([outputs])
    titles = [s.title for s in sections]
    for figure in ("Fig. 1", "Fig. 2", "Fig. 3", "Fig. 4", "Fig. 5", "Fig. 6", "Fig. 7",
                   "Grain statistics", "Metrics"):
        assert any(t.startswith(figure) for t in titles), figure
    assert notes == []
    metrics = next(s for s in sections if s.title.startswith("Metrics"))
    assert any(item.caption.startswith("Table 2") and item.rows == [["unet", 0.41234, 0.409]]
               for item in metrics.items)
    fig2 = next(s for s in sections if s.title.startswith("Fig. 2"))
    assert len(fig2.items) == 2  # both segmentations against the one truth
    assert any("Dice" in item.caption for item in fig2.items)


def test_confusion_colours_follow_the_paper():
    pred = np.array([[1, 1, 0, 0]], bool)
    true = np.array([[1, 0, 1, 0]], bool)
    rgb = confusion_overlay(pred, true)
    assert rgb[0].tolist() == [[0, 255, 255], [255, 255, 0], [255, 0, 0], [0, 0, 0]]


def test_report_command_and_errors(outputs, tmp_path, capsys):
    out = tmp_path / "rep" / "report.html"
    assert main(["report", str(outputs), "--out", str(out)]) == 0
    assert out.is_file() and "report:" in capsys.readouterr().out
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "--out", str(tmp_path / "x.html")]) == 2
    assert "no grainseg outputs" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "y.html")]) == 2
    assert not (tmp_path / "x.html").exists()
    with pytest.raises(GrainsegError):
        collect_sections([tmp_path / "missing"])


_CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const out = document.createElement('pre');
  out.id = 'image-check';
  out.textContent = 'images=' + imgs.length + ' broken=' + broken;
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(not CHROMIUM.is_file(),
                    reason="headless Chromium not installed (/usr/bin/chromium; Debian package "
                           "'chromium': apt-get install -y chromium)")
def test_every_image_loads_in_headless_chromium(outputs, tmp_path):
    report = tmp_path / "report.html"
    assert main(["report", str(outputs), "--out", str(report)]) == 0
    n_images = report.read_text().count("<img ")
    assert n_images >= 10
    # A copy with a probe script appended; the report itself carries no script.
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", _CHECK_SCRIPT + "</body>"))
    profile = tmp_path / "chromium-profile"
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
        probe.as_uri(),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r"images=(\d+) broken=(\d+)", result.stdout)
    assert found, f"no probe result from Chromium: {result.stderr[-2000:]}"
    assert int(found.group(1)) == n_images
    assert int(found.group(2)) == 0
