"""Synthetic SEM + EBSD specimens with exact truth (``grainseg synth``)."""

from grainseg.synth.sem_contrast import SemStyle, random_style
from grainseg.synth.specimen import Specimen, generate_specimen, specimen_truth, write_specimen

__all__ = [
    "SemStyle",
    "Specimen",
    "generate_specimen",
    "random_style",
    "specimen_truth",
    "write_specimen",
]
