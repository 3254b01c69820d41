"""Training losses: class-weighted BCE with an ignore mask (`bce`) and topological losses
(`topology`, imported on demand because it pulls in persistent-homology code)."""

from grainseg.losses.bce import weighted_bce

__all__ = ["weighted_bce"]
