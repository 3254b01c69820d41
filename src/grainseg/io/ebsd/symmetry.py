"""The one crystal-symmetry table that every EBSD reader and writer uses.

Each vendor names the Laue group of a phase its own way: EDAX/TSL writes a "Symmetry" code
(43 for m-3m), Oxford a "LaueGroup" number (11 for m-3m) and a space group, orix and h5ebsd
files a point group. This module maps all of them to the Laue group in Hermann-Mauguin
notation that `Phase.laue` holds, and back for the writers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LaueGroup:
    """How the vendors' files name one Laue group.

    Attributes
    ----------
    name : str
        Hermann-Mauguin symbol ("m-3m").
    oxford_number : int
        Oxford "LaueGroup" number (.ctf, .cpr, .h5oina).
    tsl_codes : tuple of int
        EDAX/TSL "Symmetry" codes (.ang, .osc, OIM .h5); the first is the one written.
    space_group : int
        The highest-symmetry space group of the class, written where a format asks for one.
    point_groups : tuple of str
        Point groups (Hermann-Mauguin) whose Laue group this is.
    """

    name: str
    oxford_number: int
    tsl_codes: tuple[int, ...]
    space_group: int
    point_groups: tuple[str, ...]


LAUE_GROUPS = (
    LaueGroup("-1", 1, (1,), 2, ("1", "-1")),
    LaueGroup("2/m", 2, (2, 20, 21), 12, ("2", "m", "2/m", "112", "11m", "112/m")),
    LaueGroup("mmm", 3, (22,), 69, ("222", "mm2", "mmm")),
    LaueGroup("4/m", 4, (4,), 87, ("4", "-4", "4/m")),
    LaueGroup("4/mmm", 5, (42,), 139, ("422", "4mm", "-42m", "4/mmm")),
    LaueGroup("-3", 6, (3,), 148, ("3", "-3")),
    LaueGroup("-3m", 7, (32,), 166, ("32", "3m", "-3m", "321", "312", "3m1", "31m", "-3m1",
                                      "-31m")),
    LaueGroup("6/m", 8, (6,), 175, ("6", "-6", "6/m")),
    LaueGroup("6/mmm", 9, (62,), 191, ("622", "6mm", "-6m2", "6/mmm")),
    LaueGroup("m-3", 10, (23,), 204, ("23", "m-3", "m3")),
    LaueGroup("m-3m", 11, (43,), 225, ("432", "-43m", "m-3m", "m3m")),
)
BY_NAME = {group.name: group for group in LAUE_GROUPS}
#: Oxford "LaueGroup" number -> Laue group.
OXFORD_LAUE = {group.oxford_number: group.name for group in LAUE_GROUPS}
#: EDAX/TSL "Symmetry" code -> Laue group.
TSL_SYMMETRY_LAUE = {code: group.name for group in LAUE_GROUPS for code in group.tsl_codes}
#: Point group (Hermann-Mauguin, as orix and h5ebsd files spell it) -> Laue group.
POINT_GROUP_LAUE = {pg: group.name for group in LAUE_GROUPS for pg in group.point_groups}


def laue_from_tsl(value: str) -> str | None:
    """Laue group of an EDAX/TSL symmetry entry: a code ("43") or, in some writers, a
    Hermann-Mauguin symbol ("m3m"); None if unknown."""
    value = value.strip()
    if value.isdigit():
        return TSL_SYMMETRY_LAUE.get(int(value))
    return POINT_GROUP_LAUE.get(value)
