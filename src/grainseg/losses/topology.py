"""Topological loss of Hu et al. (NeurIPS 2019) for boundary maps, fast; and the loss registry.

Orientation (which features are matched, and why)
-------------------------------------------------
The network predicts a boundary probability ``p`` (1 on boundaries). Grains are the holes of the
boundary network, i.e. the components of the grain map ``{p low}``. We filter each patch by the
*sublevel* sets ``{p <= t}`` of the boundary probability, pixels as vertices (cubical V-construction,
so sublevel sets are 4-connected like grains elsewhere in grainseg, and their holes 8-connected like
boundary fragments), and match both dimensions, as Hu et al. do in 2-D:

- dimension 0: grains. A grain is born at its darkest pixel (``p`` near 0) and dies where it merges
  with a neighbour, at the weakest point of the boundary between them (``p`` near 1 when the
  boundary is closed, lower at a gap). A gap is therefore a short bar of this diagram.
- dimension 1: boundary fragments enclosed by grain, e.g. a speck of ``p`` inside a grain. These are
  holes of the grain map; in a clean label they are rare.

Why not the 1-dimensional features of the superlevel filtration of ``p`` (loops of the boundary
network)? On a 64 px patch most grains touch the patch edge and close no loop inside it, so the
loops miss most grains; dimension 0 of the sublevel filtration sees every grain, edge or not.

Matching
--------
For each patch and dimension let ``n`` be the label's number of finite features (the label is
binary, so all have persistence 1: ``n = grains - 1`` in dimension 0, enclosed fragments in
dimension 1). The ``n`` most persistent predicted features are pushed to full persistence (birth
pixel to 0, death pixel to 1); the others to the diagonal (birth pixel to the current value at the
death pixel and vice versa). The loss is the sum of squared differences at those critical pixels,
so its gradient reaches the network only through them. Targets are constants (no gradient).
The loss is summed over patches and averaged over the images of the batch, as in Hu et al.

Speed
-----
Persistence comes from CubicalRipser (`cripser`, C++; ~6x faster than gudhi for these patches,
see benchmarks/results/topology.md); the label's diagram needs no persistence at all, because for a
binary map it is the component counts (`scipy.ndimage.label` on all patches at once). Patches of a
batch are spread over a persistent pool of worker processes when there are enough of them.
"""

from __future__ import annotations

import atexit
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

import numpy as np
import torch

from grainseg.errors import GrainsegError, ParameterError
from grainseg.metrics.topology import (
    count_fragments,
    count_grains,
    extract_tiles,
    persistence_pairs,
)

#: Names accepted by `build_topo_loss` (the CLI's ``--topo-loss`` choices).
TOPO_LOSSES = ("hu", "cldice", "skeleton-recall")

#: Pools by worker count; None marks a pool whose workers could not start (then work in-process).
_POOLS: dict[int, ProcessPoolExecutor | None] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """The process pool with `workers` workers, started once and kept for the whole process.

    Workers are spawned (not forked) so that they never inherit locks held by torch's threads.
    """
    if workers not in _POOLS:
        _POOLS[workers] = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
    return _POOLS[workers]


@atexit.register
def _shutdown_pools() -> None:
    for pool in _POOLS.values():
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    _POOLS.clear()


