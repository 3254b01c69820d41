"""The napari plugin, headless (QT_QPA_PLATFORM=offscreen, pytest-qt): manifest, reader, widget.

The widget runs on napari's `ViewerModel` (the viewer without its OpenGL canvas), so these
tests need no display and no GPU; `test_review_command_opens_napari` also opens the full viewer
where an OpenGL context can be made (under Xvfb, or on a desktop) and is skipped elsewhere.
"""

from __future__ import annotations

import json
import os
from importlib.resources import files
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

napari = pytest.importorskip("napari")
pytest.importorskip("pytestqt")

from napari.components import ViewerModel  # noqa: E402
from napari.layers import Layer  # noqa: E402
from scipy import ndimage  # noqa: E402

from grainseg.data import build_dataset, resolve_pair  # noqa: E402
from grainseg.io.manifest import read_manifest  # noqa: E402
from grainseg.io.tiff import read_micrograph, write_tiff  # noqa: E402
from grainseg.review import edits  # noqa: E402
from grainseg.review.reader import get_reader, read_folder  # noqa: E402
from grainseg.review.widget import ReviewWidget  # noqa: E402

SAMPLE = Path(str(files("grainseg") / "sample_data" / "austenitic_steel_bse_002.tif"))
MANIFEST = Path(str(files("grainseg") / "napari.yaml"))
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def small_image(tmp_path_factory) -> Path:
    """A 192 x 256 px crop of the shipped real micrograph, with its pixel size."""
    micrograph = read_micrograph(SAMPLE)
    path = tmp_path_factory.mktemp("image") / "crop.tif"
    write_tiff(path, micrograph.image[300:492, 400:656], micrograph.pixel_size_um)
    return path


def open_widget(qtbot, image_path: Path, flips: bool = True) -> tuple[ViewerModel, ReviewWidget]:
    """A viewer with the image open and the widget docked on it, segmented."""
    micrograph = read_micrograph(image_path)
    viewer = ViewerModel()
    viewer.add_image(micrograph.image, name="crop", metadata={"grainseg": {
        "role": "image", "image_path": str(image_path),
        "pixel_size_um": micrograph.pixel_size_um}})
    widget = ReviewWidget(viewer)
    qtbot.addWidget(widget)
    widget.flips_check.setChecked(flips)
    worker = widget.segment()
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: widget.session is not None, timeout=WAIT_MS)
    return viewer, widget


def touching_pair(grain_ids: np.ndarray) -> tuple[int, int]:
    """Two grains sharing a boundary: the largest grain and its largest neighbour."""
    areas = np.bincount(grain_ids.ravel())
    areas[0] = 0
    a = int(areas.argmax())
    ring = ndimage.binary_dilation(grain_ids == a, iterations=2) & (grain_ids > 0) & (grain_ids != a)
    return a, int(np.bincount(grain_ids[ring]).argmax())


def centroid(grain_ids: np.ndarray, grain: int) -> np.ndarray:
    """A pixel of the grain near its centre (the interior pixel deepest inside it)."""
    depth = ndimage.distance_transform_edt(grain_ids == grain)
    return np.array(np.unravel_index(depth.argmax(), depth.shape), dtype=float)


def test_manifest_declares_the_reader_and_the_widget():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_file(MANIFEST)
    commands = {c.id: c.python_name for c in manifest.contributions.commands}
    assert commands["grainseg.get_reader"] == "grainseg.review.reader:get_reader"
    assert commands["grainseg.review_widget"] == "grainseg.review.widget:ReviewWidget"
    assert manifest.contributions.readers[0].accepts_directories
    assert manifest.contributions.widgets[0].command == "grainseg.review_widget"


