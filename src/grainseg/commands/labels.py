"""``grainseg labels``: register an EBSD map to an SEM image and draw pixel-wise labels."""

from __future__ import annotations

import argparse
from pathlib import Path

# Library parameters named otherwise than their option (see `grainseg.commands.error_message`).
FLAGS = {"lagb_deg": "--lagb", "hagb_deg": "--hagb", "method": "--register"}

ORDER = 30


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "labels",
        help="labels on the SEM grid from a registered EBSD map",
        description=(
            "Register the EBSD map to the SEM image (flips and turns between instruments, "
            "rotation, scale, shear, translation, then the drift along the EBSD slow scan axis) "
            "and draw boundary labels on the SEM pixel grid. Writes DIR/label.tif (uint8, 255 = "
            "boundary), DIR/ignore.tif (uint8, 255 = no trusted label: outside the map, not "
            "indexed, data bar), DIR/grain_ids.tif (uint32, 0 = boundary/unassigned), "
            "DIR/registration.json (transform, drift statistics in SEM px, alignment score "
            "before and after) and DIR/overlay_before.png, DIR/overlay_after.png. A registration "
            "scoring below the threshold writes nothing unless --force."
        ),
    )
    parser.add_argument("--sem", type=Path, default=None, metavar="SEM.tif",
                        help="SEM image (TIFF, PNG, JPEG, BMP with its pixel size, or give "
                             "--pixel-size-um); optional with an .h5oina map, whose electron "
                             "image (BSE, FSE or SE) and map bounding box are used instead")
    parser.add_argument("--ebsd", type=Path, required=True, metavar="MAP",
                        help="EBSD map of the same area: .ang, .osc, .ctf, .cpr (+ .crc), "
                             ".h5oina or HDF5")
    parser.add_argument("--scan", default=None, metavar="NAME",
                        help="scan (EDAX .h5) or slice (.h5oina) to read; default the first")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--register", choices=("auto", "affine", "none"), default="auto",
                        help="auto: affine + drift (default); affine: no drift; none: the "
                             "nominal mapping from the files (scale only, corners together)")
    parser.add_argument("--points", type=Path, metavar="PAIRS.csv",
                        help="control points, columns sem_x,sem_y,ebsd_x,ebsd_y (pixel and "
                             "point column/row): replaces the automatic registration with a "
                             "thin-plate spline (affine with --register affine or < 6 pairs)")
    parser.add_argument("--lagb", type=float, default=2.0, metavar="DEG",
                        help="draw low-angle boundaries from this misorientation (default 2; "
                             "equal to --hagb for none)")
    parser.add_argument("--hagb", type=float, default=10.0, metavar="DEG",
                        help="high-angle threshold, also the grain threshold (default 10)")
    parser.add_argument("--twins", choices=("include", "exclude"), default="include",
                        help="draw Sigma-3 twin boundaries (default include)")
    parser.add_argument("--width-px", type=int, default=3, metavar="N",
                        help="boundary line width, SEM pixels (default 3)")
    parser.add_argument("--pixel-size-um", type=float, default=None, metavar="UM",
                        help="SEM pixel size when the file does not carry it (or to override)")
    parser.add_argument("--force", action="store_true",
                        help="write labels even when the alignment score is doubtful")
    parser.set_defaults(func=run)


