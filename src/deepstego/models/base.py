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
    #: keyed models take the key's signs (:mod:`deepstego.keys`, 9·(key_rounds + 1) per carrier position) in encode
    #: and decode.
    keyed: bool = False
    key_rounds: int = 1

    def __init__(self, config):
        super().__init__()
        self.config = config

    def encode(self, cover: torch.Tensor, secret: torch.Tensor, signs: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, stego: torch.Tensor, signs: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def inference_graph(self) -> nn.Module:
        """The module (with this model's ``encode`` and ``decode``) that an inference backend traces and compiles:
        the model itself, or the same passes written as a graph a compiler runs faster."""
        return self

    def key_grid(self, height: int, width: int) -> tuple[int, int]:
        """The carrier grid a key's signs cover for an input of height×width pixels (padded to ``multiple``)."""
        m = max(1, self.multiple)
        return -(-height // m), -(-width // m)

    def key_signs(self, key, height: int, width: int) -> torch.Tensor:
        """The signs ``key`` (a :class:`deepstego.keys.Key`) gives this model for an input of height×width pixels."""
        return key.signs(*self.key_grid(height, width), rounds=self.key_rounds)

    def random_signs(self, n: int, height: int, width: int) -> torch.Tensor:
        """Signs of n fresh random keys, one per example (training, attackers)."""
        from ..keys import random_signs

        return random_signs(n, *self.key_grid(height, width), rounds=self.key_rounds)

    def forward(self, cover: torch.Tensor, secret: torch.Tensor, *, quant: str = "round",
                signs: torch.Tensor | None = None, channel=None) -> StegoOutput:
        """Training pass; a keyed model without ``signs`` gets a fresh random key per example; ``channel`` (a
        callable such as :class:`deepstego.channel.Channel`) stands between the stored stego and the reveal."""
        if self.keyed and signs is None:
            signs = self.random_signs(len(cover), *cover.shape[-2:]).to(cover.device)
        key = (signs,) if self.keyed else ()  # keyless architectures take no signs
        stego = quantize(self.encode(cover, secret, *key), quant)
        seen = stego if channel is None else channel(stego)
        if self.training and self.train_noise > 0:
            seen = stego + torch.randn_like(stego) * self.train_noise
        return StegoOutput(stego=stego, revealed=self.decode(seen, *key))

    def config_dict(self) -> dict:
        return dataclasses.asdict(self.config)