def test_segment_edit_undo_and_save_through_the_widget(qtbot, small_image, tmp_path):
    viewer, widget = open_widget(qtbot, small_image)
    session = widget.session
    assert widget.progress_bar.value() == widget.progress_bar.maximum() > 0
    assert session.grain_ids.shape == (192, 256) and session.uncertainty is not None
    names = [layer.name for layer in viewer.layers]
    for name in ("probability", "uncertainty", "boundaries", "grain IDs", "not reviewed"):
        assert name in names
    grains_layer = widget._layers["grain_ids"]
    assert np.allclose(grains_layer.scale, session.pixel_size_um)
    assert edits.network_problems(session.grain_ids) == []

    region = widget.next_uncertain()
    assert region is not None
    scale = session.pixel_size_um
    assert np.allclose(viewer.scene.camera.center[-2:], np.asarray(region.centre_rc) * scale)
    widget.next_uncertain()
    row0, row1, col0, col1 = region.box
    assert session.reviewed[row0:row1, col0:col1].all()

    ids = session.grain_ids.copy()
    a, b = touching_pair(ids)
    assert widget.merge(centroid(ids, a), centroid(ids, b))
    merged = session.grain_ids
    assert merged[ids == a][0] == merged[ids == b][0]
    assert np.array_equal(grains_layer.data, merged)
    assert edits.network_problems(merged) == []

    assert widget.undo()
    assert np.array_equal(session.grain_ids, ids)
    assert np.array_equal(grains_layer.data, ids)

    # Split the largest grain with a line through its centre, spanning its bounding box.
    rows, cols = np.nonzero(ids == a)
    centre = centroid(ids, a)
    line = np.array([[rows.min() - 3, centre[1]], [rows.max() + 3, centre[1]]])
    n_before = len(np.unique(ids)) - 1
    assert widget.split(line)
    assert len(np.unique(session.grain_ids)) - 1 == n_before + 1
    assert edits.network_problems(session.grain_ids) == []

    # Erase the line just drawn: the two halves are one grain again.
    assert widget.erase(np.array([[centre[0], centre[1]]]))
    assert len(np.unique(session.grain_ids)) - 1 == n_before
    assert edits.network_problems(session.grain_ids) == []

    # Draw a missing boundary along the same line: the grain is split again.
    assert widget.draw(line)
    assert len(np.unique(session.grain_ids)) - 1 == n_before + 1
    assert edits.network_problems(session.grain_ids) == []

    # Delete the smallest grain, as if it were a pit.
    current = session.grain_ids
    areas = np.bincount(current.ravel())
    areas[0] = areas.max() + 1
    pit = int(areas.argmin())
    assert widget.delete(centroid(current, pit))
    assert pit not in session.grain_ids
    assert edits.network_problems(session.grain_ids) == []

    # A refused edit leaves the map and says why.
    before = session.grain_ids.copy()
    assert not widget.split(np.array([[centre[0], centre[1]], [centre[0], centre[1] + 1]]))
    assert "split" in widget.status.text()
    assert np.array_equal(session.grain_ids, before)
    assert session.n_edits == 4

    out = widget.save(str(tmp_path / "reviewed"))
    assert out is not None
    label = read_micrograph(out / "label.tif").image
    ignore = read_micrograph(out / "ignore.tif").image
    saved_ids = read_micrograph(out / "grain_ids.tif").image
    assert np.array_equal(saved_ids, session.grain_ids)
    assert label.shape == ignore.shape == (192, 256)
    assert set(np.unique(label)) == {0, 255} and (label[session.grain_ids == 0] == 255).all()
    assert np.array_equal(ignore == 0, session.reviewed)
    assert 0 < (ignore == 0).mean() < 1  # edited and visited regions only
    record = json.loads((out / "review.json").read_text())
    assert Path(record["sem_path"]) == small_image.resolve()
    assert record["n_edits"] == 4
    assert read_manifest(out)["stage"] == "review"
    assert read_manifest(out / "grains")["stage"] == "grains"
    table = (out / "grains" / "grains.csv").read_text().splitlines()
    assert len(table) - 1 == len(np.unique(saved_ids)) - 1
    assert "ecd_um" in table[0]

    # `grainseg dataset` reads the saved folder as it is.
    pair = resolve_pair(str(out))
    assert pair.sem_path == small_image.resolve() and pair.ignore_path is not None
    info = build_dataset([pair], tmp_path / "ds", patch=64, val_frac=0.0)
    assert info["n_patches"] > 0


def test_cancel_stops_the_segmentation(qtbot, small_image):
    micrograph = read_micrograph(small_image)
    viewer = ViewerModel()
    viewer.add_image(micrograph.image, name="crop")
    widget = ReviewWidget(viewer)
    qtbot.addWidget(widget)
    worker = widget.segment()
    widget.cancel()
    with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: widget.segment_button.isEnabled(), timeout=WAIT_MS)
    assert widget.session is None
    assert "stopped" in widget.status.text()


