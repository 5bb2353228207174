"""``baluja``: the seed design ("Hiding Images in Plain Sight", Baluja 2017).

Every layer runs parallel 3×3, 4×4 and 5×5 convolutions and concatenates them; prep has 2 such layers, hide and
reveal 5 each, all at full resolution. Gaussian noise is added to the stego before the reveal network in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import StegoModel
from .blocks import make_activation
from .registry import register_model


@dataclass
class BalujaConfig:
    filters: int = 65  # per layer, split across the three branches
    prep_layers: int = 2
    hide_layers: int = 5
    reveal_layers: int = 5
    activation: str = "relu"
    noise: float = 0.01


class MultiBranch(nn.Module):
    """Parallel 3×3 / 4×4 / 5×5 convolutions, concatenated, then the activation."""

    def __init__(self, cin: int, filters: int, activation: str):
        super().__init__()
        if filters < 3:
            raise ValueError("filters must be at least 3")
        n = filters // 3
        self.b3 = nn.Conv2d(cin, filters - 2 * n, 3, padding=1)
        # an even kernel needs asymmetric padding; an explicit pad avoids PyTorch copying the input each call
        self.b4 = nn.Sequential(nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(cin, n, 4))
        self.b5 = nn.Conv2d(cin, n, 5, padding=2)
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(torch.cat([self.b3(x), self.b4(x), self.b5(x)], dim=1))


def _stack(cin: int, layers: int, filters: int, activation: str) -> list[nn.Module]:
    mods = []
    for i in range(layers):
        mods.append(MultiBranch(cin if i == 0 else filters, filters, activation))
    return mods


@register_model("baluja", BalujaConfig, "seed design: 3/4/5 multi-branch convolutions at full resolution")
class Baluja(StegoModel):
    receptive_radius = 32

    def __init__(self, config: BalujaConfig):
        super().__init__(config)
        f, act = config.filters, config.activation
        self.train_noise = config.noise
        self.prep = nn.Sequential(*_stack(3, config.prep_layers, f, act))
        self.hide = nn.Sequential(*_stack(3 + f, config.hide_layers, f, act), nn.Conv2d(f, 3, 1))
        self.reveal = nn.Sequential(*_stack(3, config.reveal_layers, f, act), nn.Conv2d(f, 3, 1))

    def encode(self, cover: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
        return self.hide(torch.cat([cover, self.prep(secret)], dim=1)).float()

    def decode(self, stego: torch.Tensor) -> torch.Tensor:
        return self.reveal(stego).float()
