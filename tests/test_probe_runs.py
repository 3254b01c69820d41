"""The new-user probe of runs and commands (issue 19): re-runs, interrupts, batch summaries."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
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


# ------------------------------------------------------------ segment: stderr, Ctrl-C, summary


@pytest.fixture
def three_images(tmp_path):
    from test_infer_segment import cell_image

    from grainseg.io.tiff import write_tiff

    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for k in range(3):
        paths.append(folder / f"img{k}.tif")
        write_tiff(paths[-1], cell_image((48, 56), 4, seed=k), 0.1)
    return paths


def _segment(paths, out, model_file, *extra):
    return main(["segment", *map(str, paths), "--model", str(model_file), "--out", str(out),
                 "--tile", "64", *extra])


def test_segment_reports_a_failed_image_on_stderr(three_images, model_file, tmp_path, capsys):
    broken = tmp_path / "in" / "broken.tif"
    broken.write_bytes(b"II*\x00 this is not a TIFF")
    assert _segment([three_images[0], broken], tmp_path / "out", model_file) == 1
    captured = capsys.readouterr()
    assert "broken.tif" in captured.err and "broken.tif" not in captured.out
    assert "segmented 1 image(s)" in captured.out


def test_ctrl_c_in_segment_still_writes_the_summary(three_images, model_file, tmp_path, capsys,
                                                    monkeypatch):
    from grainseg.infer import batch

    real = batch.segment_file
    calls = []

    def interrupted_at_the_second(image_path, *args, **kwargs):
        calls.append(image_path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(image_path, *args, **kwargs)

    monkeypatch.setattr(batch, "segment_file", interrupted_at_the_second)
    out = tmp_path / "out"
    assert _segment(three_images, out, model_file) == 130
    assert "grainseg segment: interrupted" in capsys.readouterr().err
    summary = json.loads((out / "segment_summary.json").read_text())
    assert summary["interrupted"] is True
    assert [r["image"] for r in summary["images"]] == [str(three_images[0])]
    assert summary["not_done"] == [str(p) for p in three_images[1:]]


def test_skip_existing_summary_describes_the_whole_folder(three_images, model_file, tmp_path):
    out = tmp_path / "out"
    assert _segment(three_images[:2], out, model_file) == 0
    first = json.loads((out / "segment_summary.json").read_text())["images"]
    assert _segment(three_images, out, model_file, "--skip-existing") == 0
    summary = json.loads((out / "segment_summary.json").read_text())
    assert summary["skipped_existing"] == 2 and summary["interrupted"] is False
    by_image = {r["image"]: r for r in summary["images"]}
    assert sorted(by_image) == sorted(map(str, three_images))
    for record in first:  # the earlier run's figures, kept for the images it segmented
        assert by_image[record["image"]]["n_grains"] == record["n_grains"]
    assert by_image[str(three_images[2])]["status"] == "done"


# ------------------------------------------------------------ segment: folders and globs


@pytest.fixture
def nested_images(three_images, tmp_path):
    """img0..2.tif in in/, one more in in/sub/, and a text file beside them."""
    import shutil

    (tmp_path / "in" / "sub").mkdir()
    shutil.copy(three_images[0], tmp_path / "in" / "sub" / "deep.tif")
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    return tmp_path / "in"


def _segmented(out):
    summary = json.loads((out / "segment_summary.json").read_text())
    return sorted(r["image"] for r in summary["images"])


@pytest.mark.parametrize("recursive", [False, True])
def test_segment_takes_a_folder(nested_images, model_file, tmp_path, recursive):
    out = tmp_path / "out"
    assert _segment([nested_images], out, model_file,
                    *(["--recursive"] if recursive else [])) == 0
    expected = [str(nested_images / f"img{k}.tif") for k in range(3)]
    if recursive:
        expected.append(str(nested_images / "sub" / "deep.tif"))
    assert _segmented(out) == sorted(expected)


@pytest.mark.parametrize(("pattern", "extra", "n"), [("img[01].tif", [], 2), ("*.tif", [], 3),
                                                     ("**/*.tif", ["--recursive"], 4)])
def test_segment_takes_a_quoted_glob(nested_images, model_file, tmp_path, pattern, extra, n):
    out = tmp_path / "out"
    assert _segment([f"{nested_images}/{pattern}"], out, model_file, *extra) == 0
    assert len(_segmented(out)) == n


def test_segment_glob_or_folder_without_images_is_one_line(nested_images, model_file, tmp_path,
                                                           capsys):
    assert _segment([f"{nested_images}/*.png"], tmp_path / "o", model_file) == 2
    assert f"{nested_images}/*.png: no file matches" in one_error_line(capsys)
    (tmp_path / "empty").mkdir()
    assert _segment([tmp_path / "empty"], tmp_path / "o", model_file) == 2
    line = one_error_line(capsys)
    assert f"{tmp_path / 'empty'}: folder holds no micrograph" in line and "--recursive" in line


def test_segment_help_says_folders_and_globs(capsys):
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "folder" in text and "glob" in text and "--recursive" in text


# ------------------------------------------------------------ labels on small synthetic pairs


def _small_pair(tmp_path, seed, grain_size_um):
    """One 256 x 192 px `grainseg synth` specimen: (SEM path, EBSD path)."""
    folder = tmp_path / f"synth_{seed}"
    assert main(["synth", str(folder), "--n", "1", "--size", "256x192", "--seed", str(seed),
                 "--grain-size-um", str(grain_size_um)]) == 0
    return folder / "specimen_000_sem.tif", folder / "specimen_000_ebsd.ctf"


def test_labels_registers_a_small_synthetic_pair(tmp_path, capsys):
    """256 x 192 px, 2.5 um grains: the refinement once lost its way here (score 0.29 -> 0.62,
    the map on 28% of the image) and the pair was refused."""
    sem, ebsd = _small_pair(tmp_path, 2, 2.5)
    assert main(["labels", "--sem", str(sem), "--ebsd", str(ebsd),
                 "--out", str(tmp_path / "lab")]) == 0
    record = json.loads((tmp_path / "lab" / "registration.json").read_text())
    assert record["score_after"] >= 0.7 and record["coverage"] >= 0.9


def test_labels_refuses_a_map_of_few_grains_by_its_reason(tmp_path, capsys):
    """256 x 192 px of 15 um grains (a few in view): not "0% of the image on the map"."""
    sem, ebsd = _small_pair(tmp_path, 1, 15)
    capsys.readouterr()
    assert main(["labels", "--sem", str(sem), "--ebsd", str(ebsd),
                 "--out", str(tmp_path / "lab")]) == 2
    line = one_error_line(capsys)
    assert re.search(r"the EBSD map holds only [1-7] grain\(s\), too few to place it", line)
    assert "--points" in line and "--force" in line


def test_refinement_never_returns_a_worse_mapping_than_its_start(tmp_path, monkeypatch):
    """A refinement that slides the map off the image is not taken."""
    from grainseg.io.ebsd import read_ebsd
    from grainseg.io.tiff import read_micrograph
    from grainseg.labels import label_source
    from grainseg.preprocess import preprocess_sem
    from grainseg.register import pipeline
    from grainseg.register.mapping import AffineDriftMapping

    sem_path, ebsd_path = _small_pair(tmp_path, 2, 2.5)
    ebsd, micrograph = read_ebsd(ebsd_path), read_micrograph(sem_path)
    segments = label_source(ebsd, 2.0, 15.0).segments
    sem = preprocess_sem(micrograph.image)
    valid = np.ones(sem.shape, bool)

    def lost(sem, valid, segments, mapping, **kwargs):
        affine = mapping.affine.copy()
        affine[:, 2] += 1000.0  # far off the map
        return AffineDriftMapping(affine, mapping.knots, mapping.coef)

    monkeypatch.setattr(pipeline, "refine_mapping", lost)
    scale = ebsd.step_um / micrograph.pixel_size_um
    registration = pipeline.register_ebsd(sem, valid, segments, scale)
    assert registration.overlap > pipeline.MIN_OVERLAP
    # ranked no lower than the nominal mapping, one of the starts
    smooth = pipeline.smooth_valid(sem, valid, pipeline.SCORE_SIGMA_PX)
    score, overlap = pipeline.alignment_score(smooth, valid, segments,
                                              pipeline.nominal_mapping(scale))
    possible = pipeline.possible_overlap(valid, segments, scale)
    assert (registration.score_after * registration.coverage
            >= score * min(1.0, overlap / possible) - 1e-6)


def test_errors_doc_gives_the_registration_thresholds_of_the_code():
    from grainseg.register.score import MIN_COVERAGE, MIN_GRAINS, MIN_SCORE

    doc = (Path(__file__).parents[1] / "docs" / "errors.md").read_text(encoding="utf-8")
    assert f"alignment score S is below {MIN_SCORE:.2f}" in doc
    assert f"area it could cover (need {100 * MIN_COVERAGE:.0f}%" in doc
    assert f"too few to place it by their boundaries (need {MIN_GRAINS}" in doc


# ------------------------------------------------------------ progress bars and library noise


def test_every_command_takes_no_progress():
    from grainseg.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        assert "--no-progress" in sub._option_string_actions, name


def test_no_bars_when_stderr_is_not_a_terminal(three_images, model_file, tmp_path, capsys):
    assert _segment(three_images, tmp_path / "out", model_file) == 0
    assert "%|" not in capsys.readouterr().err


@pytest.mark.parametrize("flag", [[], ["--no-progress"]])
def test_no_progress_turns_the_bars_off_on_a_terminal(three_images, model_file, tmp_path, capsys,
                                                       monkeypatch, flag):
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert _segment(three_images, tmp_path / "out", model_file, *flag) == 0
    assert ("%|" in capsys.readouterr().err) == (not flag)


def test_a_model_file_of_another_pickle_protocol_loads_without_a_warning(model_file, tmp_path):
    import warnings

    import torch

    from grainseg.models import load_model

    path = tmp_path / "p3.pt"
    torch.save(torch.load(model_file, weights_only=True), path, pickle_protocol=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_model(path)


# ------------------------------------------------------------ one wording for output folders


def _command(name, out, sem, model_file):
    ebsd = str(Path(__file__).parent / "data" / "ebsd" / "copper_hex_crop.ang")
    return {
        "synth": ["synth", str(out), "--n", "1", "--size", "256x192"],
        "segment": ["segment", str(sem), "--model", str(model_file), "--out", str(out)],
        "grains": ["grains", str(sem), "--out", str(out)],
        "ebsd-grains": ["ebsd-grains", ebsd, "--out", str(out)],
        "labels": ["labels", "--sem", str(sem), "--ebsd", ebsd, "--out", str(out)],
        "train": ["train", str(out.parent), "--out", str(out)],
        "compare": ["compare", str(out.parent), "--out", str(out), "--archs", "unet"],
        "demo": ["demo", "--quick", "--out", str(out)],
        "report": ["report", str(out.parent), "--out", str(out / "report.html")],
    }[name]


COMMANDS = ["synth", "segment", "grains", "ebsd-grains", "labels", "train", "compare", "demo",
            "report"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_words_a_file_given_as_out_alike(name, three_images, model_file,
                                                       tmp_path, capsys):
    out = tmp_path / "afile"
    out.write_text("keep me")
    assert main(_command(name, out, three_images[0], model_file)) == 2
    assert f"{out}: exists and is not a folder; choose another --out" in one_error_line(capsys)
    assert out.read_text() == "keep me"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_words_an_out_below_a_file_alike(name, three_images, model_file,
                                                       tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    out = blocker / "sub"
    assert main(_command(name, out, three_images[0], model_file)) == 2
    line = one_error_line(capsys)
    assert f"{out}: cannot create output folder (Not a directory)" in line