def _check_output_folder(out: Path) -> None:
    """Fail early, before any work, on an output folder that cannot be created or written,
    or that holds another stage's outputs."""
    from grainseg.io.atomic import check_output_dir
    from grainseg.io.owner import claim_folder

    check_output_dir(out)
    claim_folder(out, "labels")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from grainseg import layout
    from grainseg.errors import GrainsegError
    from grainseg.io.atomic import ensure_output_dir, write_json_atomic
    from grainseg.io.ebsd import read_ebsd
    from grainseg.io.ebsd.h5oina import read_electron_image
    from grainseg.io.manifest import write_manifest
    from grainseg.io.png import save_rgb_png
    from grainseg.io.tiff import read_micrograph, write_mask, write_tiff
    from grainseg.labels import label_source, render_labels
    from grainseg.overlay import overlay_rgb
    from grainseg.pixel_size import check_pixel_size_um
    from grainseg.preprocess import data_bar_start_row, preprocess_sem
    from grainseg.register import (
        box_mapping,
        check_registration,
        nominal_mapping,
        read_point_pairs,
        register_ebsd,
    )

    _check_output_folder(args.out)
    if args.width_px < 1:
        raise GrainsegError(f"--width-px must be at least 1, got {args.width_px}")
    if args.pixel_size_um is not None:
        check_pixel_size_um(args.pixel_size_um, f"--pixel-size-um {args.pixel_size_um:g}")
    ebsd = read_ebsd(args.ebsd, scan=args.scan)
    start = None
    if args.sem is not None:
        micrograph = read_micrograph(args.sem, args.pixel_size_um)
    elif args.ebsd.suffix.lower() == ".h5oina":
        micrograph, box = read_electron_image(args.ebsd, scan=args.scan)
        if box is not None:  # where the instrument put the map in its own image
            start = box_mapping(box.x0_px, box.y0_px, box.width_px, box.height_px, ebsd.shape)
            if micrograph.pixel_size_um is None:
                micrograph.pixel_size_um = ebsd.step_um * ebsd.shape[1] / box.width_px
        if args.pixel_size_um is not None:
            micrograph.pixel_size_um = args.pixel_size_um
    else:
        raise GrainsegError(f"{args.ebsd}: give the SEM image with --sem (only an .h5oina map "
                            "carries its electron image)")
    sem_path = args.sem if args.sem is not None else args.out / layout.LABELS_SEM
    pixel_size_um = micrograph.pixel_size_um
    if pixel_size_um is None:
        raise GrainsegError(f"{sem_path}: the file does not give its pixel size; use "
                            "--pixel-size-um")
    points = read_point_pairs(args.points) if args.points is not None else None
    source = label_source(ebsd, args.lagb, args.hagb, twins=args.twins == "include")
    if not source.usable.any():
        raise GrainsegError(f"{args.ebsd}: no indexed point belongs to a grain; nothing to label")

    image = micrograph.image
    height, width = image.shape
    bar_row = data_bar_start_row(image)
    sem = np.zeros((height, width), dtype=np.float32)
    sem[:bar_row] = preprocess_sem(image[:bar_row])
    valid = np.zeros((height, width), dtype=bool)
    valid[:bar_row] = True
    sem_px_per_point = ebsd.step_um / pixel_size_um
    registration = register_ebsd(
        sem, valid, source.segments, sem_px_per_point, args.register, points, progress=True,
        initial=start,
    )
    check_registration(registration, force=args.force, sem_path=sem_path,
                       ebsd_path=args.ebsd)

    valid_rows = bar_row if bar_row < height else None
    label, ignore, grain_ids = render_labels(
        registration.mapping, (height, width), source, args.width_px, valid_rows
    )
    before, _, _ = render_labels(
        start or nominal_mapping(sem_px_per_point), (height, width), source, 1, valid_rows
    )
    after, _, _ = render_labels(registration.mapping, (height, width), source, 1, valid_rows)

    out = ensure_output_dir(args.out)
    if args.sem is None:  # the folder names its SEM image, as a data set pair needs
        write_tiff(sem_path, image, pixel_size_um)
    write_mask(out / layout.LABEL, label, pixel_size_um)
    write_mask(out / layout.IGNORE, ignore, pixel_size_um)
    write_tiff(out / layout.GRAIN_IDS, grain_ids, pixel_size_um)
    for name, lines in ((layout.OVERLAY_BEFORE, before), (layout.OVERLAY_AFTER, after)):
        save_rgb_png(overlay_rgb(sem, lines), out / name)
    report = {
        "sem_path": str(Path(sem_path).resolve()),
        "sem_source": micrograph.notes[0] if args.sem is None else str(args.sem),
        "ebsd_path": str(Path(args.ebsd).resolve()),
        "sem_shape_px": [height, width],
        "ebsd_shape_points": list(ebsd.shape),
        "sem_pixel_size_um": pixel_size_um,
        "ebsd_step_um": ebsd.step_um,
        "nominal_sem_px_per_ebsd_step": sem_px_per_point,
        "data_bar_start_row": bar_row,
        "options": {
            "register": args.register,
            "points": str(args.points) if args.points else None,
            "lagb_deg": args.lagb,
            "hagb_deg": args.hagb,
            "twins": args.twins,
            "width_px": args.width_px,
            "force": args.force,
        },
        **registration.to_dict(),
        "boundary_fraction": float((label > 0).mean()),
        "ignored_fraction": float((ignore > 0).mean()),
        "n_grains": int(np.unique(grain_ids[grain_ids > 0]).size),
    }
    write_json_atomic(out / layout.REGISTRATION, report)
    write_manifest(out, "labels", [p for p in (args.sem, args.ebsd, args.points) if p is not None],
                   settings={**report["options"], "scan": args.scan,
                             "pixel_size_um": args.pixel_size_um})
    doubtful = registration.score_after < report["score_threshold"]
    note = " (doubtful, written with --force)" if doubtful else ""
    print(
        f"registered {args.ebsd.name} on {sem_path.name} ({registration.method}): score "
        f"{registration.score_before:.2f} -> {registration.score_after:.2f}{note}, drift "
        f"mean {registration.drift['drift_mean_px']:.1f} px, p95 "
        f"{registration.drift['drift_p95_px']:.1f} px, max {registration.drift['drift_max_px']:.1f}"
        f" px; {report['n_grains']} grains, boundaries {100 * report['boundary_fraction']:.1f}% "
        f"of pixels, ignored {100 * report['ignored_fraction']:.1f}% -> {out}"
    )
    return 0
