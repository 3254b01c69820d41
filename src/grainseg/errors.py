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


class ParameterError(GrainsegError):
    """A bad value of a function's parameter, named as the caller passed it.

    The message is the parameter's name and the problem: ``"width must be > 0"`` from
    ``TrainConfig(width=0)``. The CLI knows which flag filled the parameter and shows that
    instead (`named`): ``"--width must be > 0"``.

    Attributes
    ----------
    parameter : str
        The parameter's name (a keyword argument or dataclass field).
    problem : str
        What follows the name: ``"must be > 0"``, ``"7: must be odd"``.
    """

    def __init__(self, parameter: str, problem: str):
        self.parameter = parameter
        self.problem = problem
        super().__init__(self.named(parameter))

    def named(self, name: str) -> str:
        """The message with ``name`` (a flag such as ``--width``) in place of the parameter."""
        return f"{name} {self.problem}"
