"""Training: the loss, the trainer and its checkpoints."""

from .losses import LossConfig, stego_loss
from .trainer import TrainConfig, Trainer, train

__all__ = ["LossConfig", "TrainConfig", "Trainer", "stego_loss", "train"]
