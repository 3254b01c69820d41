"""Whole-micrograph inference: speed against the FLOP bound, the small model, and a mosaic.

Parts (``--parts``, default all):

- ``speed``: a 2048 x 1536 image through the full-width U-Net (``build_model('unet', 1.0)``) on
  CPU with the tiled predictor, against the time its FLOPs (one untiled forward pass, counted by
  `torch.utils.flop_counter.FlopCounterMode`) need at the float32 matrix-multiply rate measured
  just before and just after (a 2048^3 `torch.matmul`, best of 3 each; the bound uses the mean).
- ``seams``: held-out synthetic 2048 x 1536 specimens through the shipped model with the old
  defaults (512 px tiles, 0.25 overlap), the defaults (`choose_tiling` on the CPU) and one
  untiled pass: boundary F1 (2 px) and grain ARI against the exact truth, and the largest
  probability difference to the untiled pass (a seam shows there). Not timed.
- ``gpu`` (CUDA only): ``--gpu-images`` 2048 x 1536 images through the full-width U-Net with
  `model_predictor` (bf16 autocast, channels-last, batch norms folded) and the tiling
  `plan_tiling` chooses for the GPU; images per second after one warm-up image, and the
  achieved rate (untiled FLOPs x images/s) against ``--peak-tflops``, the chip's dense bf16
  peak from its data sheet (989 for an H100 / H200 SXM).
- ``small``: a real 1024 x 954 SEM image (data bar included) through `segment_image` with the
  width-0.25 U-Net, end to end; the post-processing is also timed on a realistic probability map
  (the untrained network's output is nearly flat, which post-processes unrealistically fast).
- ``mosaic``: a 20000 x 20000 uint8 TIFF (``--mosaic-px``) through `segment_large` with a
  cheap gradient "model", in a child process whose peak resident memory is reported.

Writes benchmarks/results/infer.md. Run: ``.venv/bin/python benchmarks/bench_infer.py``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.segmentation import find_boundaries

from grainseg.infer.large import TiffBands, segment_large
from grainseg.infer.postprocess import probability_to_network
from grainseg.infer.segment import load_predictor, model_predictor, plan_tiling, segment_image
from grainseg.infer.tiling import axis_tiling, choose_tiling, predict_tiled
from grainseg.io.tiff import read_micrograph
from grainseg.metrics.boundary import tolerance_counts, tolerance_scores
from grainseg.metrics.grains import grain_ari
from grainseg.models import SIZE_MULTIPLE, build_model, count_flops, default_model_path
from grainseg.preprocess import preprocess_sem
from grainseg.synth import generate_specimen

ROOT = Path(__file__).resolve().parents[1]
SEM = ROOT.parent / "shared" / "data" / "sem" / "austenitic_steel_bse_002.tif"


def matmul_gflops(n: int = 2048, repeats: int = 3) -> float:
    """Best float32 matrix-multiply rate of this process, in GFLOP/s."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.matmul(a, b)
    best = min(_timed(lambda: torch.matmul(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def cells(shape, n_cells, seed=0):
    """Flat grains with distinct grey levels plus noise (float32), and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 1, (n_cells, 2)) * np.array(shape)
    owner = cKDTree(centres).query(np.indices(shape).reshape(2, -1).T)[1].reshape(shape)
    image = rng.uniform(0.2, 0.8, n_cells)[owner] + rng.normal(0, 0.02, shape)
    return image.astype(np.float32), owner


def realistic_probability(shape, n_cells, seed=0):
    """Boundary probability like a trained network's: a 2-pixel Gaussian ridge along grain
    edges, smooth noise."""
    rng = np.random.default_rng(seed)
    _, owner = cells(shape, n_cells, seed)
    gap = ndimage.distance_transform_edt(~find_boundaries(owner, mode="inner"))
    noise = ndimage.gaussian_filter(rng.normal(0, 0.15, shape), 1.5)
    return np.clip(np.exp(-0.5 * (gap / 2.0) ** 2) + noise, 0, 1).astype(np.float32)


def gradient_predictor(tiles: np.ndarray) -> np.ndarray:
    """A cheap stand-in network: boundary probability from the intensity gradient."""
    t = torch.from_numpy(tiles)
    gy = torch.nn.functional.pad(t[..., 1:, :] - t[..., :-1, :], (0, 0, 0, 1))
    gx = torch.nn.functional.pad(t[..., :, 1:] - t[..., :, :-1], (0, 1, 0, 0))
    return torch.clamp(8.0 * torch.sqrt(gx**2 + gy**2), 0, 1).numpy()


def part_speed(configs) -> list[str]:
    model = build_model("unet", width=1.0).eval()
    height, width = 1536, 2048
    flops = count_flops(model, (1, 1, 256, 256)) * (height * width) / 256**2
    image, _ = cells((height, width), 600)
    network_input = preprocess_sem(image)
    predict = model_predictor(model, "cpu")
    lines = [
        f"Full-width U-Net ({sum(p.numel() for p in model.parameters()) / 1e6:.2f} M "
        f"parameters), {width} x {height} image: {flops / 1e12:.2f} TFLOP for one untiled pass.",
        "",
        "| tile | overlap | batch | tiled FLOPs / untiled | matmul GFLOP/s before / after |"
        " FLOP-bound time (s, mean rate)"
        " | measured (s) | measured / bound | load (1 min) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    predict_tiled(network_input[:256, :256], predict, 256, 0.0, 1)  # warm-up
    for tile_px, overlap, batch in configs:
        ty = axis_tiling(height, tile_px, round(overlap * tile_px), SIZE_MULTIPLE)
        tx = axis_tiling(width, tile_px, round(overlap * tile_px), SIZE_MULTIPLE)
        tiled = len(ty.starts) * ty.size_px * len(tx.starts) * tx.size_px / (height * width)
        load = os.getloadavg()[0]
        rate_before = matmul_gflops()
        start = time.perf_counter()
        predict_tiled(network_input, predict, tile_px, overlap, batch, SIZE_MULTIPLE)
        seconds = time.perf_counter() - start
        rate_after = matmul_gflops()
        rate = (rate_before + rate_after) / 2
        bound = flops / (rate * 1e9)
        print(f"speed tile {tile_px} overlap {overlap}: {seconds:.1f} s, bound {bound:.1f} s "
              f"({rate_before:.0f}/{rate_after:.0f} GFLOP/s), ratio {seconds / bound:.2f}",
              flush=True)
        lines.append(f"| {tile_px} | {overlap:g} | {batch} | {tiled:.2f} | {rate_before:.0f} / "
                     f"{rate_after:.0f} | {bound:.1f} | {seconds:.1f} | {seconds / bound:.2f} | "
                     f"{load:.1f} |")
    return lines


def part_seams(n_specimens: int) -> list[str]:
    predict, meta = load_predictor(default_model_path(), "cpu")
    defaults = choose_tiling("cpu")
    configs = {
        "old defaults (512, 0.25)": (512, 0.25, 8),
        f"defaults ({defaults.tile_px}, {defaults.overlap:g})":
            (defaults.tile_px, defaults.overlap, defaults.batch),
        "untiled": (2048, 0.0, 1),
    }
    lines = [
        f"Shipped model, {n_specimens} held-out synthetic specimens of 2048 x 1536 px (seeds "
        "910000+, 0.05 um/px, mean grain size 4 um, the real images' look), `segment_image` end "
        "to end; scores against the exact truth; |dp| is the probability difference to the "
        "untiled pass (largest over all pixels / mean).",
        "",
        "| seed | tiling | boundary F1 (2 px) | grain ARI | grains | max / mean abs dp |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i in range(n_specimens):
        spec = generate_specimen(1536, 2048, seed=910_000 + i, grain_size_um=4.0,
                                 pixel_size_um=0.05, appearance="default", max_drift_px=10)
        results = {
            name: segment_image(spec.sem, predict, median_px=meta.get("median_px", 3),
                                tile_px=tile, overlap=overlap, batch=batch,
                                multiple=SIZE_MULTIPLE)
            for name, (tile, overlap, batch) in configs.items()
        }
        untiled = results["untiled"].probability
        for name, result in results.items():
            true_b = spec.boundaries[: result.data_bar_row] > 0
            pred_b = result.boundaries > 0
            f1 = tolerance_scores(tolerance_counts(pred_b, true_b, 2.0))["boundary_f1"]
            diff = np.abs(result.probability - untiled)
            lines.append(f"| {910_000 + i} | {name} | {f1:.4f} | "
                         f"{grain_ari(pred_b, true_b):.4f} | {int(result.grain_ids.max())} | "
                         f"{diff.max():.4f} / {diff.mean():.5f} |")
            print(lines[-1], flush=True)
    return lines


def part_gpu(n_images: int, peak_tflops: float) -> list[str]:
    if not torch.cuda.is_available():
        print("gpu: no CUDA device, part skipped", flush=True)
        return ["No CUDA device on this machine: not measured."]
    device = torch.device("cuda")
    model = build_model("unet", width=1.0).eval()
    height, width = 1536, 2048
    flops = count_flops(model, (1, 1, 256, 256)) * (height * width) / 256**2
    predict = model_predictor(model, device)
    plan = plan_tiling(predict, device)
    image, _ = cells((height, width), 600)
    network_input = preprocess_sem(image)

    def one_image():
        predict_tiled(network_input, predict, plan.tile_px, plan.overlap, plan.batch,
                      SIZE_MULTIPLE)
        torch.cuda.synchronize(device)

    one_image()  # warm-up (cuDNN algorithm search)
    start = time.perf_counter()
    for _ in range(n_images):
        one_image()
    seconds = time.perf_counter() - start
    rate = n_images / seconds
    achieved = flops * rate / 1e12
    name = torch.cuda.get_device_name(device)
    print(f"gpu {name}: {rate:.2f} images/s, {achieved:.0f} TFLOP/s of {peak_tflops:g}",
          flush=True)
    return [
        f"{name}, full-width U-Net, {n_images} images of {width} x {height} after one warm-up, "
        f"tile {plan.tile_px}, overlap {plan.overlap:g}, batch {plan.batch} (`plan_tiling`), "
        "bf16 autocast, channels-last, host-to-device copies and blending included:",
        "",
        "| images/s | untiled TFLOP per image | achieved TFLOP/s | bf16 peak (TFLOP/s) | "
        "achieved / peak |",
        "| --- | --- | --- | --- | --- |",
        f"| {rate:.2f} | {flops / 1e12:.2f} | {achieved:.0f} | {peak_tflops:g} | "
        f"{achieved / peak_tflops:.2f} |",
    ]


def part_small() -> list[str]:
    micrograph = read_micrograph(SEM)
    torch.manual_seed(0)
    model = build_model("unet", width=0.25).eval()
    segment_image(micrograph.image[:256, :256], model, multiple=SIZE_MULTIPLE)  # warm-up
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = segment_image(micrograph.image, model, multiple=SIZE_MULTIPLE)
    total = time.perf_counter() - start
    shape = result.probability.shape
    prob = realistic_probability(shape, 500)
    post = min(_timed(lambda: probability_to_network(prob, 0.5, 20)) for _ in range(2))
    _, grain_ids = probability_to_network(prob, 0.5, 20)
    start = time.perf_counter()
    probability_to_network(result.probability, 0.5, 20)
    post_flat = time.perf_counter() - start
    network = total - post_flat
    print(f"small: end to end {total:.2f} s (post-processing of its flat output {post_flat:.2f} s"
          f"), post-processing of a realistic map {post:.2f} s", flush=True)
    return [
        f"`segment_image` on `{SEM.name}` (1024 x 954, data bar left out: {shape[1]} x "
        f"{shape[0]} analysed), U-Net width 0.25 (untrained weights), default settings "
        f"(tile 512, overlap 0.25, batch 8), load (1 min) {load:.1f}:",
        "",
        "| step | seconds |",
        "| --- | --- |",
        f"| end to end (preprocess, tiles, network, post-processing) | {total:.2f} |",
        f"| of which network + preprocessing | {network:.2f} |",
        f"| post-processing of a realistic probability map ({grain_ids.max()} grains) | "
        f"{post:.2f} |",
        f"| estimate with a trained model (network + realistic post-processing) | "
        f"{network + post:.2f} |",
    ]


def mosaic_worker(size_px: int, folder: Path) -> dict:
    """Child process: write the mosaic, segment it, report time and peak memory."""
    path = folder / "mosaic.tif"
    patch, _ = cells((2048, 2048), 900, seed=3)
    patch = (patch * 255).astype(np.uint8)
    mosaic = TiffBands.create(path, (size_px, size_px), np.uint8, 0.05)
    reps = -(-size_px // 2048)
    for y0 in range(0, size_px, 2048):
        band = np.tile(patch, (1, reps))[: min(2048, size_px - y0), :size_px]
        mosaic.write(y0, 0, band)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    outputs = {key: folder / f"mosaic_{key}.{'png' if key == 'overlay' else 'tif'}"
               for key in ("probability", "boundaries", "grain_ids", "overlay")}
    start = time.perf_counter()
    info = segment_large(path, gradient_predictor, outputs, tile_px=1024, overlap=0.0625,
                              batch=4, progress=True)
    seconds = time.perf_counter() - start
    return {"size_px": size_px, "seconds": seconds, "n_grains": int(info["n_grains"]),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss_before}


def part_mosaic(size_px: int) -> list[str]:
    with tempfile.TemporaryDirectory(dir=ROOT) as folder:
        load = os.getloadavg()[0]
        child = subprocess.run(
            [sys.executable, __file__, "--mosaic-worker", str(size_px), folder],
            check=True, stdout=subprocess.PIPE, text=True,
        )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"mosaic: {result}", flush=True)
    return [
        f"`segment_large` on a {size_px} x {size_px} uint8 uncompressed TIFF (a 2048 x 2048 "
        "synthetic grain image repeated), cheap gradient model, tile 1024, overlap 0.0625, "
        f"post-processing blocks 2048 + 128 halo; load (1 min) {load:.1f}:",
        "",
        "| pixels | grains | seconds | peak RSS (MB) | peak RSS before segmenting (MB) |",
        "| --- | --- | --- | --- | --- |",
        f"| {size_px}^2 | {result['n_grains']} | {result['seconds']:.0f} | "
        f"{result['peak_rss_mb']:.0f} | {result['rss_before_mb']:.0f} |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="speed,seams,small,mosaic")
    parser.add_argument("--mosaic-px", type=int, default=20000)
    parser.add_argument("--seam-specimens", type=int, default=3)
    parser.add_argument("--gpu-images", type=int, default=20)
    parser.add_argument("--peak-tflops", type=float, default=989.0,
                        help="dense bf16 peak of the GPU (TFLOP/s; default 989, H100/H200 SXM)")
    parser.add_argument("--mosaic-worker", nargs=2, metavar=("SIZE", "DIR"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "infer.md")
    args = parser.parse_args()
    if args.mosaic_worker:
        result = mosaic_worker(int(args.mosaic_worker[0]), Path(args.mosaic_worker[1]))
        print(json.dumps(result))
        return 0
    parts = args.parts.split(",")
    sections = []
    if "speed" in parts:
        sections += ["### Speed against the FLOP bound (CPU)", ""]
        plan = choose_tiling("cpu")
        configs = [(512, 0.25, 2), (plan.tile_px, plan.overlap, plan.batch)]
        sections += part_speed(configs) + [""]
    if "seams" in parts:
        sections += ["### Seams and accuracy: the defaults against untiled inference", ""]
        sections += part_seams(args.seam_specimens) + [""]
    if "gpu" in parts:
        sections += ["### GPU: images per second and the bf16 peak", ""]
        sections += part_gpu(args.gpu_images, args.peak_tflops) + [""]
    if "small" in parts:
        sections += ["### Small U-Net on a real 1024 x 954 micrograph", ""]
        sections += part_small() + [""]
    if "mosaic" in parts:
        sections += ["### Bounded memory on a mosaic", ""]
        sections += part_mosaic(args.mosaic_px) + [""]
    command = " ".join([".venv/bin/python benchmarks/bench_infer.py", *sys.argv[1:]])
    page = [
        "## Segment: whole-micrograph inference"
        + ("" if set(parts) >= {"speed", "seams", "small", "mosaic"} else f" ({', '.join(parts)})"),
        "",
        f"Command: `{command}`  ",
        f"Machine: 2-core CPU ({platform.machine()}), shared with other jobs, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads  ",
        f"Date: {time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}",
        "",
        "Times were measured while other jobs used the same 2 cores (load column): upper bounds "
        "for an idle machine. The matmul rate is measured just before and after each timed run "
        "so that both see about the same load.",
        "",
        *sections,
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".md.part")
    tmp.write_text("\n".join(page).rstrip() + "\n", encoding="utf-8")
    tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
