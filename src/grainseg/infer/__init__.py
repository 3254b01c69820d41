"""Whole-micrograph inference: overlapping tiles -> probability -> closed boundary network."""

from grainseg.infer.postprocess import probability_to_network
from grainseg.infer.segment import SegmentationResult, segment_image

__all__ = ["SegmentationResult", "probability_to_network", "segment_image"]
