"""``grainseg demo``: the whole method on built-in data, as the commands a user would type.

Each step runs a real ``grainseg`` sub-command (printed before it runs, so the demo doubles as a
tutorial): synthesise SEM + EBSD specimens with drift, register and draw labels, build a data
set, train (fine-tuning the shipped model when there is one), fine-tune with the topological
loss, evaluate, segment held-out specimens and a real micrograph, measure grains against the
EBSD truth, and write one HTML report.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ORDER = 100

# Sizes of the two variants: (specimens, size, epochs, minutes of BCE training, minutes of topo).
_FULL = {"n": 6, "size": "640x512", "epochs": 4, "train_min": 2.5, "topo_min": 1.0}
_QUICK = {"n": 3, "size": "384x320", "epochs": 1, "train_min": 0.25, "topo_min": 0.15}

# Everything the demo writes directly into --out: a re-run deletes these and starts afresh.
OUTPUTS = (
    "specimens", "labels", "dataset", "run_bce", "run_topo", "evaluate_run_bce.json",
    "evaluate_run_topo.json", "segment_synthetic_bce", "segment_synthetic", "segment_real",
    "grains", "report.html",
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole method on built-in data and write an HTML report",
        description=(
            "Synthesise SEM + EBSD specimens with drift, make registered labels, train a small "
            "U-Net briefly (fine-tuning the shipped model), fine-tune it with the topological "
            "loss, segment held-out specimens and a real SEM image, measure grains against the "
            "EBSD truth and write OUT/report.html. About a minute on 2 CPU cores; --quick "
            "does the same on fewer, smaller specimens."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("demo_out"),
                        help="output folder; an earlier demo's outputs there are replaced")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster run")
    parser.add_argument("--seed", type=int, default=100, help="seed of the specimens")
    parser.set_defaults(func=run)


def _fmt(value: float | None) -> str:
    """A score for the summary; fits that could not be made show as n/a."""
    return "n/a" if value is None else f"{value:.3f}"


def _step(title: str, argv: list[str]) -> None:
    """Run one sub-command in-process, printing it as the user would type it."""
    from grainseg.commands import build_parser, error_message
    from grainseg.errors import GrainsegError

    print(f"\n== {title}\n$ grainseg {' '.join(argv)}", flush=True)
    start = time.perf_counter()
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args) or 0)
    except GrainsegError as exc:
        raise GrainsegError(f"demo step '{title}' failed: {error_message(args, exc)}") from exc
    if code != 0:
        raise GrainsegError(f"demo step '{title}' failed (exit code {code})")
    print(f"   ({time.perf_counter() - start:.1f} s)", flush=True)


def run(args: argparse.Namespace) -> int:
    import json

    from grainseg import layout
    from grainseg.io.owner import reclaim_folder
    from grainseg.models import default_model_path, load_model

    plan = _QUICK if args.quick else _FULL
    shipped = default_model_path()
    if shipped.is_file():
        load_model(shipped)  # a damaged or crafted shipped model is refused before any work
    out = reclaim_folder(args.out, "demo", OUTPUTS)
    start = time.perf_counter()
    names = [f"specimen_{i:03d}" for i in range(plan["n"])]
    train_names, test_names = names[:-1], names[-1:]
    spec = out / "specimens"
    specimen = {name: {role: spec / f for role, f in layout.synth_names(name).items()}
                for name in names}

    _step("1. synthetic SEM images + EBSD maps with drift (exact truth kept)",
          ["synth", str(spec), "--n", str(plan["n"]), "--size", plan["size"],
           "--seed", str(args.seed), "--grain-size-um", "2.5", "--pixel-size-um", "0.05",
           "--max-drift-px", "20"])
    for name in names:
        _step(f"2. register {name}'s EBSD map to its SEM image and draw labels",
              ["labels", "--sem", str(specimen[name]["sem"]), "--ebsd", str(specimen[name]["ebsd"]),
               "--out", str(out / "labels" / name)])
    _step("3. data set of 128 px patches (validation by whole image)",
          ["dataset", *[str(out / "labels" / n) for n in train_names], "--out",
           str(out / "dataset"), "--patch", "128", "--val-frac", "0.34" if args.quick else "0.2"])
    init = ["--init", str(shipped)] if shipped.is_file() else []
    _step("4. train a small U-Net with class-weighted BCE"
          + (" (fine-tuning the shipped model)" if init else ""),
          ["train", str(out / "dataset"), "--arch", "unet", "--width", "0.25", "--out",
           str(out / "run_bce"), "--pos-weight", "4", "--batch", "16", "--epochs",
           str(plan["epochs"]), "--max-time", str(plan["train_min"]), "--no-progress", *init])
    _step("5. fine-tune with the topological loss (Hu et al.), lambda 0.04, lr 1e-5",
          ["train", str(out / "dataset"), "--arch", "unet", "--width", "0.25", "--out",
           str(out / "run_topo"), "--init", str(out / "run_bce"), "--topo-lambda", "0.04",
           "--topo-loss", "hu", "--lr", "1e-5", "--pos-weight", "4", "--batch", "16",
           "--epochs", "1", "--max-time", str(plan["topo_min"]), "--no-progress"])
    for run_name in ("run_bce", "run_topo"):
        _step(f"6. evaluate {run_name} on the validation patches",
              ["evaluate", str(out / run_name), str(out / "dataset"), "--json",
               str(out / f"evaluate_{run_name}.json")])
    held_out = [str(specimen[n]["sem"]) for n in test_names]
    for run_name, folder in (("run_bce", "segment_synthetic_bce"), ("run_topo", "segment_synthetic")):
        _step(f"7. segment held-out whole micrographs with {run_name}",
              ["segment", *held_out, "--model", str(out / run_name), "--out", str(out / folder)])
    from importlib.resources import files

    real = Path(str(files("grainseg") / "sample_data" / "austenitic_steel_bse_002.tif"))
    _step("8. segment a real SEM micrograph (austenitic steel, openECCI, CC BY 4.0)",
          ["segment", str(real), "--out", str(out / "segment_real"),
           *([] if shipped.is_file() else ["--model", str(out / "run_topo")])])
    for name in test_names:
        _step(f"9. grain statistics of {name} against its true grains",
              ["grains", str(out / "segment_synthetic"
                             / layout.segment_names(specimen[name]["sem"].stem)["grain_ids"]),
               "--reference", str(specimen[name]["grains"]), "--min-diameter-px", "3",
               "--out", str(out / "grains" / name)])
    _step("10. grain statistics of the real micrograph (µm, ASTM E112)",
          ["grains", str(out / "segment_real" / layout.segment_names(real.stem)["grain_ids"]),
           "--out", str(out / "grains" / "real")])
    _step("11. the report",
          ["report", str(out), "--out", str(out / layout.REPORT)])

    print(f"\nDone in {time.perf_counter() - start:.0f} s. Key numbers (validation patches):")
    for run_name in ("run_bce", "run_topo"):
        score = json.loads((out / f"evaluate_{run_name}.json").read_text())
        keys = ("dice", "precision", "recall", "boundary_f1", "ari", "betti0_grains_error")
        print(f"  {run_name}: " + ", ".join(f"{k} {_fmt(score.get(k))}" for k in keys))
    for name in test_names:
        summary = json.loads((out / "grains" / name / layout.GRAINS_SUMMARY).read_text())
        dist = summary["distances"]
        print(f"  {name} (held out) vs its true grains: {summary['n_grains']} grains, "
              f"Jensen-Shannon size {_fmt(dist.get('size_js_fit_exponential'))} (exponential "
              f"fits), aspect ratio {_fmt(dist.get('aspect_ratio_js_fit'))} (beta fits)")
    real_summary = json.loads((out / "grains" / "real" / layout.GRAINS_SUMMARY).read_text())
    print(f"  real micrograph: {real_summary['n_grains']} grains, mean ECD "
          f"{_fmt(real_summary.get('mean_ecd_um'))} um, ASTM G "
          f"{_fmt(real_summary.get('astm_g_intercept'))}")
    print(f"Report: {(out / layout.REPORT).resolve()}")
    return 0