def default_workers() -> int:
    """Worker processes used by default: the CPU cores this process may use, at most 8."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, min(8, len(os.sched_getaffinity(0))))
    return max(1, min(8, os.cpu_count() or 1))


def pairs_of_tiles(tiles: np.ndarray, max_dim: int, workers: int, min_parallel: int) -> np.ndarray:
    """`grainseg.metrics.topology.persistence_pairs` of many tiles, in parallel when worth it.

    Parameters
    ----------
    tiles : (N, h, w) float array
    max_dim : int
    workers : int
        Worker processes; 1 computes in this process.
    min_parallel : int
        Below this many tiles the work stays in this process (the round trip costs more).

    Returns
    -------
    (M, 6) float64 array
        As `persistence_pairs`, tile indices counted over all `tiles`.
    """
    if workers <= 1 or len(tiles) < max(min_parallel, 2) or _POOLS.get(workers, 0) is None:
        return persistence_pairs(tiles, max_dim)
    bounds = np.linspace(0, len(tiles), min(workers, len(tiles)) + 1).astype(int)
    try:
        futures = [
            _pool(workers).submit(persistence_pairs, tiles[lo:hi], max_dim)
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        parts = [future.result() for future in futures]
    except BrokenProcessPool:
        # Spawned workers import the main module; a script without an ``if __name__ ==
        # "__main__":`` guard kills them. Stay correct: compute here from now on.
        warnings.warn(
            "topology loss: worker processes failed to start (is the main script missing an "
            "`if __name__ == '__main__':` guard?); computing persistence in this process",
            RuntimeWarning,
            stacklevel=2,
        )
        _POOLS.pop(workers).shutdown(cancel_futures=True)
        _POOLS[workers] = None
        return persistence_pairs(tiles, max_dim)
    for lo, part in zip(bounds[:-1], parts, strict=True):
        part[:, 0] += lo
    return np.concatenate(parts)


def critical_pixel_targets(
    prob: np.ndarray,
    target: np.ndarray,
    valid: np.ndarray | None = None,
    patch: int = 64,
    dims: tuple[int, ...] = (0, 1),
    workers: int = 1,
    min_parallel: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Critical pixels of the predicted persistence diagrams and the values they are pushed to.

    Parameters
    ----------
    prob : (B, H, W) float array
        Boundary probability in [0, 1].
    target : (B, H, W) array
        Label, 1 (or True) on boundaries.
    valid : (B, H, W) bool array or None
        False where the label is unknown. There the prediction is replaced by the label before the
        persistence is computed (so ignored pixels add no disagreement), and critical pixels that
        fall there are dropped.
    patch : int
        Side of the square patches in pixels (see `grainseg.metrics.topology.extract_tiles`).
    dims : tuple of int
        Homology dimensions matched, a subset of (0, 1); see the module docstring.
    workers, min_parallel : int
        See `pairs_of_tiles`.

    Returns
    -------
    flat_index : (K,) int64 array
        Index into ``prob.ravel()`` of each critical pixel (a pixel may appear more than once).
    value : (K,) float32 array
        The value that pixel is pushed to.
    """
    label = np.asarray(target) > 0.5
    values = np.asarray(prob, dtype=np.float64)
    if valid is not None:
        values = np.where(valid, values, label.astype(np.float64))
    n_images, height, width = values.shape
    prob_tiles, origins = extract_tiles(values, patch)
    label_tiles, _ = extract_tiles(label, patch)
    side = prob_tiles.shape[1]

    # The label's diagram: every finite feature has persistence 1, so counts are enough.
    n_true = np.stack(
        [np.maximum(count_grains(label_tiles) - 1, 0), count_fragments(label_tiles, True)], axis=1
    )
    pairs = pairs_of_tiles(prob_tiles, max(dims), workers, min_parallel)
    pairs = pairs[np.isin(pairs[:, 1], dims)]
    tile = pairs[:, 0].astype(np.int64)
    dim = pairs[:, 1].astype(np.int64)
    birth, death = pairs[:, 2], pairs[:, 3]
    # Rank of each feature by persistence within its (tile, dimension) group, most persistent first.
    order = np.lexsort((birth - death, dim, tile))
    group = (tile * 2 + dim)[order]
    first_of_group = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    group_sizes = np.diff(np.r_[first_of_group, len(group)])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(first_of_group, group_sizes)
    keep = rank < n_true[tile, dim]

    birth_goal = np.where(keep, 0.0, death)
    death_goal = np.where(keep, 1.0, birth)
    local = np.concatenate([pairs[:, 4], pairs[:, 5]]).astype(np.int64)
    tiles_of = np.concatenate([tile, tile])
    b, r0, c0 = origins[tiles_of].T
    flat_index = (b * height + r0 + local // side) * width + c0 + local % side
    value = np.concatenate([birth_goal, death_goal]).astype(np.float32)
    if valid is not None:
        inside = np.asarray(valid).ravel()[flat_index]
        flat_index, value = flat_index[inside], value[inside]
    return flat_index, value


class TopoLoss(torch.nn.Module):
    """Persistent-homology loss of Hu et al. on boundary probabilities (see the module docstring).

    Parameters
    ----------
    patch : int
        Patch side in pixels (64 as in Hu et al.).
    dims : tuple of int
        Dimensions matched: 0 (grains) and 1 (enclosed boundary fragments).
    workers : int or None
        Worker processes for the persistence (None: `default_workers()`; 1: none).
    min_parallel : int
        Batches with fewer patches are computed in this process.
    """

    def __init__(
        self,
        patch: int = 64,
        dims: tuple[int, ...] = (0, 1),
        workers: int | None = None,
        min_parallel: int = 32,
    ) -> None:
        super().__init__()
        if patch < 2 or not set(dims) <= {0, 1} or not dims:
            raise GrainsegError(
                f"topology loss: need patch >= 2 and dims in (0, 1), got patch={patch}, dims={dims}"
            )
        self.patch = int(patch)
        self.dims = tuple(sorted(set(dims)))
        self.workers = default_workers() if workers is None else int(workers)
        self.min_parallel = int(min_parallel)

    def forward(
        self, prob: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of a batch.

        Parameters
        ----------
        prob : (B, 1, H, W) float tensor
            Boundary probability (after the sigmoid), any device.
        target : (B, 1, H, W) tensor
            1 on boundaries, 0 elsewhere.
        valid : (B, 1, H, W) bool tensor or None
            False where the label is unknown.

        Returns
        -------
        scalar float32 tensor
            Sum over patches and critical pixels of the squared distance to the goal, divided by B.
        """
        n_images = prob.shape[0]
        flat_index, value = critical_pixel_targets(
            prob.detach()[:, 0].float().cpu().numpy(),
            target.detach()[:, 0].cpu().numpy(),
            None if valid is None else valid.detach()[:, 0].cpu().numpy(),
            self.patch,
            self.dims,
            self.workers,
            self.min_parallel,
        )
        picked = prob.reshape(-1)[torch.from_numpy(flat_index).to(prob.device)].float()
        goal = torch.from_numpy(value).to(prob.device)
        return ((picked - goal) ** 2).sum() / n_images


def build_topo_loss(
    name: str, patch: int = 64
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]:
    """The topological loss named `name`, as used by ``grainseg train --topo-loss``.

    Parameters
    ----------
    name : str
        ``hu`` (`TopoLoss`, persistent homology on `patch`-pixel patches), ``cldice`` (soft-skeleton
        clDice, `grainseg.losses.skeleton.SoftClDiceLoss`) or ``skeleton-recall``
        (`grainseg.losses.skeleton.SkeletonRecallLoss`).
    patch : int
        Patch side for ``hu``; the other losses work on whole images.

    Returns
    -------
    callable ``(prob (B,1,H,W) after sigmoid, target (B,1,H,W) in {0,1}, valid bool or None)``
        Returns a scalar tensor.
    """
    from grainseg.losses.skeleton import SkeletonRecallLoss, SoftClDiceLoss

    if name == "hu":
        return TopoLoss(patch=patch)
    if name == "cldice":
        return SoftClDiceLoss()
    if name == "skeleton-recall":
        return SkeletonRecallLoss()
    raise ParameterError(
        "name", f"{name!r}: unknown topological loss; choose one of {', '.join(TOPO_LOSSES)}"
    )
