"""The shape every hiding architecture shares: a prep, a hide and a reveal network, trained end to end."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .blocks import quantize


@dataclass
class StegoOutput:
    """Result of a training forward pass; all tensors are N×3×H×W floats in [0, 1]."""

    stego: torch.Tensor  # the stego image as stored (clamped, 8-bit rounded unless told otherwise)
    revealed: torch.Tensor  # the secret recovered from ``stego``


class StegoModel(nn.Module):
    """A prep + hide + reveal triple.

    Subclasses set ``self.prep``, ``self.hide`` and ``self.reveal`` and implement :meth:`encode` (cover and secret
    → stego, before storage) and :meth:`decode` (stored stego → secret). ``config`` is the dataclass the model was
    built from; ``arch`` is its registry name. Inputs and outputs are N×3×H×W floats in [0, 1].
    """

    arch: str = ""
    trainable: bool = True
    #: H and W of inputs must be multiples of this (callers pad).
    multiple: int = 1
    #: pixels of context each output pixel depends on, per side (used to tile large images exactly).
    receptive_radius: int = 16
    #: standard deviation of Gaussian noise added to the stego before the reveal network while training.
    train_noise: float = 0.0

    def __init__(self, config):
        super().__init__()
        self.config = config

    def encode(self, cover: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, stego: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, cover: torch.Tensor, secret: torch.Tensor, *, quant: str = "round") -> StegoOutput:
        stego = quantize(self.encode(cover, secret), quant)
        seen = stego
        if self.training and self.train_noise > 0:
            seen = stego + torch.randn_like(stego) * self.train_noise
        return StegoOutput(stego=stego, revealed=self.decode(seen))

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)
