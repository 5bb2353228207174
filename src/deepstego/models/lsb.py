"""``lsb``: the classical baseline — the secret's top k bits replace the cover's bottom k bits."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .base import StegoModel
from .registry import register_model


@dataclass
class LSBConfig:
    bits: int = 4


@register_model("lsb", LSBConfig, "classical k-bit LSB image-in-image (no training)")
class LSB(StegoModel):
    trainable = False
    receptive_radius = 0

    def __init__(self, config: LSBConfig):
        super().__init__(config)
        if not 1 <= config.bits <= 7:
            raise ValueError("bits must be between 1 and 7")

    @staticmethod
    def _u8(x: torch.Tensor) -> torch.Tensor:
        return torch.round(x.float().clamp(0, 1) * 255).to(torch.int32)

    def encode(self, cover: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
        k = self.config.bits
        low = (1 << k) - 1
        stego = (self._u8(cover) & ~low) | (self._u8(secret) >> (8 - k))
        return stego.float() / 255.0

    def decode(self, stego: torch.Tensor) -> torch.Tensor:
        k = self.config.bits
        # reconstruct at the centre of each quantisation bin: half a bin better than zero-filling
        value = ((self._u8(stego) & ((1 << k) - 1)) << (8 - k)) + (1 << (7 - k))
        return value.float() / 255.0
