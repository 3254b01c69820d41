"""Segmentation metrics on boundary maps.

- `pixel`: pooled confusion counts and TPR, TNR, precision, recall, Dice (the paper's Table 2/3).
- `grains`: adjusted Rand index of the grains enclosed by the boundaries (the paper's Table 4).
- `boundary`: boundary precision/recall/F1 with a pixel tolerance and boundary width.
- `topology`: Betti-number errors.
"""
