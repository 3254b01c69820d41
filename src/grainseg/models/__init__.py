"""The five boundary-segmentation networks of the paper, by name, and their files.

Every network maps (B, C, H, W) float32 (the `preprocess_sem` image, C = 1) to a list of
(B, 1, H, W) boundary logit maps at the input resolution, the last being the prediction (the
fused map for the networks with side outputs, the only map for U-Net and DefectSegNet). Any H, W
is accepted: each network pads inside and crops back; tiles whose sides are multiples of
`SIZE_MULTIPLE` need no padding.
"""

from __future__ import annotations

from pathlib import Path

from grainseg.models.flops import count_flops
from grainseg.models.io import load_model, read_torch_file, save_model
from grainseg.models.registry import (
    ARCHITECTURES,
    PAPER_PARAMETERS_M,
    SIZE_MULTIPLE,
    build_model,
    count_parameters,
)

__all__ = [
    "ARCHITECTURES",
    "default_model_path",
    "PAPER_PARAMETERS_M",
    "SIZE_MULTIPLE",
    "build_model",
    "count_flops",
    "count_parameters",
    "load_model",
    "read_torch_file",
    "save_model",
]


def default_model_path() -> Path:
    """Where the model shipped with grainseg lies (see docs/model-card.md); it may be absent."""
    return Path(__file__).parent / "weights" / "default.pt"
