"""Progress bars: shown on a terminal, never in a log file or with ``--no-progress``.

Every grainseg bar is made by `progress_bar`; the command line turns them off for a command
given ``--no-progress`` (`bars_off`), and they are off whenever stderr is not a terminal (a
redirected or captured stream would fill with carriage-return lines).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from tqdm import tqdm

_wanted = [True]


@contextlib.contextmanager
def bars_off(off: bool = True) -> Iterator[None]:
    """Within the block, with ``off``, no progress bar is shown (nested blocks cannot turn
    them back on: a demo run with ``--no-progress`` keeps its steps quiet)."""
    _wanted.append(_wanted[-1] and not off)
    try:
        yield
    finally:
        _wanted.pop()


def bars_shown() -> bool:
    """Whether a progress bar would be shown now (wanted, and stderr is a terminal)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return _wanted[-1] and callable(isatty) and bool(isatty())


def progress_bar(iterable=None, *, show: bool = True, **kwargs) -> tqdm:
    """A `tqdm` bar on stderr, shown only when ``show`` and `bars_shown`."""
    return tqdm(iterable, disable=not (show and bars_shown()), **kwargs)
