"""The one error type users meet.

Every mistake a user can make (a bad file, a bad argument) raises `GrainsegError` with one line
that names the file and what is wrong. The CLI prints that line and exits with code 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os


class GrainsegError(Exception):
    """A user-facing error: bad input file, bad argument, impossible request."""


def input_error(path: str | os.PathLike, problem: str) -> GrainsegError:
    """Build the standard message ``"<path>: <problem>"`` for a bad input file."""
    return GrainsegError(f"{os.fspath(path)}: {problem}")
