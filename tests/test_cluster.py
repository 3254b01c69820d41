"""`grainseg segment --cluster`: a local Dask cluster gives the single-process files, and a
worker killed mid-batch loses nothing and leaves no partial file."""

import json
import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
from test_infer_segment import cell_image

from grainseg.cli import main
from grainseg.cluster import check_cluster
from grainseg.errors import GrainsegError
from grainseg.io.tiff import write_tiff
from grainseg.layout import SEGMENT_SUFFIXES

distributed = pytest.importorskip("distributed")



@pytest.fixture(scope="module")
def scheduler():
    """A running two-worker cluster, reached by address as `--cluster tcp://...` would be."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield cluster.scheduler_address, client


def make_images(folder, n, shape=(96, 128)):
    folder.mkdir()
    paths = []
    for i in range(n):
        paths.append(folder / f"img{i}.tif")
        write_tiff(paths[-1], cell_image(shape, 5, seed=i), 0.1)
    return paths


def output_bytes(out, paths):
    return {f"{p.stem}{suffix}": (out / f"{p.stem}{suffix}").read_bytes()
            for p in paths for suffix in SEGMENT_SUFFIXES.values()}


def segment(paths, model_file, out, *extra):
    return main(["segment", *map(str, paths), "--model", str(model_file), "--out", str(out),
                 "--tile", "64", "--device", "cpu", *extra])


def test_check_cluster_values():
    assert check_cluster(None) is None
    assert check_cluster("local:2") == "local:2"
    assert check_cluster("tcp://node07:8786") == "tcp://node07:8786"
    for bad in ("local:0", "local", "slurm", "tcp://host"):
        with pytest.raises(GrainsegError, match=f"^cluster {bad}: expected local:N"):
            check_cluster(bad)


@pytest.mark.slow
def test_local_cluster_gives_the_single_process_files(tmp_path, model_file):
    paths = make_images(tmp_path / "in", 4)
    # Each of the 2 workers gets cpu_count // 2 torch threads; float results depend on the
    # thread count, so the single-process run uses the same.
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    try:
        assert segment(paths, model_file, tmp_path / "one") == 0
    finally:
        torch.set_num_threads(threads)
    assert segment(paths, model_file, tmp_path / "two", "--cluster", "local:2") == 0
    assert output_bytes(tmp_path / "two", paths) == output_bytes(tmp_path / "one", paths)
    summary = json.loads((tmp_path / "two" / "segment_summary.json").read_text())
    assert summary["cluster"] == "local:2" and len(summary["images"]) == 4


@pytest.mark.slow
def test_killed_worker_loses_no_image(tmp_path, model_file, scheduler):
    address, client = scheduler
    paths = make_images(tmp_path / "in", 6, shape=(160, 192))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers of `scheduler` (distributed sets 1 thread)
    try:
        assert segment(paths[:1], model_file, tmp_path / "reference") == 0
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "out"
    codes = []
    run = threading.Thread(target=lambda: codes.append(
        segment(paths, model_file, out, "--cluster", address)))
    run.start()
    killed = None
    deadline = time.monotonic() + 120
    while killed is None and run.is_alive() and time.monotonic() < deadline:
        busy = [w for w, tasks in client.processing().items() if tasks]
        done = len(list(out.glob("*_overlay.png"))) if out.is_dir() else 0
        if busy and done >= 1:  # one image finished, another one is running
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed = busy[0]
        time.sleep(0.02)
    run.join(timeout=300)
    assert killed is not None, "the batch ended before a worker could be killed"
    assert codes == [0]
    summary = json.loads((out / "segment_summary.json").read_text())
    assert sorted(r["image"] for r in summary["images"]) == sorted(map(str, paths))
    assert summary["failed"] == []
    assert not list(out.glob(".*"))  # no temporary or partial file
    assert len(list(out.iterdir())) == 4 * len(paths) + 2  # + summary and manifest
    reference = output_bytes(tmp_path / "reference", paths[:1])
    assert output_bytes(out, paths[:1]) == reference


def test_grains_on_a_cluster_gives_the_single_process_tables(tmp_path, scheduler):
    folder = tmp_path / "maps"
    folder.mkdir()
    paths = []
    for i in range(3):
        cell_image((80, 90), 12, seed=10 + i)
        paths.append(folder / f"map{i}_grain_ids.tif")
        write_tiff(paths[-1], (cell_image.owner + 1).astype("uint32"), 0.2)
    for out, extra in ((tmp_path / "one", []), (tmp_path / "two", ["--cluster", scheduler[0]])):
        assert main(["grains", *map(str, paths), "--out", str(out), *extra]) == 0
    for name in ("grains_all.csv", "summary_all.json", "map1_grain_ids/grains.csv"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def test_zarr_mosaic_bands_run_across_the_cluster_and_join_exactly(tmp_path, model_file,
                                                                   scheduler):
    from grainseg.infer.large import BAND_PX
    from grainseg.io.omezarr import open_zarr_image, write_ome_zarr

    (tmp_path / "in").mkdir()
    mosaic = tmp_path / "in" / "tall.ome.zarr"
    write_ome_zarr(mosaic, cell_image((BAND_PX + 200, 48), 40, seed=7), 0.1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers of `scheduler`
    try:
        assert segment([mosaic], model_file, tmp_path / "one") == 0
    finally:
        torch.set_num_threads(threads)
    assert segment([mosaic], model_file, tmp_path / "two", "--cluster", scheduler[0]) == 0
    summary = json.loads((tmp_path / "two" / "segment_summary.json").read_text())
    assert any("2 bands" in note for note in summary["images"][0]["notes"])
    for name in ("tall_probability.zarr", "tall_grain_ids.zarr"):
        one, _ = open_zarr_image(tmp_path / "one" / name)
        two, pixel_size_um = open_zarr_image(tmp_path / "two" / name)
        assert pixel_size_um == 0.1
        np.testing.assert_array_equal(two.read(0, two.shape[0]), one.read(0, one.shape[0]))
