"""Register an EBSD map to an SEM image of the same area.

`register_ebsd` is the entry point: global search (flips, rotation, translation at the nominal
scale), then coarse-to-fine refinement of the affine map and of the drift along the EBSD slow
axis, or a mapping fitted to control points; the result carries the alignment score before and
after. See `grainseg.register.mapping` for the coordinate conventions.
"""

from grainseg.register.mapping import (
    AffineDriftMapping,
    PixelMapping,
    box_mapping,
    nominal_mapping,
)
from grainseg.register.pipeline import (
    Registration,
    check_registration,
    register_ebsd,
)
from grainseg.register.points import mapping_from_points, read_point_pairs
from grainseg.register.score import MIN_OVERLAP, MIN_SCORE, alignment_score

__all__ = [
    "MIN_OVERLAP",
    "MIN_SCORE",
    "AffineDriftMapping",
    "PixelMapping",
    "Registration",
    "alignment_score",
    "box_mapping",
    "check_registration",
    "mapping_from_points",
    "nominal_mapping",
    "read_point_pairs",
    "register_ebsd",
]
