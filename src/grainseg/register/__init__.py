"""Register an EBSD map to an SEM image of the same area.

`register_ebsd` is the entry point: global search (flips, rotation, translation at the nominal
scale), then coarse-to-fine refinement of the affine map and of the drift along the EBSD slow
axis, or a mapping fitted to control points; the result carries the alignment score before and
after. See `grainseg.register.mapping` for the coordinate conventions.
"""
