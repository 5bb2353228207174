"""Building blocks shared by the hiding architectures: activations, residual blocks, 8-bit rounding."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = ("relu", "tanh", "leaky_relu", "gelu")


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module for ``name`` (one of :data:`ACTIVATIONS`)."""
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "tanh":
        return nn.Tanh()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2, inplace=True)
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")


class ResBlock(nn.Module):
    """conv3x3 → act → conv3x3, added to the input."""

    def __init__(self, channels: int, activation: str = "relu"):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = make_activation(activation)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


def round_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] values to the 256 levels of an 8-bit image, passing gradients straight through."""
    return x + (torch.round(x * 255.0) / 255.0 - x).detach()


def quantize(x: torch.Tensor, mode: str) -> torch.Tensor:
    """Clamp to [0, 1] and model 8-bit storage.

    ``mode`` is ``"round"`` (straight-through rounding, what a saved PNG does), ``"noise"`` (uniform noise of
    ±0.5/255, a differentiable stand-in used to warm training up) or ``"none"``.
    """
    # clamp with a straight-through gradient: a saturated pixel still gets pulled back into range by the loss,
    # instead of a zero gradient that can freeze a hider whose output starts outside [0, 1]
    x = x + (x.clamp(0.0, 1.0) - x).detach()
    if mode == "round":
        return round_8bit(x)
    if mode == "noise":
        return (x + (torch.rand_like(x) - 0.5) / 255.0).clamp(0.0, 1.0)
    if mode == "none":
        return x
    raise ValueError(f"unknown quantize mode {mode!r}")
