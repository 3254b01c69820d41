"""The ``grainseg`` command line: a thin layer that parses, calls the library and reports.

User mistakes raise `GrainsegError`; they are printed as one line and exit with code 2 (the
traceback only with ``--debug``). Ctrl-C exits with 130.
"""

from __future__ import annotations

import sys

from grainseg.commands import build_parser, error_message
from grainseg.errors import GrainsegError
from grainseg.progress import bars_off


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
        print(f"grainseg {args.command}: error: {error_message(args, exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"grainseg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
