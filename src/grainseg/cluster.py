"""One task per file (or mosaic block) on a Dask distributed cluster, or in this process.

``--cluster local:N`` starts a `distributed.LocalCluster` of N worker processes on this machine
(one task at a time each, the CPU threads shared evenly between them); ``--cluster
tcp://HOST:PORT`` connects to a running scheduler (one started by hand, or by dask-jobqueue on
SLURM: docs/cluster.md). Without ``--cluster`` the tasks run one after the other here, through
the same code. Each task writes its own outputs atomically (`grainseg.io.atomic`), so a worker
killed mid-task leaves no half-written file: the scheduler runs its task again on another
worker, and every output appears exactly once. On a machine with GPUs each worker takes one
(`worker_device`).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from grainseg.errors import GrainsegError, ParameterError
from grainseg.progress import progress_bar

_LOCAL = re.compile(r"local:(\d+)")
_REMOTE = re.compile(r"tcp://[^:/\s]+:\d+")


def check_cluster(spec: str | None) -> str | None:
    """Validate a ``--cluster`` value: None, ``local:N`` (N >= 1) or ``tcp://HOST:PORT``.

    Raises
    ------
    GrainsegError
        If the value is neither form.
    """
    if spec is None:
        return None
    local = _LOCAL.fullmatch(spec)
    if local and int(local.group(1)) >= 1:
        return spec
    if _REMOTE.fullmatch(spec):
        return spec
    raise ParameterError(
        "cluster", f"{spec}: expected local:N (N worker processes here, N >= 1) or "
        "tcp://HOST:PORT (a running Dask scheduler)"
    )


@contextlib.contextmanager
def dask_client(spec: str) -> Iterator[Any]:
    """A `distributed.Client` for a checked ``--cluster`` value, closed (and a local cluster
    shut down) on exit.

    ``local:N`` gives each of the N workers one task slot and ``cpu_count // N`` torch threads
    (at least 1), so that N workers use the same threads as one process.

    Raises
    ------
    GrainsegError
        If Dask distributed is not installed or the scheduler cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster, WorkerPlugin
    except ImportError:
        raise ParameterError(
            "cluster", "needs Dask distributed: pip install 'dask[distributed]'"
        ) from None
    local = _LOCAL.fullmatch(spec)
    if local:
        n_workers = int(local.group(1))
        threads = max(1, (os.cpu_count() or 1) // n_workers)

        class TorchThreads(WorkerPlugin):
            """Give each worker's torch its share of the CPU threads."""

            name = "grainseg-torch-threads"

            def setup(self, worker) -> None:
                import torch

                torch.set_num_threads(threads)

        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.register_plugin(TorchThreads())
            yield client
        return
    try:
        client = Client(spec, timeout="30s")
    except OSError as exc:
        raise ParameterError("cluster", f"{spec}: cannot reach the scheduler ({exc})") from None
    with client:
        yield client


def run_tasks(
    func: Callable[..., Any],
    items: Iterable[Any],
    *,
    cluster: str | None = None,
    desc: str = "tasks",
    unit: str = "task",
    progress: bool = True,
    **kwargs: Any,
) -> Iterator[tuple[Any, Any]]:
    """``func(item, **kwargs)`` for every item, here or on a cluster, as they finish.

    Parameters
    ----------
    func : callable
        A module-level function (it is pickled by reference to the workers) that writes its own
        outputs atomically and returns something small (a dict of figures).
    items : iterable
        One task each; ``func`` must be safe to run again on the same item (a task whose
        worker died is rerun).
    cluster : str or None
        ``--cluster`` value (see `check_cluster`); None runs in this process, in order.
    desc, unit : str
        Progress bar labels.
    progress : bool
        Show the progress bar.
    **kwargs
        Passed to every call (keep them small: they travel with each task).

    Yields
    ------
    (item, result)
        In the order the tasks finish (the input order without a cluster).
    """
    items = list(items)
    bar = progress_bar(total=len(items), desc=desc, unit=unit, show=progress)
    try:
        if cluster is None:
            for item in items:
                bar.set_postfix_str(_label(item))
                result = func(item, **kwargs)
                bar.update()
                yield item, result
            return
        from distributed import KilledWorker, as_completed

        with dask_client(cluster) as client:
            futures = {client.submit(func, item, pure=False, **kwargs): item for item in items}
            for future in as_completed(futures):
                item = futures[future]
                try:
                    result = future.result()
                except KilledWorker:
                    raise GrainsegError(
                        f"{_label(item)}: every Dask worker that ran it died (out of memory?); "
                        "the finished outputs are kept: rerun with --skip-existing"
                    ) from None
                bar.set_postfix_str(_label(item))
                bar.update()
                yield item, result
    finally:
        bar.close()


def _label(item: Any) -> str:
    first = item[0] if isinstance(item, tuple) and item else item
    return first.name if isinstance(first, Path) else str(first)[:40]


def worker_device(requested: str = "auto") -> str:
    """The device a task should use: on a Dask worker with ``"auto"`` and CUDA, one GPU per
    worker (worker names 0, 1, ... of a local cluster take cuda:0, cuda:1, ... in turn; a
    worker given one GPU, as under SLURM, takes cuda:0); elsewhere ``requested`` itself."""
    if requested != "auto":
        return requested
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    index = 0
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        index = int(get_worker().name)
    return f"cuda:{index % torch.cuda.device_count()}"

