"""Class-weighted binary cross-entropy with an ignore mask, summed over side outputs.

The paper weights the boundary class by ``w`` (4, 6, 9 or 11) and the background by 1, because
boundary pixels are only ~10% of an image. Deeply supervised networks (HED, RCF, DeepCrack) return
several side outputs and a fused output; each gets the same loss and the losses are summed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def weighted_bce(
    logits: torch.Tensor | Sequence[torch.Tensor],
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    pos_weight: float = 9.0,
) -> torch.Tensor:
    """Class-weighted BCE averaged over valid pixels, summed over outputs.

    Parameters
    ----------
    logits : (B, 1, H, W) tensor or list of them
        Raw network outputs (before the sigmoid); a list holds side outputs and the fused output.
    target : (B, 1, H, W) tensor
        1 on boundary pixels, 0 elsewhere (any float or integer dtype).
    valid : (B, 1, H, W) bool tensor or None
        False where the label is unknown (ignore mask); those pixels add nothing.
    pos_weight : float
        Weight of boundary pixels; background pixels weigh 1.

    Returns
    -------
    scalar float32 tensor
        Sum over outputs of the weighted per-pixel loss divided by the number of valid pixels.
    """
    outputs = [logits] if isinstance(logits, torch.Tensor) else list(logits)
    target = target.float()
    weight = 1.0 + (float(pos_weight) - 1.0) * target
    if valid is not None:
        weight = weight * valid.float()
        n_valid = valid.sum().clamp_min(1).float()
    else:
        n_valid = torch.tensor(float(target.numel()), device=target.device)
    total = torch.zeros((), device=target.device, dtype=torch.float32)
    for out in outputs:
        loss = F.binary_cross_entropy_with_logits(
            out.float(), target, weight=weight, reduction="sum"
        )
        total = total + loss / n_valid
    return total
