"""Screenshot of the review panel on a real micrograph -> docs/review_widget.png.

Segments ../shared/data/sem/austenitic_steel_bse_002.tif with the shipped model (flip
uncertainty on), opens it in napari with the grainseg review panel docked, jumps to the most
uncertain region and saves a screenshot of the whole window. Needs a display with OpenGL; on a
headless machine run it under Xvfb:

    QT_QPA_PLATFORM=offscreen xvfb-run -a -s "-screen 0 1600x1000x24" \
        python benchmarks/figure_review.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = ROOT.parent / "shared" / "data" / "sem" / "austenitic_steel_bse_002.tif"
OUT = ROOT / "docs" / "review_widget.png"


def main() -> int:
    import napari
    from matplotlib.image import imsave

    from grainseg.io.atomic import atomic_path
    from grainseg.io.tiff import read_micrograph
    from grainseg.review.session import ReviewSession, segment_for_review
    from grainseg.review.widget import ReviewWidget

    micrograph = read_micrograph(IMAGE)
    result = segment_for_review(micrograph.image, flips=True, device="cpu")
    session = ReviewSession(image=micrograph.image, grain_ids=result["grain_ids"],
                            probability=result["probability"],
                            uncertainty=result["uncertainty"], image_path=IMAGE,
                            pixel_size_um=micrograph.pixel_size_um, model=result["model"])
    viewer = napari.Viewer(title=f"grainseg review: {IMAGE.name}", show=False)
    widget = ReviewWidget(viewer, session=session)
    viewer.window.add_dock_widget(widget, name="grainseg review", area="right")
    widget._layers["uncertainty"].visible = True
    viewer.window.resize(1500, 900)
    viewer.reset_view()
    region = widget.next_uncertain()
    viewer.scene.camera.zoom *= 2.2
    viewer.scene.camera.center = tuple(v * micrograph.pixel_size_um for v in region.centre_rc)
    pixels = viewer.screenshot(canvas_only=False, flash=False)
    with atomic_path(OUT) as tmp:
        imsave(tmp, pixels, format="png")
    viewer.close()
    print(f"{session.grain_ids.max()} grains; screenshot -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
