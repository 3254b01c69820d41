"""Training throughput and inference FLOPs of the five architectures.

For each architecture and width: parameters; forward FLOPs of one 512 x 512 tile
(`grainseg.models.count_flops`); and training throughput in patches/s, timing full steps
(forward, weighted BCE summed over all outputs, backward, Adam) on a batch of random 128 x 128
patches after one warm-up step, on the CPU (and on CUDA when present, with bf16 autocast).

Writes benchmarks/results/models.md. Run: ``.venv/bin/python benchmarks/bench_models.py``
(``--widths 1.0,0.5,0.25 --batch 8 --steps 3``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from grainseg.io.atomic import write_text_atomic
from grainseg.models import ARCHITECTURES, build_model, count_flops, count_parameters

ROOT = Path(__file__).resolve().parents[1]


def train_throughput(
    name: str, width: float, batch: int, patch: int, steps: int, device: str
) -> float:
    """Patches per second of full training steps of ``name`` at ``width`` on ``device``."""
    model = build_model(name, width=width, seed=0).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 1, patch, patch, generator=g).to(device)
    y = (torch.rand(batch, 1, patch, patch, generator=g) < 0.1).float().to(device)
    pos_weight = torch.tensor(9.0, device=device)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device == "cuda"
        else contextlib.nullcontext()
    )

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast:
            out = model(x)
            loss = sum(
                F.binary_cross_entropy_with_logits(o.float(), y, pos_weight=pos_weight) for o in out
            )
        loss.backward()
        opt.step()

    step()  # warm-up: allocations, kernel selection
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="1.0,0.5,0.25")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--archs", default=",".join(ARCHITECTURES))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "models.md")
    args = parser.parse_args()
    widths = [float(w) for w in args.widths.split(",")]
    archs = args.archs.split(",")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    cpu = f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()})"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None

    header = "| architecture | width | parameters (M) | GFLOPs / 512x512 tile | CPU load (1 min) |"
    rule = "| --- | --- | --- | --- | --- |"
    for device in devices:
        header += f" train patches/s ({device}) |"
        rule += " --- |"
    rows = []
    for width in widths:
        for name in archs:
            model = build_model(name, width=width, seed=0)
            params_m = count_parameters(model) / 1e6
            gflops = count_flops(model, (1, 1, 512, 512)) / 1e9
            del model
            load = os.getloadavg()[0]
            row = f"| {name} | {width:g} | {params_m:.3f} | {gflops:.1f} | {load:.1f} |"
            for device in devices:
                rate = train_throughput(name, width, args.batch, args.patch, args.steps, device)
                row += f" {rate:.1f} |"
            print(row, flush=True)
            rows.append(row)

    machine = cpu + (f"; GPU {gpu} (bf16 autocast)" if gpu else "")
    page = "\n".join(
        [
            "## Models: training throughput and FLOPs",
            "",
            f"Command: `.venv/bin/python benchmarks/bench_models.py --widths {args.widths} "
            f"--batch {args.batch} --steps {args.steps}`  ",
            f"Machine: {machine}, torch {torch.__version__}, {torch.get_num_threads()} threads  ",
            f"Date: {date}",
            "",
            f"Training step = forward + weighted BCE (w = 9, summed over side outputs) + backward "
            f"+ Adam, batch {args.batch} of {args.patch} x {args.patch} patches, mean of "
            f"{args.steps} steps after one warm-up. FLOPs: one forward pass of a 512 x 512 tile "
            "(convolutions and matrix products, multiply-add = 2), counted by "
            "`grainseg.models.count_flops`. The load column is the 1-minute load average before "
            f"the row; the machine has {os.cpu_count()} cores, and a load well above that means "
            "other jobs shared it, so that row's CPU rate is a lower bound.",
            "",
            header,
            rule,
            *rows,
            "",
        ]
    )
    write_text_atomic(args.out, page)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
