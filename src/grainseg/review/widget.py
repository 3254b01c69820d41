"""The napari dock widget: segment, edit the grain map, walk the uncertain regions, save.

A thin Qt shell over `grainseg.review.session.ReviewSession`: every button calls one method
of this class (the API the tests drive), and every method calls the session. Mouse tools work on
the grain-ID layer: *merge* (click two grains), *split* (drag a line across a grain), *draw*
(drag a missing boundary), *erase* (drag over a false boundary) and *delete* (click a pit).
Points are taken in the layer's data coordinates, so they are pixels whatever the scale.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from grainseg.errors import GrainsegError
from grainseg.review.reader import layer as layer_data
from grainseg.review.session import Cancelled, ReviewSession, segment_for_review

#: Mouse tools of the grain-ID layer: name -> (button text, what the mouse does).
TOOLS = {
    "merge": ("Merge", "click two grains"),
    "split": ("Split", "drag a line across a grain"),
    "draw": ("Draw boundary", "drag along the missing boundary"),
    "erase": ("Erase boundary", "drag over the false boundary"),
    "delete": ("Delete pit", "click the false grain"),
}


class _Progress(QObject):
    """Carries progress from the worker thread to the GUI thread (queued signal)."""

    tiles = Signal(int, int)


class ReviewWidget(QWidget):
    """Review and correct a grainseg segmentation in napari.

    Parameters
    ----------
    napari_viewer : napari.Viewer or napari.components.ViewerModel
    session : ReviewSession, optional
        Shown at once (``grainseg review`` passes it); otherwise the widget adopts the layers
        the grainseg reader opened, or segments the open image.
    model : str, optional
        Model for *Segment* (default: the model shipped with grainseg).
    out : str, optional
        Folder *Save* writes to.
    """

    def __init__(self, napari_viewer, session: ReviewSession | None = None,
                 model: str | None = None, out: str | None = None) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.session: ReviewSession | None = None
        self.worker = None
        self._stop = threading.Event()
        self._progress = _Progress()
        self._progress.tiles.connect(self._show_progress)
        self._pending_point = None
        self._layers: dict = {}
        self._build(model, out)
        if session is not None:
            self.show_session(session)
        else:
            self.adopt_layers()
        self.viewer.layers.events.inserted.connect(self._on_inserted)

    # -- layout -----------------------------------------------------------------------------

    def _build(self, model: str | None, out: str | None) -> None:
        layout = QVBoxLayout(self)
        segment = QGroupBox("Segment the open image")
        form = QFormLayout(segment)
        self.model_edit = QLineEdit(model or "")
        self.model_edit.setPlaceholderText("shipped model (or model.pt / run folder)")
        form.addRow("Model", self.model_edit)
        self.flips_check = QCheckBox("flip uncertainty (4 x the time)")
        self.flips_check.setChecked(True)
        form.addRow(self.flips_check)
        buttons = QHBoxLayout()
        self.segment_button = QPushButton("Segment")
        self.segment_button.clicked.connect(self.segment)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.segment_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        self.progress_bar = QProgressBar()
        form.addRow(self.progress_bar)
        layout.addWidget(segment)

        tools = QGroupBox("Edit the grain map (on the grain IDs layer)")
        tool_layout = QVBoxLayout(tools)
        self.tool_group = QButtonGroup(self)
        self.tool_buttons: dict[str, QRadioButton] = {}
        off = QRadioButton("Off (pan and zoom)")
        off.setChecked(True)
        self.tool_group.addButton(off)
        tool_layout.addWidget(off)
        for name, (text, hint) in TOOLS.items():
            button = QRadioButton(f"{text}: {hint}")
            self.tool_group.addButton(button)
            self.tool_buttons[name] = button
            tool_layout.addWidget(button)
        self.tool_group.buttonToggled.connect(self._on_tool)
        self.brush_spin = QDoubleSpinBox()
        self.brush_spin.setRange(0.0, 20.0)
        self.brush_spin.setValue(2.0)
        self.brush_spin.setSuffix(" px")
        brush = QFormLayout()
        brush.addRow("Erase brush radius", self.brush_spin)
        tool_layout.addLayout(brush)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo)
        tool_layout.addWidget(self.undo_button)
        layout.addWidget(tools)

        review = QGroupBox("Review")
        review_layout = QVBoxLayout(review)
        self.next_button = QPushButton("Next uncertain region")
        self.next_button.clicked.connect(self.next_uncertain)
        self.mark_button = QPushButton("Mark region reviewed")
        self.mark_button.clicked.connect(self.mark_region_reviewed)
        self.mark_all_button = QPushButton("Mark all reviewed")
        self.mark_all_button.clicked.connect(self.mark_all_reviewed)
        for button in (self.next_button, self.mark_button, self.mark_all_button):
            review_layout.addWidget(button)
        layout.addWidget(review)

        save = QGroupBox("Save a labels folder")
        save_form = QFormLayout(save)
        self.out_edit = QLineEdit(out or "")
        self.out_edit.setPlaceholderText("folder")
        save_form.addRow("Folder", self.out_edit)
        self.width_spin = QSpinBox()
        self.width_spin.setRange(1, 15)
        self.width_spin.setSingleStep(2)
        self.width_spin.setValue(3)
        self.width_spin.setSuffix(" px")
        save_form.addRow("Label width", self.width_spin)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(lambda: self.save())
        save_form.addRow(self.save_button)
        layout.addWidget(save)

        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        layout.addStretch(1)

    def _say(self, message: str) -> None:
        self.status.setText(message)

    # -- layers -----------------------------------------------------------------------------

    def _image_layer(self):
        """The micrograph layer: grainseg's, else the selected image layer, else any image."""
        from napari.layers import Image

        images = [layer for layer in self.viewer.layers if isinstance(layer, Image)]
        ours = [layer for layer in images
                if layer.metadata.get("grainseg", {}).get("role") == "image"]
        active = self.viewer.layers.selection.active
        if ours:
            return ours[0]
        if isinstance(active, Image):
            return active
        return images[0] if images else None

    def adopt_layers(self) -> bool:
        """Start a session from grain-ID and image layers the grainseg reader opened."""
        from napari.layers import Labels

        for labels in self.viewer.layers:
            meta = labels.metadata.get("grainseg", {})
            if not isinstance(labels, Labels) or meta.get("role") != "grain_ids":
                continue
            stem = meta.get("stem")
            found = {layer.metadata["grainseg"]["role"]: layer for layer in self.viewer.layers
                     if layer.metadata.get("grainseg", {}).get("stem") == stem}
            if "image" not in found:
                continue
            image_path = meta.get("image_path")
            ignore = found.get("ignore")
            ids = np.asarray(labels.data)
            session = ReviewSession(
                image=np.asarray(found["image"].data), grain_ids=ids.astype(np.uint32),
                probability=None if "probability" not in found
                else np.asarray(found["probability"].data),
                uncertainty=None if "uncertainty" not in found
                else np.asarray(found["uncertainty"].data),
                reviewed=None if ignore is None else np.asarray(ignore.data)[: ids.shape[0]] == 0,
                image_path=Path(image_path) if image_path else None,
                pixel_size_um=meta.get("pixel_size_um"))
            for role in found:  # replaced by the widget's own layers
                if role not in ("image",):
                    self.viewer.layers.remove(found[role])
            self._layers["image"] = found["image"]
            self.show_session(session)
            return True
        return False

    def _on_inserted(self, event) -> None:
        if self.session is None and event.value.metadata.get("grainseg", {}).get("role"):
            self.adopt_layers()

    def _set_layer(self, role: str, data: np.ndarray | None, name: str) -> None:
        session = self.session
        current = self._layers.get(role)
        if data is None:
            return
        if current is not None and current in self.viewer.layers:
            current.data = data
            return
        stem = session.image_path.stem if session.image_path else "image"
        style_role = "ignore" if role == "not_reviewed" else role
        data, kwargs, kind = layer_data(data, style_role, stem, session.pixel_size_um,
                                        session.image_path, name=name)
        if role == "not_reviewed":  # a faint veil over what is left to check
            kwargs["metadata"]["grainseg"]["role"] = role
            kwargs.update(visible=True, opacity=0.1)
        add = self.viewer.add_labels if kind == "labels" else self.viewer.add_image
        self._layers[role] = add(data, **kwargs)

    def show_session(self, session: ReviewSession) -> None:
        """Show a session's micrograph, maps and grain IDs as layers (replacing older ones)."""
        self.session = session
        self._set_layer("image", session.image, "SEM image")
        self._set_layer("probability", session.probability, "probability")
        self._set_layer("uncertainty", session.uncertainty, "uncertainty")
        self._refresh()
        grain_layer = self._layers["grain_ids"]
        if self._on_mouse not in grain_layer.mouse_drag_callbacks:
            grain_layer.mouse_drag_callbacks.append(self._on_mouse)
        self.viewer.layers.selection.active = grain_layer
        if not self.out_edit.text() and session.image_path is not None:
            self.out_edit.setText(str(session.image_path.with_name(
                f"{session.image_path.stem}_reviewed")))

    def _refresh(self) -> None:
        session = self.session
        self._set_layer("not_reviewed", (~session.reviewed).astype(np.uint8) * np.uint8(255),
                        "not reviewed")
        self._set_layer("boundaries", session.boundaries, "boundaries")
        self._set_layer("grain_ids", session.grain_ids, "grain IDs")
        n_grains = len(np.unique(session.grain_ids[session.grain_ids > 0]))
        self._say(f"{n_grains} grains, {session.n_edits} edits, "
                  f"{session.reviewed.mean():.0%} reviewed")

    # -- segmentation -----------------------------------------------------------------------

    def segment(self):
        """Segment the open image in a worker thread; returns the worker (or None)."""
        from napari.qt.threading import create_worker

        image_layer = self._image_layer()
        if image_layer is None or np.asarray(image_layer.data).ndim != 2:
            self._say("open a 2-D grey micrograph first")
            return None
        image = np.asarray(image_layer.data)
        meta = image_layer.metadata.get("grainseg", {})
        source = meta.get("image_path") or getattr(image_layer.source, "path", None)
        pixel_size_um = meta.get("pixel_size_um")
        self._layers["image"] = image_layer
        self._stop.clear()
        model = self.model_edit.text().strip() or None
        # Errors are shown in the panel (`failed`), not raised in the Qt event loop.
        worker = create_worker(segment_for_review, image, model, flips=self.flips_check.isChecked(),
                               device="auto", on_progress=self._progress.tiles.emit,
                               stop=self._stop, _start_thread=False, _ignore_errors=True)

        def done(result: dict) -> None:
            self.show_session(ReviewSession(
                image=image, grain_ids=result["grain_ids"], probability=result["probability"],
                uncertainty=result["uncertainty"], image_path=Path(source) if source else None,
                pixel_size_um=pixel_size_um, model=result["model"]))

        def failed(exc: Exception) -> None:
            self._say("segmentation stopped" if isinstance(exc, Cancelled)
                      else f"segmentation failed: {exc}")

        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.finished.connect(lambda: self._running(False))
        self._running(True)
        self.worker = worker
        worker.start()
        return worker

    def cancel(self) -> None:
        """Ask a running segmentation to stop at its next batch of tiles."""
        self._stop.set()

    def _running(self, running: bool) -> None:
        self.segment_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress_bar.setValue(0)
            self._say("segmenting...")

    def _show_progress(self, done: int, total: int) -> None:
        self.progress_bar.setMaximum(total)
        self.progress_bar.setValue(done)

    # -- edits ------------------------------------------------------------------------------

    def _edit(self, name: str, *args) -> bool:
        if self.session is None:
            self._say("no segmentation yet: open a grainseg folder or press Segment")
            return False
        try:
            getattr(self.session, name)(*args)
        except GrainsegError as exc:
            self._say(f"{name}: {exc}")
            return False
        self._refresh()
        return True

    def merge(self, point_a_rc, point_b_rc) -> bool:
        """Merge the grains under two points (pixels); False (and a message) if refused."""
        return self._edit("merge", point_a_rc, point_b_rc)

    def split(self, path_rc) -> bool:
        """Cut the grain a line (N, 2 pixels) crosses in two."""
        return self._edit("split", np.asarray(path_rc, dtype=float))

    def draw(self, path_rc) -> bool:
        """Add a missing boundary along a path."""
        return self._edit("draw", np.asarray(path_rc, dtype=float))

    def erase(self, path_rc) -> bool:
        """Erase the boundary under a stroke (brush radius from the widget)."""
        return self._edit("erase", np.asarray(path_rc, dtype=float), self.brush_spin.value())

    def delete(self, point_rc) -> bool:
        """Delete the false grain under a point."""
        return self._edit("delete", point_rc)

    def undo(self) -> bool:
        """Undo the last edit."""
        return self._edit("undo")

    @property
    def tool(self) -> str | None:
        """The active mouse tool, or None."""
        for name, button in self.tool_buttons.items():
            if button.isChecked():
                return name
        return None

    def _on_tool(self, *_) -> None:
        self._pending_point = None
        grain_layer = self._layers.get("grain_ids")
        if grain_layer is not None:
            grain_layer.mode = "pan_zoom"
            grain_layer.mouse_pan = self.tool is None
        if self.tool:
            self._say(TOOLS[self.tool][1])

    def _on_mouse(self, layer, event):
        """Drag callback of the grain-ID layer: collect the clicked point or dragged path."""
        tool = self.tool
        if tool is None:
            return
        path = [layer.world_to_data(event.position)[-2:]]
        yield
        while event.type == "mouse_move":
            path.append(layer.world_to_data(event.position)[-2:])
            yield
        path = np.asarray(path, dtype=float)
        if tool == "merge":
            if self._pending_point is None:
                self._pending_point = path[-1]
                self._say("merge: now click the other grain")
                return
            first, self._pending_point = self._pending_point, None
            self.merge(first, path[-1])
        elif tool == "delete":
            self.delete(path[-1])
        else:
            getattr(self, tool)(path)

    # -- review -----------------------------------------------------------------------------

    def next_uncertain(self):
        """Mark the current region reviewed, centre the view on the next one; returns it."""
        if self.session is None:
            return None
        region = self.session.next_uncertain_region()
        self._refresh()
        if region is None:
            self._say("no uncertain region left to review"
                      if self.session.uncertainty is not None else "no uncertainty map")
            return None
        grain_layer = self._layers["grain_ids"]
        scale = np.asarray(grain_layer.scale)[-2:]
        self.viewer.scene.camera.center = tuple(np.asarray(region.centre_rc) * scale)
        row0, row1, col0, col1 = region.box
        corners = np.array([[row0, col0], [row0, col1], [row1, col1], [row1, col0]], float)
        current = self._layers.get("region")
        if current is not None and current in self.viewer.layers:
            current.data = [corners]
        else:
            self._layers["region"] = self.viewer.add_shapes(
                [corners], shape_type="rectangle", edge_color="yellow", face_color="transparent",
                edge_width=2, name="uncertain region", scale=tuple(scale),
                units=grain_layer.units)
        self.viewer.layers.selection.active = self._layers["grain_ids"]
        return region

    def mark_region_reviewed(self) -> None:
        """Mark the current uncertain region reviewed."""
        if self.session is not None and self.session.current_region is not None:
            self.session.mark_reviewed(self.session.current_region.box)
            self._refresh()

    def mark_all_reviewed(self) -> None:
        """Mark the whole map reviewed."""
        if self.session is not None:
            self.session.mark_reviewed()
            self._refresh()

    # -- saving -----------------------------------------------------------------------------

    def save(self, folder: str | None = None) -> Path | None:
        """Save the labels folder (default: the folder in the widget); returns its path."""
        if self.session is None:
            self._say("nothing to save yet")
            return None
        target = folder or self.out_edit.text().strip()
        if not target:
            self._say("choose a folder to save to")
            return None
        try:
            out = self.session.save(target, width_px=self.width_spin.value())
        except GrainsegError as exc:
            self._say(f"save: {exc}")
            return None
        self._say(f"saved to {out} ({self.session.reviewed.mean():.0%} reviewed)")
        return out
