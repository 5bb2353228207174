"""Steganalysis in the training loop: a critic trained alternately with the hider (the cost maps and residual
statistics that training also uses live in :mod:`deepstego.stealth`).

- :class:`Critic`: the project's ``cnn`` steganalyser (learnable SRM high-pass front end, no pooling before its
  first stage), updated on every batch to tell the covers from their detached stego. The hider pays for what it
  detects: the critic's log-odds that its stego is clean are pushed up (the non-saturating GAN loss). SteganoGAN's
  critic is a plain CNN; this one is built to see the residual.

Every AUC on the steganalysis page comes from a detector trained after the hider was frozen: the critic is the
hider's sparring partner, not a measurement.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

class Critic(torch.nn.Module):
    """The ``cnn`` detector with its own optimiser."""

    def __init__(self, lr: float = 1e-3):
        super().__init__()
        from ..steganalysis.detectors import CNNDetector

        self.net = CNNDetector()
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=lr, weight_decay=1e-4)
        self.accuracy: list[float] = []

    def learn(self, cover: torch.Tensor, stego: torch.Tensor) -> None:
        """One step on the batch's covers (clean) and their detached 8-bit stego."""
        x = torch.cat([cover, stego.detach().float()])
        y = torch.cat([cover.new_zeros(len(cover)), cover.new_ones(len(stego))])
        logits = self.net(x)
        loss = F.binary_cross_entropy_with_logits(logits, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.accuracy.append(float(((logits.detach() > 0).float() == y).float().mean()))

    def penalty(self, stego: torch.Tensor) -> torch.Tensor:
        """The hider's cost: −log P(clean) of its stego, by the critic (whose weights get no gradient)."""
        for p in self.net.parameters():
            p.requires_grad_(False)
        try:
            self.net.eval()  # batch statistics of stego alone would tell the critic nothing
            return F.softplus(self.net(stego.float())).mean()
        finally:
            self.net.train()
            for p in self.net.parameters():
                p.requires_grad_(True)

    def state(self) -> dict:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict()}

    def load(self, state: dict) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
