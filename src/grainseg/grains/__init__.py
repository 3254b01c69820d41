"""Grain statistics: the grain table, distribution fits, distances, ASTM E112, boundary width."""
