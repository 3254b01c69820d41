"""``grainseg segment``: whole micrographs -> probability, closed boundary network, grain IDs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ORDER = 70


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment",
        help="segment whole SEM micrographs into closed boundary networks",
        description=(
            "Segment SEM micrographs of any size with a trained network: the data bar is left "
            "out, the image preprocessed as in training, predicted in overlapping tiles blended "
            "without seams, and turned into a closed one-pixel-wide boundary network (watershed "
            "of the probability seeded from grain interiors; grains under --min-grain-px pixels "
            "merged into their neighbours). Writes per image DIR/STEM_probability.tif (float32), "
            "DIR/STEM_boundaries.tif (uint8, 255 = boundary), DIR/STEM_grain_ids.tif (uint32, "
            "0 = boundary) and DIR/STEM_overlay.png, covering the rows above the data bar, with "
            "the pixel size carried over. IMAGE may be a folder (--recursive: with its "
            "subfolders) or a quoted glob. A bad file is reported and skipped (exit code 1 at "
            "the end); images larger than 2^25 pixels are processed with bounded memory."
        ),
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="SEM micrographs (TIFF, PNG, JPEG, BMP or zarr; 8/16-bit or float, "
                             "grey or RGB), folders of them, or quoted glob patterns "
                             "('scans/*.tif')")
    parser.add_argument("--recursive", action="store_true",
                        help="a folder given stands for the micrographs in its subfolders too; "
                             "** in a glob spans folders")
    parser.add_argument("--model", type=Path, default=None,
                        help="model.pt, training run directory or .ckpt "
                             "(default: the model shipped with grainseg)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--tile", type=int, default=None, metavar="PX",
                        help="largest tile side in pixels (default: chosen for the device, "
                             "1024 on a CPU; see docs/segment.md)")
    parser.add_argument("--overlap", type=float, default=None,
                        help="smallest tile overlap as a fraction of --tile, 0 to 0.5 "
                             "(default: 64 pixels)")
    parser.add_argument("--batch", type=int, default=None,
                        help="tiles per forward pass (default: 1 on a CPU, as many as fit in "
                             "half the free memory on a GPU)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="probability below which a pixel is grain interior (default 0.5)")
    parser.add_argument("--min-grain-px", type=int, default=20, metavar="N",
                        help="grains with fewer pixels are merged into neighbours (default 20)")
    parser.add_argument("--tta", action="store_true",
                        help="average the network over the four flips of each tile (4x slower)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--page", type=int, default=None, metavar="N",
                        help="page of multi-page TIFFs to segment, from 1 (default: the first, "
                             "stated in the output)")
    parser.add_argument("--all-pages", action="store_true",
                        help="segment every page of multi-page TIFFs (outputs STEM_pN_*)")
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip images whose four outputs already exist")
    parser.add_argument("--cluster", default=None, metavar="SPEC",
                        help="run one task per image on Dask: local:N (N worker processes "
                             "here, sharing the CPU threads; one GPU each when there are GPUs) "
                             "or tcp://HOST:PORT (a running scheduler, e.g. on SLURM: "
                             "docs/cluster.md); default: in this process")
    parser.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from grainseg.errors import GrainsegError

    if args.tile is not None and args.tile < 16:
        raise GrainsegError(f"--tile {args.tile}: must be at least 16 pixels")
    if args.overlap is not None and not 0.0 <= args.overlap <= 0.5:
        raise GrainsegError(f"--overlap {args.overlap}: must be between 0 and 0.5")
    if args.batch is not None and args.batch < 1:
        raise GrainsegError(f"--batch {args.batch}: must be at least 1")
    if not 0.0 < args.threshold < 1.0:
        raise GrainsegError(f"--threshold {args.threshold}: must be between 0 and 1")
    if args.min_grain_px < 0:
        raise GrainsegError(f"--min-grain-px {args.min_grain_px}: must not be negative")
    if args.page is not None and args.page < 1:
        raise GrainsegError(f"--page {args.page}: pages count from 1")
    if args.page is not None and args.all_pages:
        raise GrainsegError("--page and --all-pages: give one of them")


def run(args: argparse.Namespace) -> int:
    from grainseg import layout
    from grainseg.cluster import check_cluster
    from grainseg.infer.batch import segment_batch
    from grainseg.infer.segment import default_model_path, resolve_device
    from grainseg.io.atomic import ensure_output_dir, write_json_atomic
    from grainseg.io.manifest import write_manifest
    from grainseg.io.names import expand_inputs
    from grainseg.io.owner import claim_folder

    _check_args(args)
    images = expand_inputs(args.images, args.recursive)
    claim_folder(args.out, "segment")
    cluster = check_cluster(args.cluster)
    out_dir = ensure_output_dir(args.out)
    if cluster is None:
        resolve_device(args.device)  # a bad --device fails here, not in every task
    model_path = args.model if args.model is not None else default_model_path()
    settings = dict(tile_px=args.tile, overlap=args.overlap, batch=args.batch,
                    threshold=args.threshold, min_grain_px=args.min_grain_px, page=args.page,
                    flip_tta=args.tta)
    result = segment_batch(images, out_dir, model_path, device=args.device,
                           settings=settings, skip_existing=args.skip_existing, cluster=cluster,
                           all_pages=args.all_pages)
    records, failed, skipped = result["images"], result["failed"], result["skipped_existing"]
    summary = {"model": str(model_path), "device": args.device, "cluster": cluster,
               "settings": {"median_px": result["median_px"], **settings},
               "images": result["folder_images"], "failed": failed, "skipped_existing": skipped,
               "skipped_outputs": result["skipped_outputs"],
               "interrupted": result["interrupted"], "not_done": result["not_done"],
               "seconds": result["seconds"]}
    write_json_atomic(out_dir / layout.SEGMENT_SUMMARY, summary)
    write_manifest(out_dir, "segment", images,
                   {"model": model_path, "device": args.device, "cluster": cluster,
                    "all_pages": args.all_pages, **settings})
    print(f"segmented {len(records)} image(s), skipped {skipped} existing, "
          f"{len(failed)} failed, in {summary['seconds']:.1f} s -> {out_dir}")
    for info in records:
        notes = "; ".join(info["notes"])
        print(f"  {Path(info['image']).name}: {info['n_grains']} grains, "
              f"{info['shape_px'][1]} x {info['shape_px'][0]} px, {info['seconds']:.2f} s"
              + (f" ({notes})" if notes else ""))
    for info in records:
        for warning in info["warnings"]:
            print(f"grainseg segment: warning: {info['image']}: {warning}", file=sys.stderr)
    for path in result["skipped_outputs"]:
        print(f"  note: {Path(path).name}: an output of grainseg segment, skipped")
    for message in failed:
        print(f"grainseg segment: failed: {message}", file=sys.stderr)
    if result["interrupted"]:
        raise KeyboardInterrupt  # after the summary: the CLI says "interrupted", exit 130
    return 1 if failed else 0