def test_reader_opens_a_saved_folder_and_the_widget_continues_it(qtbot, small_image, tmp_path):
    _, widget = open_widget(qtbot, small_image, flips=False)
    session = widget.session
    a, b = touching_pair(session.grain_ids)
    assert widget.merge(centroid(session.grain_ids, a), centroid(session.grain_ids, b))
    out = widget.save(str(tmp_path / "reviewed"))

    assert get_reader(str(tmp_path)) is None  # not a grainseg folder
    reader = get_reader(str(out))
    assert reader is not None
    layers = reader(str(out))
    roles = [kwargs["metadata"]["grainseg"]["role"] for _, kwargs, _ in layers]
    assert roles[0] == "image" and roles[-1] == "grain_ids" and "boundaries" in roles
    for _, kwargs, _ in layers:
        assert kwargs["scale"] == (session.pixel_size_um, session.pixel_size_um)
        assert kwargs["units"] == ("um", "um")

    viewer = ViewerModel()
    for data in read_folder(out):
        viewer.add_layer(Layer.create(*data))
    resumed = ReviewWidget(viewer)
    qtbot.addWidget(resumed)
    assert resumed.session is not None
    assert np.array_equal(resumed.session.grain_ids, session.grain_ids)
    assert np.array_equal(resumed.session.reviewed, session.reviewed)
    assert resumed.session.image_path == small_image.resolve()


def test_reader_opens_a_segment_folder(tmp_path, small_image):
    from grainseg.cli import main

    assert main(["segment", str(small_image), "--out", str(tmp_path / "seg")]) == 0
    layers = read_folder(tmp_path / "seg")
    roles = [kwargs["metadata"]["grainseg"]["role"] for _, kwargs, _ in layers]
    assert roles == ["image", "probability", "boundaries", "grain_ids"]
    assert layers[-1][2] == "labels" and layers[-1][0].dtype == np.uint32


def _can_make_opengl_context() -> bool:
    from qtpy.QtGui import QOffscreenSurface, QOpenGLContext
    from qtpy.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    surface = QOffscreenSurface()
    surface.create()
    context = QOpenGLContext()
    return bool(context.create() and context.makeCurrent(surface)
                and context.functions().glGetString(0x1F03))  # GL_EXTENSIONS


def test_review_command_opens_napari(qtbot, small_image, tmp_path, monkeypatch):
    if not _can_make_opengl_context():
        pytest.skip("no OpenGL context here (run under Xvfb to open the full viewer)")
    from grainseg.cli import main

    assert main(["segment", str(small_image), "--out", str(tmp_path / "seg")]) == 0
    opened = []
    monkeypatch.setattr(napari, "run", lambda: opened.append(napari.current_viewer()))
    assert main(["review", str(small_image), "--seg", str(tmp_path / "seg")]) == 0
    viewer = opened[0]
    try:
        docked = viewer.window.dock_widgets
        widget = next(w for w in docked.values() if isinstance(w, ReviewWidget))
        assert widget.session.grain_ids.shape == (192, 256)
        assert "grain IDs" in [layer.name for layer in viewer.layers]
    finally:
        viewer.close()


def test_review_command_reports_a_bad_folder(tmp_path, small_image, capsys):
    from grainseg.cli import main

    assert main(["review", str(small_image), "--seg", str(tmp_path)]) == 2
    assert "no crop_grain_ids.tif" in capsys.readouterr().err


class _MouseEvent:
    """The two attributes of a napari mouse event that the tools read."""

    def __init__(self, position):
        self.position, self.type = tuple(position), "mouse_press"


def _drag(widget: ReviewWidget, points_rc) -> None:
    """Drive the grain-ID layer's drag callback through press, moves and release."""
    layer = widget._layers["grain_ids"]
    scale = np.asarray(layer.scale)
    event = _MouseEvent(np.asarray(points_rc[0]) * scale)
    steps = widget._on_mouse(layer, event)
    next(steps)
    for point in points_rc[1:]:
        event.type, event.position = "mouse_move", tuple(np.asarray(point) * scale)
        next(steps)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(steps)


def test_mouse_tools_call_the_edits(qtbot, small_image):
    _, widget = open_widget(qtbot, small_image, flips=False)
    ids = widget.session.grain_ids.copy()
    a, b = touching_pair(ids)
    widget.tool_buttons["merge"].setChecked(True)
    assert widget.tool == "merge" and not widget._layers["grain_ids"].mouse_pan
    _drag(widget, [centroid(ids, a)])
    assert widget.session.n_edits == 0 and "other grain" in widget.status.text()
    _drag(widget, [centroid(ids, b)])
    assert widget.session.n_edits == 1
    assert widget.session.grain_ids[ids == b][0] == widget.session.grain_ids[ids == a][0]

    widget.tool_buttons["split"].setChecked(True)
    rows, _ = np.nonzero(ids == a)
    centre = centroid(ids, a)
    line = [(r, centre[1]) for r in np.linspace(rows.min() - 3, rows.max() + 3, 12)]
    _drag(widget, line)
    assert widget.session.n_edits == 2
    assert widget.session.history[-1].name == "split"
    widget.tool_group.buttons()[0].setChecked(True)  # off: pan and zoom again
    assert widget.tool is None and widget._layers["grain_ids"].mouse_pan
