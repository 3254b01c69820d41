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
import time
from pathlib import Path

from grainseg.errors import GrainsegError

#: Output suffixes per image, after the input's stem.
OUTPUTS = {
    "probability": "_probability.tif",
    "boundaries": "_boundaries.tif",
    "grain_ids": "_grain_ids.tif",
    "overlay": "_overlay.png",
}


def output_paths(image_path: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Path]:
    """The four output files of one input image (keys of `OUTPUTS`); a zarr input gets OME-Zarr
    rasters (``.zarr`` in place of ``.tif``)."""
    from grainseg.io.omezarr import is_zarr, zarr_stem

    if is_zarr(image_path):
        stem = zarr_stem(image_path)
        return {key: Path(out_dir) / f"{stem}{suffix.replace('.tif', '.zarr')}"
                for key, suffix in OUTPUTS.items()}
    stem = Path(image_path).stem
    return {key: Path(out_dir) / f"{stem}{suffix}" for key, suffix in OUTPUTS.items()}


def segment_file_task(
    image_path: Path,
    *,
    out_dir: Path,
    model_path: str,
    device: str,
    settings: dict,
    skip_existing: bool = False,
) -> dict:
    """Segment one image file to its outputs; runs on a Dask worker or in this process.

    Parameters
    ----------
    image_path : Path
        Input micrograph.
    out_dir : Path
        Existing output folder.
    model_path : str
        Model file (loaded once per process, see `grainseg.cluster.cached_predictor`).
    device : str
        ``auto`` (one GPU per worker when there are GPUs, see `grainseg.cluster.worker_device`),
        ``cpu``, ``cuda`` or ``cuda:N``.
    settings : dict
        ``tile_px``, ``overlap``, ``batch`` (None: chosen for the device, see
        `grainseg.infer.segment.plan_tiling`), ``threshold``, ``min_grain_px``.
    skip_existing : bool
        Leave an image whose four outputs exist.

    Returns
    -------
    dict
        ``status`` ("done", "skipped" or "failed"), ``image``; when done also ``shape_px``,
        ``data_bar_row``, ``n_grains``, ``pixel_size_um``, ``notes``, ``tiling``, ``device``,
        ``seconds``; when failed ``error`` (the one-line message).
    """
    from grainseg.cluster import cached_predictor, worker_device
    from grainseg.infer.segment import plan_tiling, resolve_device

    outputs = output_paths(image_path, out_dir)
    record: dict = {"image": str(image_path)}
    if skip_existing and all(p.exists() for p in outputs.values()):
        return {**record, "status": "skipped"}
    start = time.perf_counter()
    try:
        device_name = str(resolve_device(worker_device(device)))
        predict, meta = cached_predictor(str(model_path), device_name)
        plan = plan_tiling(predict, device_name, settings.get("tile_px"),
                           settings.get("overlap"), settings.get("batch"))
        info = segment_file(image_path, outputs, predict, median_px=int(meta.get("median_px", 3)),
                            tile_px=plan.tile_px, overlap=plan.overlap, batch=plan.batch,
                            threshold=settings["threshold"],
                            min_grain_px=settings["min_grain_px"])
    except GrainsegError as exc:
        return {**record, "status": "failed", "error": str(exc)}
    tiling = {"tile_px": plan.tile_px, "overlap": plan.overlap, "batch": plan.batch}
    return {**record, "status": "done", **info, "tiling": tiling, "device": device_name,
            "seconds": round(time.perf_counter() - start, 3)}


def segment_file(
    image_path: str | os.PathLike,
    outputs: dict[str, Path],
    predict,
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
        Final paths under the keys of `OUTPUTS`.
    predict : callable
        Tile predictor (see `grainseg.infer.segment.model_predictor`).
    **settings
        ``median_px``, ``tile_px``, ``overlap``, ``batch``, ``threshold``, ``min_grain_px`` of
        `grainseg.infer.segment.segment_image`.

    Returns
    -------
    dict
        ``shape_px``, ``data_bar_row``, ``n_grains``, ``pixel_size_um``, ``notes``.

    Raises
    ------
    GrainsegError
        If the file cannot be read as a micrograph or an output cannot be written.
    """
    from matplotlib.image import imsave

    from grainseg.infer.large import LARGE_IMAGE_PX, image_size_px, segment_large
    from grainseg.infer.segment import overlay_rgb, segment_image
    from grainseg.io.atomic import atomic_path
    from grainseg.io.omezarr import is_zarr
    from grainseg.io.tiff import RASTER_SUFFIXES, read_micrograph, write_tiff
    from grainseg.models import SIZE_MULTIPLE
    from grainseg.preprocess import normalise_intensity

    settings = {"multiple": SIZE_MULTIPLE, **settings}
    raster = Path(image_path).suffix.lower() in RASTER_SUFFIXES  # PNG, JPEG: read whole
    if is_zarr(image_path) or (not raster and image_size_px(image_path) > LARGE_IMAGE_PX):
        return segment_large(image_path, predict, outputs, progress=True, **settings)
    micrograph = read_micrograph(image_path)
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
            "notes": micrograph.notes + result.notes}


def remove_stale_temporaries(out_dir: Path, image_paths: list[Path]) -> int:
    """Delete the temporary files and folders (``.STEM_*.part``) that killed tasks of these
    images left.

    Called after every task of the batch has finished, when no live writer of these stems
    remains. Returns the number removed.
    """
    import shutil

    stems = {output_paths(p, out_dir)["overlay"].name[: -len(OUTPUTS["overlay"])]
             for p in image_paths}
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

    Returns
    -------
    dict
        ``images`` (records of the finished images, in input order), ``failed`` (messages),
        ``skipped_existing`` (count), ``median_px``, ``seconds``.
    """
    from grainseg.cluster import cached_predictor, check_cluster, run_tasks
    from grainseg.preprocess import check_median_px

    cluster = check_cluster(cluster)
    started = time.perf_counter()
    _, meta = cached_predictor(str(model_path), "cpu")
    median_px = check_median_px(meta.get("median_px", 3), f"{model_path}: median_px")
    records: dict[Path, dict] = {}
    for path, record in run_tasks(segment_file_task, image_paths, cluster=cluster,
                                  desc="segment", unit="image", out_dir=out_dir,
                                  model_path=str(model_path), device=device,
                                  settings=settings, skip_existing=skip_existing):
        records[path] = record
        if record["status"] == "failed":
            from tqdm import tqdm

            tqdm.write(f"grainseg segment: skipped {record['error']}")
    if cluster is not None:
        remove_stale_temporaries(out_dir, image_paths)
    ordered = [records[p] for p in image_paths]
    return {
        "images": [r for r in ordered if r["status"] == "done"],
        "failed": [r["error"] for r in ordered if r["status"] == "failed"],
        "skipped_existing": sum(r["status"] == "skipped" for r in ordered),
        "median_px": median_px,
        "seconds": round(time.perf_counter() - started, 3),
    }
