"""The one LightningModule: any architecture, class-weighted BCE, optional topological loss."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from grainseg.errors import GrainsegError
from grainseg.losses.bce import weighted_bce
from grainseg.metrics.pixel import pixel_scores
from grainseg.models import build_model


def add_spatial_dropout(model: nn.Module, p: float) -> None:
    """Spatial dropout (``F.dropout2d``) on the output of every ``Conv2d`` with > 1 channel.

    Works on any architecture without touching its code; convolutions with one output channel
    (side outputs, fusion) are left alone so predictions are never dropped. Hooks hold no
    parameters, so the state dict is unchanged.
    """

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        return F.dropout2d(output, p=p, training=module.training)

    for module in model.modules():
        if isinstance(module, nn.Conv2d) and module.out_channels > 1:
            module.register_forward_hook(hook)


def build_topology_loss(name: str):
    """The topological loss by name, imported on demand (GrainsegError if not installed)."""
    try:
        from grainseg.losses.topology import build_topo_loss
    except ImportError as exc:
        raise GrainsegError(f"topological loss not available ({exc})") from None
    return build_topo_loss(name, patch=64)


class BoundaryModule(L.LightningModule):
    """Trains a boundary network on (image, label, valid) batches.

    Parameters
    ----------
    arch, width, in_channels :
        Passed to `grainseg.models.build_model` (also read back by `grainseg.models.load_model`
        from a checkpoint's hyper-parameters).
    pos_weight : float
        BCE weight of boundary pixels.
    lr, weight_decay : float
        Adam settings.
    dropout : float
        See `add_spatial_dropout`; 0 disables.
    topo_lambda : float
        Loss = BCE + topo_lambda * topo(sigmoid(fused logits)); 0 disables.
    topo_loss : str
        Name for `grainseg.losses.topology.build_topo_loss`.
    median_px, patch : int
        Preprocessing and patch size of the data set (kept with the weights for inference).
    seed : int
        Seed of the weight initialisation.
    """

    def __init__(
        self,
        arch: str,
        width: float = 1.0,
        in_channels: int = 1,
        pos_weight: float = 9.0,
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        dropout: float = 0.0,
        topo_lambda: float = 0.0,
        topo_loss: str = "hu",
        median_px: int = 3,
        patch: int = 128,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = build_model(arch, in_channels=in_channels, width=width, seed=seed)
        if dropout > 0:
            add_spatial_dropout(self.model, dropout)
        self.topo = build_topology_loss(topo_loss) if topo_lambda > 0 else None
        self.register_buffer("_val_counts", torch.zeros(3, dtype=torch.float64), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Logit maps, each (B, 1, H, W); the last is the prediction."""
        return self.model(x)

    def _loss(self, batch, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        image, label, valid = batch
        outputs = self.model(image)
        bce = weighted_bce(outputs, label, valid, self.hparams.pos_weight)
        loss = bce
        size = image.shape[0]
        if self.topo is not None:
            topo = self.topo(torch.sigmoid(outputs[-1].float()), label, valid)
            loss = bce + self.hparams.topo_lambda * topo
            self.log(f"{stage}_bce", bce, on_step=False, on_epoch=True, sync_dist=True,
                     batch_size=size)
            self.log(f"{stage}_topo", topo, on_step=False, on_epoch=True, sync_dist=True,
                     batch_size=size)
        return loss, outputs[-1]

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch, "train")
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=batch[0].shape[0], sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_counts.zero_()

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, fused = self._loss(batch, "val")
        self.log("val_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=batch[0].shape[0], sync_dist=True)
        _, label, valid = batch
        pred = fused > 0
        true = label > 0.5
        tp = (pred & true & valid).sum()
        fp = (pred & ~true & valid).sum()
        fn = (~pred & true & valid).sum()
        self._val_counts += torch.stack([tp, fp, fn]).to(self._val_counts.dtype)

    def on_validation_epoch_end(self) -> None:
        tp, fp, fn = self.trainer.strategy.reduce(self._val_counts.clone(), reduce_op="sum")
        scores = pixel_scores({"tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": 0})
        self.log_dict({f"val_{key}": scores[key] for key in ("precision", "recall", "dice")},
                      prog_bar=False)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.model.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
