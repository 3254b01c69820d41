"""EBSD maps: orientation maths, misorientation, boundary classes, grain reconstruction."""
