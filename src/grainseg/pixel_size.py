"""The one check of a pixel size, whether it comes from an option or from a file's metadata.

SEM and EBSD pixel sizes lie between about a tenth of a nanometre and a few hundred micrometres;
the accepted range is wider by a factor of ten or more on each side. A value outside it is a
typo or damaged metadata, and would overflow or divide by zero further on (areas in µm²,
resolution tags, EBSD steps in SEM pixels).
"""

from __future__ import annotations

import math

from grainseg.errors import GrainsegError

#: Smallest and largest accepted pixel size, micrometres.
PIXEL_SIZE_RANGE_UM = (1e-5, 1e4)


def check_pixel_size_um(value: float, where: str, hint: str = "") -> float:
    """``value`` as a float if it is a plausible pixel size in micrometres.

    Parameters
    ----------
    value : float
        Pixel side in µm.
    where : str
        What gave the value, put at the start of the message: ``"--pixel-size-um 1e300"`` or
        ``"FILE: metadata pixel size 1e-300 µm"``.
    hint : str
        What to do, appended after a semicolon.

    Raises
    ------
    GrainsegError
        ``"{where}: not a plausible pixel size (expected 1e-05 to 10000 µm)"``.
    """
    low, high = PIXEL_SIZE_RANGE_UM
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise GrainsegError(
            f"{where}: not a plausible pixel size (expected {low:g} to {high:g} µm)"
            + (f"; {hint}" if hint else "")
        )
    return number
