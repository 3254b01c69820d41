"""Segment many micrographs to files: one task per image, here or on a Dask cluster.

`segment_batch` is the library entry point of ``grainseg segment``: it checks the model once,
then runs `segment_file_task` for every image through `grainseg.cluster.run_tasks`. A task
loads the model once per process, segments one image (the bounded-memory path of
`grainseg.infer.large` for images over `LARGE_IMAGE_PX` pixels) and writes its four outputs
atomically, so a rerun after a crash or a killed worker finds each image either finished or not
started.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from grainseg.errors import GrainsegError, input_error
from grainseg.io.names import output_stems
from grainseg.layout import SEGMENT_SUFFIXES, segment_names


def input_stem(image_path: str | os.PathLike) -> str:
    """The name of an input without its extension (``.ome.zarr`` included)."""
    from grainseg.io.omezarr import is_zarr, zarr_stem

    return zarr_stem(image_path) if is_zarr(image_path) else Path(image_path).stem


def output_paths(
    image_path: str | os.PathLike, out_dir: str | os.PathLike, stem: str | None = None
) -> dict[str, Path]:
    """The four output files of one input image (`grainseg.layout.segment_names`), named after
    ``stem`` (default: the input's own, see `input_stem`; `plan_outputs` makes them distinct); a
    zarr input gets OME-Zarr rasters (``.zarr`` in place of ``.tif``)."""
    from grainseg.io.omezarr import is_zarr

    stem = input_stem(image_path) if stem is None else stem
    names = segment_names(stem, zarr=is_zarr(image_path))
    return {key: Path(out_dir) / name for key, name in names.items()}


def is_segment_output(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an output `segment_file` wrote (its name ends like one and, for a
    TIFF, grainseg's metadata is inside)."""
    path = Path(path)
    if not any(path.name.endswith(suffix) for suffix in SEGMENT_SUFFIXES.values()):
        return False
    if path.suffix.lower() == ".png":
        return True
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return tif.pages[0].description.startswith('{"grainseg"')
    except Exception:  # noqa: BLE001 - unreadable: not ours; reading it will report why
        return False


def plan_outputs(
    image_paths: list[Path], out_dir: Path
) -> tuple[dict[Path, str], list[Path]]:
    """Output stems of the images to segment, and the inputs left out as grainseg outputs.

    Raises
    ------
    GrainsegError
        Before anything is written, when two inputs would get the same output name, or an
        output would replace one of the inputs.
    """
    own = [p for p in image_paths if is_segment_output(p)]
    todo = [p for p in image_paths if p not in own]
    stems = dict(zip(todo, output_stems(todo, input_stem), strict=True))
    inputs = {Path(p).resolve(): p for p in todo}  # own outputs are redone, not lost
    for path, stem in stems.items():
        for output in output_paths(path, out_dir, stem).values():
            replaced = inputs.get(output.resolve())
            if replaced is not None:
                raise input_error(
                    replaced, f"would be replaced by an output of {path}; rename it or choose "
                    "another --out"
                )
    return stems, own


def tiff_pages(path: str | os.PathLike) -> int:
    """Number of pages of a TIFF (1 for anything else or an unreadable file, which reading
    then reports)."""
    import tifffile

    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        return 1
    try:
        with tifffile.TiffFile(path) as tif:
            return max(1, len(tif.pages))
    except Exception:  # noqa: BLE001 - reported when the image is read
        return 1


def segment_file_task(
    image_path: Path | tuple[Path, int],
    *,
    out_dir: Path,
    model_path: str,
    device: str,
    settings: dict,
    stems: dict[str, str],
    skip_existing: bool = False,
) -> dict:
    """Segment one image file to its outputs; runs on a Dask worker or in this process.

    Parameters
    ----------
    image_path : Path or (Path, int)
        Input micrograph, or one page of a multi-page TIFF (from 1; outputs named
        ``STEM_pN_*``).
    out_dir : Path
        Existing output folder.
    model_path : str
        Model file (loaded once per process, see `grainseg.infer.segment.cached_predictor`).
    device : str
        ``auto`` (one GPU per worker when there are GPUs, see `grainseg.cluster.worker_device`),
        ``cpu``, ``cuda`` or ``cuda:N``.
    settings : dict
        ``tile_px``, ``overlap``, ``batch`` (None: chosen for the device, see
        `grainseg.infer.segment.plan_tiling`), ``threshold``, ``min_grain_px``, and optionally
        ``flip_tta`` (average the network over the four flips, `flip_averaged`).
    stems : dict
        Output stem of every image path (as str), from `plan_outputs`.
    skip_existing : bool
        Leave an image whose four outputs exist.

    Returns
    -------
    dict
        ``status`` ("done", "skipped" or "failed"), ``image``; when done also ``shape_px``,
        ``data_bar_row``, ``n_grains``, ``pixel_size_um``, ``notes``, ``tiling``, ``device``,
        ``seconds``; when failed ``error`` (the one-line message).
    """
    from grainseg.cluster import worker_device
    from grainseg.infer.segment import (
        cached_predictor,
        flip_averaged,
        plan_tiling,
        resolve_device,
    )

    image_path, page = image_path if isinstance(image_path, tuple) else (image_path, None)
    stem = stems[str(image_path)] + (f"_p{page}" if page is not None else "")
    outputs = output_paths(image_path, out_dir, stem)
    record: dict = {"image": str(image_path), "outputs": {k: str(p) for k, p in outputs.items()}}
    if page is not None:
        record["page"] = page
    else:
        page = settings.get("page")
    if skip_existing and all(p.exists() for p in outputs.values()):
        return {**record, "status": "skipped"}
    start = time.perf_counter()
    try:
        device_name = str(resolve_device(worker_device(device)))
        predict, meta = cached_predictor(str(model_path), device_name)
        plan = plan_tiling(predict, device_name, settings.get("tile_px"),
                           settings.get("overlap"), settings.get("batch"))
        if settings.get("flip_tta"):
            predict = flip_averaged(predict)
        info = segment_file(image_path, outputs, predict, median_px=int(meta.get("median_px", 3)),
                            tile_px=plan.tile_px, overlap=plan.overlap, batch=plan.batch,
                            threshold=settings["threshold"], page=page,
                            min_grain_px=settings["min_grain_px"],
                            model=(str(model_path), device))
    except GrainsegError as exc:
        return {**record, "status": "failed", "error": str(exc)}
    tiling = {"tile_px": plan.tile_px, "overlap": plan.overlap, "batch": plan.batch}
    info.setdefault("warnings", [])  # the bounded-memory path does not look for them
    info.setdefault("flagged", bool(info["warnings"]))
    return {**record, "status": "done", **info, "tiling": tiling, "device": device_name,
            "seconds": round(time.perf_counter() - start, 3)}


def segment_file(
    image_path: str | os.PathLike,
    outputs: dict[str, Path],
    predict,
    page: int | None = None,
    model: tuple[str, str] | None = None,
    **settings,
) -> dict:
    """Segment one micrograph file and write its outputs atomically (each is renamed into place
    only when complete).

    Parameters
    ----------
    image_path : path
        Input micrograph (TIFF, PNG, JPEG, BMP), or zarr / OME-Zarr store (always segmented
        block by block).
    outputs : dict
        Final paths under the keys of `grainseg.layout.SEGMENT_SUFFIXES`.
    predict : callable
        Tile predictor (see `grainseg.infer.segment.model_predictor`).
    page : int or None
        Page of a multi-page TIFF, from 1 (None: the first, with a note).
    model : (model path, device) or None
        Lets a mosaic's bands run as tasks of their own on a Dask cluster (see
        `grainseg.infer.large.segment_large`).
    **settings
        ``median_px``, ``tile_px``, ``overlap``, ``batch``, ``threshold``, ``min_grain_px`` of
        `grainseg.infer.segment.segment_image`.

    Returns
    -------
    dict
        ``shape_px``, ``data_bar_row``, ``n_grains``, ``pixel_size_um``, ``notes``,
        ``warnings`` and ``flagged`` (see `grainseg.infer.segment.content_warnings`).

    Raises
    ------
    GrainsegError
        If the file cannot be read as a micrograph (a complex or boolean image included) or an
        output cannot be written.
    """
    from matplotlib.image import imsave

    from grainseg.infer.large import LARGE_IMAGE_PX, image_size_px, segment_large
    from grainseg.infer.segment import segment_image
    from grainseg.io.atomic import atomic_path
    from grainseg.io.omezarr import is_zarr
    from grainseg.io.tiff import RASTER_SUFFIXES, read_micrograph, write_tiff
    from grainseg.models import SIZE_MULTIPLE
    from grainseg.overlay import overlay_rgb
    from grainseg.preprocess import normalise_intensity

    settings = {"multiple": SIZE_MULTIPLE, **settings}
    raster = Path(image_path).suffix.lower() in RASTER_SUFFIXES  # PNG, JPEG: read whole
    if is_zarr(image_path) or (not raster and image_size_px(image_path) > LARGE_IMAGE_PX):
        return segment_large(image_path, predict, outputs, progress=True, model=model,
                             **settings)
    micrograph = read_micrograph(image_path, page=page)
    if micrograph.image.dtype == bool:
        raise input_error(image_path, "boolean image (a mask?): not a micrograph")
    result = segment_image(micrograph.image, predict, **settings)
    pixel_size_um = micrograph.pixel_size_um
    write_tiff(outputs["probability"], result.probability, pixel_size_um)
    write_tiff(outputs["boundaries"], result.boundaries, pixel_size_um)
    write_tiff(outputs["grain_ids"], result.grain_ids, pixel_size_um)
    grey = normalise_intensity(micrograph.image[: result.data_bar_row])
    with atomic_path(outputs["overlay"]) as tmp:
        imsave(tmp, overlay_rgb(grey, result.boundaries), format="png")
    return {"shape_px": result.grain_ids.shape, "data_bar_row": result.data_bar_row,
            "n_grains": int(result.grain_ids.max()), "pixel_size_um": pixel_size_um,
            "notes": micrograph.notes + result.notes, "warnings": result.warnings,
            "flagged": bool(result.warnings)}


def remove_stale_temporaries(out_dir: Path, stems: list[str]) -> int:
    """Delete the temporary files and folders (``.STEM_*.part``) that killed tasks of these
    output stems left.

    Called after every task of the batch has finished, when no live writer of these stems
    remains. Returns the number removed.
    """
    import shutil

    stale = [p for p in Path(out_dir).glob(".*.part")
             if any(p.name.startswith(f".{stem}_") for stem in stems)]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return len(stale)


def segment_batch(
    image_paths: list[Path],
    out_dir: Path,
    model_path: Path,
    *,
    device: str = "auto",
    settings: dict,
    skip_existing: bool = False,
    cluster: str | None = None,
    all_pages: bool = False,
) -> dict:
    """Segment every image to ``out_dir``, one task each (see the module docstring).

    Parameters
    ----------
    image_paths : list of Path
    out_dir : Path
        Existing output folder.
    model_path : Path
        Checked (loaded) here once before any task starts.
    device : str
        See `segment_file_task`.
    settings : dict
        See `segment_file_task`.
    skip_existing : bool
    cluster : str or None
        ``--cluster`` value (`grainseg.cluster.check_cluster`); None: in this process.
    all_pages : bool
        Segment every page of multi-page TIFFs, one task each (records carry ``page``).

    Returns
    -------
    dict
        ``images`` (records of the finished images, in input order), ``folder_images``
        (records of every image with outputs in ``out_dir``, see `folder_records`), ``failed``
        (messages), ``skipped_existing`` (count), ``skipped_outputs`` (inputs that are
        grainseg segment outputs, left out), ``interrupted`` (Ctrl-C stopped the batch: the
        records so far are returned), ``not_done`` (images not reached), ``median_px``,
        ``seconds``. Every record names its ``outputs``.
    """
    from grainseg.cluster import check_cluster, run_tasks
    from grainseg.infer.segment import cached_predictor
    from grainseg.preprocess import check_median_px

    cluster = check_cluster(cluster)
    stems, own_outputs = plan_outputs(image_paths, out_dir)
    items: list = []  # an image path, or (path, page) for each page with all_pages
    for path in stems:
        pages = tiff_pages(path) if all_pages else 1
        items += [(path, page) for page in range(1, pages + 1)] if pages > 1 else [path]
    started = time.perf_counter()
    _, meta = cached_predictor(str(model_path), "cpu")
    median_px = check_median_px(meta.get("median_px", 3), f"{model_path}: median_px")
    records: dict[Path, dict] = {}
    interrupted = False
    try:
        for item, record in run_tasks(segment_file_task, items, cluster=cluster,
                                      desc="segment", unit="image", out_dir=out_dir,
                                      model_path=str(model_path), device=device,
                                      settings=settings, skip_existing=skip_existing,
                                      stems={str(p): s for p, s in stems.items()}):
            records[item] = record
            if record["status"] == "failed":
                from tqdm import tqdm

                tqdm.write(f"grainseg segment: skipped {record['error']}", file=sys.stderr)
    except KeyboardInterrupt:  # the images finished so far are still summarised
        interrupted = True
    if cluster is not None:
        remove_stale_temporaries(out_dir, list(stems.values()))
    ordered = [records[item] for item in items if item in records]
    return {
        "images": [r for r in ordered if r["status"] == "done"],
        "folder_images": folder_records(out_dir, ordered),
        "failed": [r["error"] for r in ordered if r["status"] == "failed"],
        "skipped_existing": sum(r["status"] == "skipped" for r in ordered),
        "skipped_outputs": [str(p) for p in own_outputs],
        "interrupted": interrupted,
        "not_done": [str(_item_path(item)) for item in items if item not in records],
        "median_px": median_px,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _item_path(item: Path | tuple[Path, int]) -> Path:
    return item[0] if isinstance(item, tuple) else item


def folder_records(out_dir: Path, records: list[dict]) -> list[dict]:
    """The records of every image whose outputs are in ``out_dir``: this run's, then the earlier
    ``segment_summary.json``'s for images not segmented now (skipped as existing, or given to an
    earlier run only) whose outputs are all still there.

    An image skipped now that the earlier summary does not describe gets a record of its own
    (``status`` "skipped", ``image`` and ``outputs``); an unreadable earlier summary describes
    nothing.
    """
    import json

    def whole(record: dict) -> bool:
        outputs = record.get("outputs")
        return isinstance(outputs, dict) and all(Path(p).exists() for p in outputs.values())

    def key(record: dict) -> str | None:
        outputs = record.get("outputs")
        return str(outputs.get("grain_ids")) if isinstance(outputs, dict) else None

    try:
        earlier = json.loads((Path(out_dir) / "segment_summary.json").read_text("utf-8"))
        earlier = [r for r in earlier["images"] if isinstance(r, dict) and whole(r)]
    except (OSError, ValueError, KeyError, TypeError):
        earlier = []
    done = [r for r in records if r["status"] == "done"]
    seen = {key(r) for r in done}
    kept = [r for r in earlier if key(r) not in seen]
    seen |= {key(r) for r in kept}
    skipped = [r for r in records if r["status"] == "skipped" and key(r) not in seen]
    return done + kept + skipped
