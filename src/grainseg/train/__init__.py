"""Training: the config dataclass, the one LightningModule, run directories, evaluation and the
architecture / class-weight comparison (the paper's Tables 2 and 3)."""

from grainseg.train.config import TrainConfig

__all__ = ["TrainConfig"]
