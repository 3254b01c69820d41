"""Output layout: the names of `grainseg.layout`, the manifest every stage writes, and the report
recognising folders by their manifest (and older folders without one by their file names)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grainseg import __version__, layout
from grainseg.cli import main
from grainseg.io.manifest import manifest_stage, read_manifest, write_manifest
from grainseg.io.tiff import write_tiff
from grainseg.report.collect import collect_sections


def test_write_and_read_a_manifest(tmp_path):
    path = write_manifest(tmp_path, "segment", [tmp_path / "a.tif"], {"model": tmp_path / "m.pt",
                                                                       "tile_px": None})
    assert path == tmp_path / layout.MANIFEST
    assert json.loads(path.read_text()) == {
        "stage": "segment", "grainseg_version": __version__, "inputs": [str(tmp_path / "a.tif")],
        "settings": {"model": str(tmp_path / "m.pt"), "tile_px": None}}
    assert manifest_stage(tmp_path) == "segment"
    assert not [p for p in tmp_path.iterdir() if p.name != layout.MANIFEST]  # no temp file left
    with pytest.raises(ValueError, match="stage 'segmnet'"):
        write_manifest(tmp_path, "segmnet")


def test_missing_or_damaged_manifest_reads_as_none(tmp_path):
    assert read_manifest(tmp_path) is None and manifest_stage(tmp_path) is None
    (tmp_path / layout.MANIFEST).write_text('{"stage": "seg')
    assert read_manifest(tmp_path) is None
    (tmp_path / layout.MANIFEST).write_text('["segment"]')
    assert manifest_stage(tmp_path) is None


def test_names_of_one_image_and_one_specimen():
    assert layout.segment_names("a") == {"probability": "a_probability.tif",
                                         "boundaries": "a_boundaries.tif",
                                         "grain_ids": "a_grain_ids.tif",
                                         "overlay": "a_overlay.png"}
    assert layout.segment_names("a", zarr=True)["grain_ids"] == "a_grain_ids.zarr"
    assert list(layout.synth_names("s", "ang").values()) == [
        "s_sem.tif", "s_ebsd.ang", "s_truth_grains.tif", "s_truth_boundaries.tif",
        "s_truth_twins.tif", "s_truth_drift.npz", "s_truth.json"]


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """synth -> ebsd-grains -> segment -> grains on one small specimen, by the CLI."""
    root = tmp_path_factory.mktemp("layout")
    assert main(["synth", str(root / "spec"), "--n", "1", "--size", "160x128", "--seed", "3"]) == 0
    names = layout.synth_names("specimen_000")
    spec = {role: root / "spec" / name for role, name in names.items()}
    assert main(["ebsd-grains", str(spec["ebsd"]), "--out", str(root / "ebsd")]) == 0
    assert main(["segment", str(spec["sem"]), "--out", str(root / "seg")]) == 0
    ids = root / "seg" / layout.segment_names(spec["sem"].stem)["grain_ids"]
    assert main(["grains", str(ids), "--reference", str(spec["grains"]),
                 "--out", str(root / "grains")]) == 0
    return root, spec, ids


def test_every_stage_writes_its_files_and_manifest(stages):
    root, spec, ids = stages
    assert all(path.is_file() for path in spec.values())
    expected = {"spec": ("synth", []), "ebsd": ("ebsd-grains", [str(spec["ebsd"])]),
                "seg": ("segment", [str(spec["sem"])]),
                "grains": ("grains", [str(ids), str(spec["grains"])])}
    for folder, (stage, inputs) in expected.items():
        manifest = read_manifest(root / folder)
        assert manifest["stage"] == stage and manifest["inputs"] == inputs, folder
        assert manifest["grainseg_version"] == __version__
        assert isinstance(manifest["settings"], dict)
    assert read_manifest(root / "spec")["settings"]["seed"] == 3
    assert read_manifest(root / "seg")["settings"]["threshold"] == 0.5
    assert all((root / "seg" / n).is_file()
               for n in layout.segment_names(spec["sem"].stem).values())
    for name in (layout.GRAIN_IDS, layout.EBSD_BOUNDARIES, layout.GRAINS_TABLE,
                 layout.GRAINS_SUMMARY):
        assert (root / "ebsd" / name).is_file()
    for name in (layout.GRAINS_TABLE, layout.GRAINS_SUMMARY, layout.distribution_png("size")):
        assert (root / "grains" / name).is_file()


def _grain_rows(root):
    sections, _ = collect_sections([root])
    tables = [item for s in sections if s.title.startswith("Grain statistics") for item in s.items]
    return [row[0] for row in tables[0].rows] if tables else []


def test_report_tells_the_two_summaries_apart_by_manifest(stages, tmp_path):
    root, spec, _ = stages
    assert _grain_rows(root) == ["grains"]  # ebsd-grains' summary.json is not a grain table
    # A grains summary without the ASTM keys is still the grains stage's: its manifest says so;
    # an ebsd-grains folder is left out even with them.
    for folder, stage, summary in (("g", "grains", {"n_grains": 5}),
                                   ("e", "ebsd-grains", {"astm_g_planimetric": 7.0})):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / layout.GRAINS_SUMMARY).write_text(json.dumps(summary))
        write_manifest(tmp_path / folder, stage)
    assert _grain_rows(tmp_path) == ["g"]


def test_report_reads_old_folders_without_a_manifest(stages, tmp_path):
    root, spec, _ = stages
    for folder in ("grains", "ebsd"):
        copy = tmp_path / folder
        copy.mkdir()
        for path in (root / folder).iterdir():
            if path.name != layout.MANIFEST:
                copy.joinpath(path.name).write_bytes(path.read_bytes())
    assert _grain_rows(tmp_path) == ["grains"]  # told apart by their keys, as before manifests


def test_report_takes_predictions_from_segment_folders_only(tmp_path):
    mask = np.zeros((40, 50), np.uint8)
    mask[20] = 255
    for folder, stage in (("seg", "segment"), ("other", "labels")):
        (tmp_path / folder).mkdir()
        write_tiff(tmp_path / folder / "x_truth_boundaries.tif", mask)
        write_manifest(tmp_path / folder, stage)
    sections, _ = collect_sections([tmp_path])
    fig3 = [s for s in sections if s.title.startswith("Fig. 3")]
    assert not fig3  # one segment folder: no side-by-side figure
    # The segment folder's image named x_truth is a prediction there, not a truth.
    (tmp_path / "seg2").mkdir()
    write_tiff(tmp_path / "seg2" / "x_truth_boundaries.tif", mask)
    write_manifest(tmp_path / "seg2", "segment")
    sections, _ = collect_sections([tmp_path])
    fig3 = [s for s in sections if s.title.startswith("Fig. 3")]
    assert len(fig3) == 1 and len(fig3[0].items) == 2


def test_napari_reader_knows_folders_by_manifest(tmp_path):
    from grainseg.review.reader import folder_kind

    for folder, stage, kind in (("s", "segment", "segment"), ("r", "review", "labels"),
                                ("g", "grains", None)):
        (tmp_path / folder).mkdir()
        write_manifest(tmp_path / folder, stage)
        assert folder_kind(tmp_path / folder) == kind, stage
    # A grains folder measuring a segment output by its name is still not a segment folder.
    write_tiff(tmp_path / "g" / "a_grain_ids.tif", np.ones((4, 4), np.uint32))
    assert folder_kind(tmp_path / "g") is None
    (tmp_path / "g" / layout.MANIFEST).unlink()
    assert folder_kind(tmp_path / "g") == "segment"  # without a manifest: by its file names


def test_dataset_refuses_another_stages_folder_by_its_manifest(stages):
    from grainseg.data import resolve_pair
    from grainseg.errors import GrainsegError

    root, spec, _ = stages
    with pytest.raises(GrainsegError, match=r"seg: holds the outputs of `grainseg segment` "
                                            r"\(manifest.json\), not a labels folder$"):
        resolve_pair(str(root / "seg"))
    with pytest.raises(GrainsegError, match="`grainseg synth`.*given as DIR/NAME"):
        resolve_pair(str(root / "spec"))
    assert resolve_pair(str(root / "spec" / "specimen_000")).label_path == spec["boundaries"]
