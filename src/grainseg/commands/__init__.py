"""One module per sub-command of the ``grainseg`` CLI.

Each module defines ``ORDER`` (an int: its place in ``grainseg --help``, following the pipeline)
and ``add_parser(subparsers)``, which adds its sub-parser and sets ``func`` to a function taking
the parsed arguments and returning an exit code. Modules import heavy libraries inside ``func``,
so that ``grainseg --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from grainseg import __version__


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one sub-command per module of this package."""
    parser = argparse.ArgumentParser(
        prog="grainseg",
        description=(
            "Grain boundaries and grain statistics from SEM micrographs, with CNNs trained on "
            "labels taken from EBSD maps. Workflow: synth | ebsd-grains -> labels -> dataset -> "
            "train -> evaluate -> segment -> grains -> report."
        ),
    )
    parser.add_argument("--version", action="version", version=f"grainseg {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [
        importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)
    ]
    for module in sorted(modules, key=lambda m: m.ORDER):
        module.add_parser(subparsers)
    for sub in subparsers.choices.values():
        sub.add_argument(
            "--debug", action="store_true", help="show the full traceback on errors"
        )
    return parser
