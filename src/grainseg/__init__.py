"""grainseg: grain-boundary segmentation of SEM micrographs with CNNs trained on EBSD labels."""

__version__ = "0.1.0"
