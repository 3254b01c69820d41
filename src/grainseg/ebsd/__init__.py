"""EBSD maps: orientation maths, misorientation, boundary classes, grain reconstruction, and
the ``ebsd-grains`` stage (`grainseg.ebsd.stage`)."""
