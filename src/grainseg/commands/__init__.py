"""One module per sub-command of the ``grainseg`` CLI.

Each module defines ``ORDER`` (an int: its place in ``grainseg --help``, following the pipeline)
and ``add_parser(subparsers)``, which adds its sub-parser and sets ``func`` to a function taking
the parsed arguments and returning an exit code; optionally ``FLAGS``, the flag of each library
parameter whose name is not the option's ``dest`` (``{"lagb_deg": "--lagb"}``). Modules import
heavy libraries inside ``func``, so that ``grainseg --help`` stays fast.

The library names its parameters in errors (`grainseg.errors.ParameterError`); `error_message`
puts the flag that filled the parameter in its place.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from grainseg import __version__
from grainseg.errors import GrainsegError, ParameterError


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
        before = set(subparsers.choices)
        module.add_parser(subparsers)
        for name in set(subparsers.choices) - before:
            sub = subparsers.choices[name]
            sub.add_argument(
                "--debug", action="store_true", help="show the full traceback on errors"
            )
            sub.add_argument(
                "--no-progress", dest="progress", action="store_false",
                help="no progress bars (they are never drawn when stderr is not a terminal)"
            )
            # parameter -> its flag, for `error_message`: an option's dest names its parameter
            flags = {action.dest: max(action.option_strings, key=len)
                     for action in sub._actions if action.option_strings}
            sub.set_defaults(flags={**flags, **getattr(module, "FLAGS", {})})
    return parser


def error_message(args: argparse.Namespace, exc: GrainsegError) -> str:
    """The one line the CLI prints for ``exc``: a `ParameterError` names the flag of its
    parameter (``--width must be > 0``), other errors are shown as they are."""
    flag = getattr(args, "flags", {}).get(exc.parameter) if isinstance(exc, ParameterError) else None
    return exc.named(flag) if flag else str(exc)
