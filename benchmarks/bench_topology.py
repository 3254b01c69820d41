"""Cost of the topological loss: persistence library, loss per batch, training step.

Measures, side by side in one run, on a batch of 32 boundary maps of 128 x 128 (Voronoi grains,
label 3 px wide, prediction = blurred label + noise with gaps):

1. cubical persistence with critical pixels of one 64 x 64 patch: cripser vs gudhi;
2. the Hu et al. loss on the batch: a straightforward implementation (one gudhi cubical complex
   per patch, label included, in a Python loop, as the reference code does) vs
   `grainseg.losses.topology.TopoLoss` in this process and with worker processes;
3. one training step (forward, backward, Adam) of `build_model("unet", width=0.25)` with weighted
   BCE only vs BCE + 0.04 * TopoLoss.

Writes benchmarks/results/topology.md. Run: ``.venv/bin/python benchmarks/bench_topology.py``.
"""

from __future__ import annotations

import argparse
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]


def voronoi_batch(
    n_images: int, size_px: int, seed: int = 0, grain_px: float = 30.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of Voronoi boundary labels and imperfect predicted probabilities.

    Returns
    -------
    prob, target : (n_images, 1, size_px, size_px) float32 tensors
        `prob` in [0, 1]: the label blurred (sigma 1 px), plus Gaussian noise (sigma 0.08),
        with three 4 px gaps per image where the boundary fades to 0.1.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size_px, :size_px]
    pixels = np.stack([rows.ravel(), cols.ravel()], axis=1)
    labels, probs = [], []
    for _ in range(n_images):
        n_seeds = max(2, int(size_px**2 / grain_px**2))
        seeds = rng.uniform(0, size_px, (n_seeds, 2))
        owner = cKDTree(seeds).query(pixels)[1].reshape(size_px, size_px)
        edge = (ndi.maximum_filter(owner, 2) != ndi.minimum_filter(owner, 2)).astype(np.float32)
        label = ndi.binary_dilation(edge, iterations=1).astype(np.float32)
        prob = ndi.gaussian_filter(label, 1.0) * 1.2 + rng.normal(0, 0.08, label.shape)
        on = np.flatnonzero(label)
        for centre in rng.choice(on, 3, replace=False):
            r, c = divmod(int(centre), size_px)
            prob[max(r - 2, 0) : r + 2, max(c - 2, 0) : c + 2] = 0.1
        labels.append(label)
        probs.append(np.clip(prob, 0.0, 1.0).astype(np.float32))
    return torch.from_numpy(np.stack(probs)[:, None]), torch.from_numpy(np.stack(labels)[:, None])


