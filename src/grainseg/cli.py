"""The ``grainseg`` command line: a thin layer that parses, calls the library and reports.

User mistakes raise `GrainsegError`; they are printed as one line and exit with code 2 (the
traceback only with ``--debug``). Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from grainseg import __version__, commands
from grainseg.errors import GrainsegError
from grainseg.progress import bars_off


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with one sub-command per module of `grainseg.commands`."""
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
        importlib.import_module(f"grainseg.commands.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
    ]
    for module in sorted(modules, key=lambda m: m.ORDER):
        module.add_parser(subparsers)
    for sub in subparsers.choices.values():
        sub.add_argument(
            "--debug", action="store_true", help="show the full traceback on errors"
        )
        sub.add_argument(
            "--no-progress", dest="progress", action="store_false",
            help="no progress bars (they are never drawn when stderr is not a terminal)"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with bars_off(not args.progress):
            return int(args.func(args) or 0)
    except GrainsegError as exc:
        if args.debug:
            raise
        print(f"grainseg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"grainseg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
