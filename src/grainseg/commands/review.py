"""``grainseg review``: open a micrograph and its segmentation in napari to check and correct."""

from __future__ import annotations

import argparse
from pathlib import Path

ORDER = 75


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "review",
        help="check and correct a segmentation in napari, save it as a labels folder",
        description=(
            "Open an SEM micrograph in napari with its segmentation (--seg: a `grainseg "
            "segment` output folder, or a folder saved by an earlier review, to continue it) "
            "and the grainseg review panel: segment with a chosen model, merge and split "
            "grains, draw and erase boundaries, delete pits, undo; the boundary network stays "
            "closed after every edit. 'Next uncertain region' walks the places where the "
            "network hesitates (probability near the threshold, disagreement between flipped "
            "predictions). Save writes a labels folder that `grainseg dataset` reads as it is "
            "(label.tif, ignore.tif = not reviewed yet, review.json with the image path) with "
            "the corrected grain_ids.tif and the grain statistics (grains/). Needs the gui "
            "extra: pip install 'grainseg[gui]'."
        ),
    )
    parser.add_argument("image", type=Path, metavar="IMAGE", help="SEM micrograph")
    parser.add_argument("--seg", type=Path, metavar="DIR",
                        help="segment output folder or saved review folder of IMAGE")
    parser.add_argument("--model", type=Path, default=None,
                        help="model for the Segment button (default: the shipped model)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="folder the Save button writes (default: IMAGE_STEM_reviewed "
                             "beside IMAGE)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from grainseg.errors import GrainsegError
    from grainseg.review.session import load_session

    try:
        import napari
    except ImportError:
        raise GrainsegError(
            "napari is not installed: pip install 'grainseg[gui]' to review in napari") from None
    from grainseg.review.widget import ReviewWidget

    session = load_session(args.image, args.seg)
    viewer = napari.Viewer(title=f"grainseg review: {args.image.name}")
    widget = ReviewWidget(viewer, session=session,
                          model=str(args.model) if args.model else None,
                          out=str(args.out) if args.out else None)
    viewer.window.add_dock_widget(widget, name="grainseg review", area="right")
    napari.run()
    return 0
