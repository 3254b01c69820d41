"""One module per sub-command of the ``grainseg`` CLI.

Each module defines ``ORDER`` (an int: its place in ``grainseg --help``, following the pipeline)
and ``add_parser(subparsers)``, which adds its sub-parser and sets ``func`` to a function taking
the parsed arguments and returning an exit code. Modules import heavy libraries inside ``func``,
so that ``grainseg --help`` stays fast.
"""