def _gudhi_pairs(values: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Finite (birth value, death value) and (birth pixel, death pixel) (row, col) of one dimension."""
    import gudhi

    complex_ = gudhi.CubicalComplex(vertices=values)
    complex_.compute_persistence(homology_coeff_field=2, min_persistence=0)
    regular = complex_.vertices_of_persistence_pairs()[0]
    if dim >= len(regular) or len(regular[dim]) == 0:
        return np.empty((0, 2)), np.empty((0, 2, 2), dtype=int)
    flat = values.ravel(order="F")  # gudhi numbers vertices in Fortran order
    pairs = regular[dim]
    pixels = np.stack(np.unravel_index(pairs, values.shape, order="F"), axis=-1)
    return flat[pairs], pixels


def naive_topo_loss(prob: torch.Tensor, target: torch.Tensor, patch: int = 64) -> torch.Tensor:
    """The straightforward Hu et al. loss: per image, per patch, per dimension, in Python loops.

    Same filtration and matching as `grainseg.losses.topology.TopoLoss` (sublevel sets of the
    boundary probability, pixels as vertices, dimensions 0 and 1; the n most persistent predicted
    features kept, n from the label's diagram), with gudhi computing the diagrams of prediction and
    label. Non-overlapping patches (image sides must be multiples of `patch`).
    """
    values = prob.detach()[:, 0].double().numpy()
    labels = target.detach()[:, 0].double().numpy()
    n_images, height, width = values.shape
    pixel_index, goal = [], []
    for b in range(n_images):
        for r0 in range(0, height, patch):
            for c0 in range(0, width, patch):
                pred = values[b, r0 : r0 + patch, c0 : c0 + patch]
                label = labels[b, r0 : r0 + patch, c0 : c0 + patch]
                for dim in (0, 1):
                    bars, pixels = _gudhi_pairs(pred, dim)
                    label_bars, _ = _gudhi_pairs(label, dim)
                    n_true = int(np.sum(label_bars[:, 1] - label_bars[:, 0] > 0.5))
                    order = np.argsort(bars[:, 0] - bars[:, 1], kind="stable")
                    for rank, i in enumerate(order):
                        (br, bc), (dr, dc) = pixels[i]
                        pixel_index += [
                            (b * height + r0 + br) * width + c0 + bc,
                            (b * height + r0 + dr) * width + c0 + dc,
                        ]
                        goal += [0.0, 1.0] if rank < n_true else [bars[i, 1], bars[i, 0]]
    picked = prob.reshape(-1)[torch.tensor(pixel_index, dtype=torch.int64)]
    total = ((picked - torch.tensor(goal, dtype=torch.float32)) ** 2).sum()
    return total / n_images


def _median_seconds(function: Callable[[], object], repeats: int) -> float:
    function()  # warm up (pools, allocator, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def step_seconds(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    topo: Callable,
    repeats: int,
) -> tuple[float, float]:
    """Median seconds of one Adam step with weighted BCE, and with BCE + 0.04 * `topo`."""
    from grainseg.losses.bce import weighted_bce

    optimiser = torch.optim.Adam(model.parameters(), lr=1e-5)

    def step(with_topo: bool) -> None:
        optimiser.zero_grad()
        logits = model(images)
        loss = weighted_bce(logits, labels)
        if with_topo:
            loss = loss + 0.04 * topo(torch.sigmoid(logits[-1]), labels)
        loss.backward()
        optimiser.step()

    # Interleaved, so that a change in the load of the shared machine hits both alike.
    step(False), step(True)
    t_bce, t_topo = [], []
    for _ in range(repeats):
        for with_topo, times in ((False, t_bce), (True, t_topo)):
            start = time.perf_counter()
            step(with_topo)
            times.append(time.perf_counter() - start)
    return float(np.median(t_bce)), float(np.median(t_topo))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--model",
        help="trained model (model.pt or run folder) for the training-step figure, with "
        "--dataset; by default a fresh U-Net width 0.25 on the synthetic batch",
    )
    parser.add_argument("--dataset", help="data set whose first train patches feed --model")
    args = parser.parse_args()

    import cripser

    from grainseg.io.atomic import write_text_atomic
    from grainseg.losses.topology import TopoLoss, default_workers
    from grainseg.models import build_model

    torch.manual_seed(0)
    prob, target = voronoi_batch(args.batch, args.size)
    lines = []

    def report(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    # 1. persistence library, one 64 x 64 patch (dimensions 0 and 1, critical pixels).
    patches = prob[:, 0, :64, :64].double().numpy()
    t_cripser = _median_seconds(lambda: [cripser.computePH(p, maxdim=1) for p in patches], 3)
    t_gudhi = _median_seconds(lambda: [_gudhi_pairs(p, 1) for p in patches], 3)
    report("| persistence of one 64 x 64 patch (dims 0+1, critical pixels) | ms |")
    report("|---|---|")
    report(
        f"| cripser {cripser.__version__} (V-construction) | {1e3 * t_cripser / len(patches):.2f} |"
    )
    report(f"| gudhi CubicalComplex(vertices=...) | {1e3 * t_gudhi / len(patches):.2f} |")
    report("")

    # 2. the loss on a batch, side by side.
    fast_local = TopoLoss(workers=1)
    workers = default_workers()
    fast_pool = TopoLoss(workers=workers, min_parallel=1)
    value_naive = naive_topo_loss(prob, target).item()
    value_fast = fast_local(prob, target).item()
    value_pool = fast_pool(prob, target).item()
    t_naive = _median_seconds(lambda: naive_topo_loss(prob, target), max(1, args.repeats // 2))
    t_local = _median_seconds(lambda: fast_local(prob, target), args.repeats)
    t_pool = _median_seconds(lambda: fast_pool(prob, target), args.repeats)
    n_patches = args.batch * (args.size // 64) ** 2
    report(
        f"| TopoLoss on {args.batch} x 128 x 128 ({n_patches} patches of 64) | s | loss | speed-up |"
    )
    report("|---|---|---|---|")
    report(
        f"| straightforward (gudhi per patch, Python loop) | {t_naive:.3f} | {value_naive:.3f} | 1.0 |"
    )
    report(
        f"| grainseg TopoLoss, in process | {t_local:.3f} | {value_fast:.3f} | {t_naive / t_local:.1f} |"
    )
    report(
        f"| grainseg TopoLoss, {workers} worker processes | {t_pool:.3f} | {value_pool:.3f} "
        f"| {t_naive / t_pool:.1f} |"
    )
    report("")

    # 3. one training step, BCE only vs BCE + 0.04 * TopoLoss. The loss costs more on a fresh
    # network (its noisy output has thousands of critical points per patch) than on a trained
    # one, the real starting point of a fine-tune: --model measures that case too.
    setups = [
        (
            "fresh U-Net width 0.25, synthetic batch",
            build_model("unet", width=0.25),
            prob + 0.1 * torch.randn_like(prob),
            target,
        )
    ]
    if args.model:
        from grainseg.data.dataset import open_dataset
        from grainseg.models import load_model

        data = open_dataset(args.dataset)
        chosen = data.indices("train")[: args.batch]
        setups.append(
            (
                f"trained {args.model}, train patches of {args.dataset}",
                load_model(args.model)[0].train(),
                torch.from_numpy(np.asarray(data.images[chosen], dtype=np.float32))[:, None],
                torch.from_numpy(np.asarray(data.labels[chosen], dtype=np.float32))[:, None],
            )
        )
    topo = TopoLoss()
    report(
        f"| training step, batch {args.batch} x 128 x 128, CPU | BCE s | BCE + 0.04 hu s | ratio |"
    )
    report("|---|---|---|---|")
    for described, model, images, labels in setups:
        t_bce, t_topo = step_seconds(model, images, labels, topo, args.repeats)
        report(f"| {described} | {t_bce:.3f} | {t_topo:.3f} | {t_topo / t_bce:.2f} |")

    if not args.no_write:
        date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
        page = [
            "## Topological loss (issue 6): cost",
            "",
            f"Command: `.venv/bin/python benchmarks/bench_topology.py {shlex.join(sys.argv[1:])}` "
            f"(machine: {platform.machine()} 2-core CPU, shared with other jobs; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; {date}). "
            "Medians of repeated runs; shared-CPU figures are upper bounds. The patches: Voronoi "
            "labels, prediction = blurred label + noise + gaps (`voronoi_batch`). A trained "
            "`--model` and its `--dataset` come from `benchmarks/bench_topology_finetune.py` "
            "(run_bce, ds).",
            "",
            *lines,
        ]
        write_text_atomic(ROOT / "benchmarks" / "results" / "topology.md", "\n".join(page) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
