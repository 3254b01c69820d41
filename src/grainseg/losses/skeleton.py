"""Cheap topology-aware losses on skeletons: soft clDice and skeleton recall.

Both reward connected boundaries without any persistence computation:

- clDice (Shit et al., CVPR 2021): the soft skeleton of the prediction should lie inside the label
  (topology precision) and the soft skeleton of the label inside the prediction (topology
  sensitivity); the loss is one minus their harmonic mean. The soft skeleton is built from iterated
  min- and max-pooling, so it is differentiable and runs on any device.
- skeleton recall (Kirchhoff et al., ECCV 2024): one minus the mean predicted probability on the
  label's skeleton (scikit-image thinning). A gap in a predicted boundary sits on the skeleton and is
  penalised however thin it is.

Both take probabilities after the sigmoid, like `grainseg.losses.topology.TopoLoss`, and pool the
sums over the whole batch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skimage.morphology import skeletonize

_EPS = 1e-6


def soft_erode(image: torch.Tensor) -> torch.Tensor:
    """Grey erosion by a 3 x 3 cross (min-pooling), (B, C, H, W) -> same shape."""
    across = -F.max_pool2d(-image, (3, 1), stride=1, padding=(1, 0))
    along = -F.max_pool2d(-image, (1, 3), stride=1, padding=(0, 1))
    return torch.minimum(across, along)


def soft_dilate(image: torch.Tensor) -> torch.Tensor:
    """Grey dilation by a 3 x 3 square (max-pooling), (B, C, H, W) -> same shape."""
    return F.max_pool2d(image, 3, stride=1, padding=1)


def soft_skeleton(image: torch.Tensor, iterations: int = 5) -> torch.Tensor:
    """Differentiable soft skeleton of a map in [0, 1] (Shit et al.).

    Parameters
    ----------
    image : (B, C, H, W) float tensor
        Values in [0, 1].
    iterations : int
        Erosion steps; must reach about half the widest line width in pixels.

    Returns
    -------
    (B, C, H, W) float tensor
        In [0, 1]; high on the medial lines of bright structures.
    """
    skeleton = F.relu(image - soft_dilate(soft_erode(image)))
    for _ in range(iterations):
        image = soft_erode(image)
        delta = F.relu(image - soft_dilate(soft_erode(image)))
        skeleton = skeleton + F.relu(delta - skeleton * delta)
    return skeleton


class SoftClDiceLoss(torch.nn.Module):
    """1 - clDice between predicted probability and label, with soft skeletons of both.

    Parameters
    ----------
    iterations : int
        Soft-skeleton iterations (boundaries here are a few pixels wide; 5 covers 10 px).
    """

    def __init__(self, iterations: int = 5) -> None:
        super().__init__()
        self.iterations = int(iterations)

    def forward(
        self, prob: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of a batch.

        Parameters
        ----------
        prob : (B, 1, H, W) float tensor
            Boundary probability (after the sigmoid).
        target : (B, 1, H, W) tensor
            1 on boundaries, 0 elsewhere.
        valid : (B, 1, H, W) bool tensor or None
            False where the label is unknown; those pixels add nothing.

        Returns
        -------
        scalar float32 tensor in [0, 1]
        """
        prob = prob.float()
        target = target.float()
        weight = torch.ones_like(prob) if valid is None else valid.float()
        skel_pred = soft_skeleton(prob, self.iterations) * weight
        skel_true = soft_skeleton(target, self.iterations) * weight
        precision = ((skel_pred * target).sum() + _EPS) / (skel_pred.sum() + _EPS)
        sensitivity = ((skel_true * prob).sum() + _EPS) / (skel_true.sum() + _EPS)
        return 1.0 - 2.0 * precision * sensitivity / (precision + sensitivity)


def label_skeleton(target: np.ndarray) -> np.ndarray:
    """One-pixel skeleton of each label of a batch (scikit-image thinning, one call for all).

    Parameters
    ----------
    target : (B, H, W) array
        Label, 1 (or True) on boundaries.

    Returns
    -------
    (B, H, W) bool array
    """
    n_images, height, width = target.shape
    # Images stacked with one empty row between them: thinning looks at 3 x 3 neighbourhoods only,
    # so an empty row separates them exactly as the zero padding at an image edge does.
    stacked = np.zeros((n_images, height + 1, width), dtype=bool)
    stacked[:, :height] = np.asarray(target) > 0.5
    skeleton = skeletonize(stacked.reshape(n_images * (height + 1), width))
    return skeleton.reshape(n_images, height + 1, width)[:, :height]


class SkeletonRecallLoss(torch.nn.Module):
    """1 - mean predicted boundary probability on the label's skeleton (Kirchhoff et al.)."""

    def forward(
        self, prob: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss of a batch.

        Parameters
        ----------
        prob : (B, 1, H, W) float tensor
            Boundary probability (after the sigmoid).
        target : (B, 1, H, W) tensor
            1 on boundaries, 0 elsewhere.
        valid : (B, 1, H, W) bool tensor or None
            False where the label is unknown; those pixels add nothing.

        Returns
        -------
        scalar float32 tensor in [0, 1]
            0 when the batch has no (valid) skeleton pixel.
        """
        skeleton = torch.from_numpy(label_skeleton(target.detach()[:, 0].cpu().numpy()))
        skeleton = skeleton[:, None].to(prob.device)
        if valid is not None:
            skeleton = skeleton & valid.bool()
        n_skeleton = skeleton.sum()
        if n_skeleton == 0:
            return prob.float().sum() * 0.0
        return 1.0 - prob.float()[skeleton].sum() / n_skeleton
