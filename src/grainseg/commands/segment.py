"""``grainseg segment``: whole micrographs -> probability, closed boundary network, grain IDs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ORDER = 70

OUTPUTS = {
    "probability": "_probability.tif",
    "boundaries": "_boundaries.tif",
    "grain_ids": "_grain_ids.tif",
    "overlay": "_overlay.png",
}


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
            "the pixel size carried over. A bad file is reported and skipped (exit code 1 at the "
            "end); images larger than 2^25 pixels are processed with bounded memory."
        ),
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="SEM micrographs (TIFF, 8/16-bit or float, grey or RGB)")
    parser.add_argument("--model", type=Path, default=None,
                        help="model.pt, training run directory or .ckpt "
                             "(default: the model shipped with grainseg)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--tile", type=int, default=512, metavar="PX",
                        help="largest tile side in pixels (default 512)")
    parser.add_argument("--overlap", type=float, default=0.25,
                        help="smallest tile overlap as a fraction of --tile, 0 to 0.5 "
                             "(default 0.25)")
    parser.add_argument("--batch", type=int, default=8, help="tiles per forward pass (default 8)")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="probability below which a pixel is grain interior (default 0.5)")
    parser.add_argument("--min-grain-px", type=int, default=20, metavar="N",
                        help="grains with fewer pixels are merged into neighbours (default 20)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu, cuda or cuda:N (default auto)")
    parser.add_argument("--skip-existing", action="store_true",
                        help="skip images whose four outputs already exist")
    parser.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from grainseg.errors import GrainsegError

    if args.tile < 16:
        raise GrainsegError(f"--tile {args.tile}: must be at least 16 pixels")
    if not 0.0 <= args.overlap <= 0.5:
        raise GrainsegError(f"--overlap {args.overlap}: must be between 0 and 0.5")
    if args.batch < 1:
        raise GrainsegError(f"--batch {args.batch}: must be at least 1")
    if not 0.0 < args.threshold < 1.0:
        raise GrainsegError(f"--threshold {args.threshold}: must be between 0 and 1")
    if args.min_grain_px < 0:
        raise GrainsegError(f"--min-grain-px {args.min_grain_px}: must not be negative")


def run(args: argparse.Namespace) -> int:
    from matplotlib.image import imsave
    from tqdm import tqdm

    from grainseg.errors import GrainsegError
    from grainseg.infer.large import LARGE_IMAGE_PX, image_size_px, segment_tiff_large
    from grainseg.infer.segment import (
        default_model_path,
        load_predictor,
        overlay_rgb,
        resolve_device,
        segment_image,
    )
    from grainseg.io.atomic import atomic_path, ensure_output_dir, write_json_atomic
    from grainseg.io.owner import claim_folder
    from grainseg.io.tiff import read_micrograph, write_tiff
    from grainseg.models import SIZE_MULTIPLE
    from grainseg.preprocess import check_median_px, normalise_intensity

    _check_args(args)
    claim_folder(args.out, "segment")
    out_dir = ensure_output_dir(args.out)
    device = resolve_device(args.device)
    model_path = args.model if args.model is not None else default_model_path()
    predict, meta = load_predictor(model_path, device)
    median_px = check_median_px(meta.get("median_px", 3), f"{model_path}: median_px")
    settings = dict(median_px=median_px, tile_px=args.tile, overlap=args.overlap,
                    batch=args.batch, multiple=SIZE_MULTIPLE, threshold=args.threshold,
                    min_grain_px=args.min_grain_px)

    records: list[dict] = []
    failed: list[str] = []
    skipped = 0
    started = time.perf_counter()
    bar = tqdm(args.images, desc="segment", unit="image")
    for path in bar:
        bar.set_postfix_str(path.name)
        outputs = {key: out_dir / f"{path.stem}{suffix}" for key, suffix in OUTPUTS.items()}
        if args.skip_existing and all(p.is_file() for p in outputs.values()):
            skipped += 1
            continue
        t0 = time.perf_counter()
        try:
            if image_size_px(path) > LARGE_IMAGE_PX:
                info = segment_tiff_large(path, predict, outputs, progress=True, **settings)
            else:
                micrograph = read_micrograph(path)
                result = segment_image(micrograph.image, predict, **settings)
                pixel_size_um = micrograph.pixel_size_um
                write_tiff(outputs["probability"], result.probability, pixel_size_um)
                write_tiff(outputs["boundaries"], result.boundaries, pixel_size_um)
                write_tiff(outputs["grain_ids"], result.grain_ids, pixel_size_um)
                grey = normalise_intensity(micrograph.image[: result.data_bar_row])
                with atomic_path(outputs["overlay"]) as tmp:
                    imsave(tmp, overlay_rgb(grey, result.boundaries), format="png")
                info = {"shape_px": result.grain_ids.shape, "data_bar_row": result.data_bar_row,
                        "n_grains": int(result.grain_ids.max()), "pixel_size_um": pixel_size_um,
                        "notes": micrograph.notes + result.notes}
        except GrainsegError as exc:
            tqdm.write(f"grainseg segment: skipped {exc}")
            failed.append(str(exc))
            continue
        info.update(image=str(path), seconds=round(time.perf_counter() - t0, 3))
        records.append(info)

    summary = {"model": str(model_path), "device": str(device), "settings": settings,
               "images": records, "failed": failed, "skipped_existing": skipped,
               "seconds": round(time.perf_counter() - started, 3)}
    write_json_atomic(out_dir / "segment_summary.json", summary)
    print(f"segmented {len(records)} image(s), skipped {skipped} existing, "
          f"{len(failed)} failed, in {summary['seconds']:.1f} s -> {out_dir}")
    for info in records:
        notes = "; ".join(info["notes"])
        print(f"  {Path(info['image']).name}: {info['n_grains']} grains, "
              f"{info['shape_px'][1]} x {info['shape_px'][0]} px, {info['seconds']:.2f} s"
              + (f" ({notes})" if notes else ""))
    for message in failed:
        print(f"  FAILED {message}")
    return 1 if failed else 0
