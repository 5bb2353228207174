"""Steganalysis in the training loop: a critic trained alternately with the hider, and a texture-adaptive cost map
for the cover loss.

- :class:`Critic`: the project's ``cnn`` steganalyser (learnable SRM high-pass front end, no pooling before its
  first stage), updated on every batch to tell the covers from their detached stego. The hider pays for what it
  detects: the critic's log-odds that its stego is clean are pushed up (the non-saturating GAN loss). SteganoGAN's
  critic is a plain CNN; this one is built to see the residual.
- :func:`residual_statistics`: what the rich-model steganalyser counts, made differentiable: co-occurrences of
  neighbouring quantised, truncated high-pass residuals (SRM's features, on soft bins). The hider pays the L1
  distance between its stego's and the cover's (``--residual-stats-weight``).
- :func:`hill_cost`: HILL's embedding cost (Li et al. 2014): a high-pass residual, its local mean magnitude, its
  reciprocal, spread by a wide mean. Smooth regions cost much, textured ones little. Weighting the cover loss
  by it lets the hider's residual live where the cover is busy, as adaptive steganography does.

Every AUC on the steganalysis page comes from a detector trained after the hider was frozen: the critic is the
hider's sparring partner, not a measurement.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

HILL_KERNEL = torch.tensor([[-1.0, 2, -1], [2, -4, 2], [-1, 2, -1]]) / 4  # KB high-pass


def hill_cost(cover: torch.Tensor) -> torch.Tensor:
    """N×1×H×W embedding cost of each pixel, normalised to mean 1 per image (from the cover's luma)."""
    luma = (cover.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True) * 255
    r = F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="reflect"), HILL_KERNEL.view(1, 1, 3, 3))
    r = F.avg_pool2d(F.pad(r.abs(), (1, 1, 1, 1), mode="reflect"), 3, 1)
    cost = F.avg_pool2d(F.pad(1 / (r + 1e-2), (7, 7, 7, 7), mode="reflect"), 15, 1)
    cost = cost.clamp(max=cost.flatten(1).quantile(0.99, dim=1).view(-1, 1, 1, 1))  # flat patches: bounded
    return cost / cost.mean(dim=(1, 2, 3), keepdim=True)


# SRM-style residual filters (first and second order, horizontal and vertical, and KB) and their quantisation steps
RESIDUAL_FILTERS = (
    (torch.tensor([[0.0, 0, 0], [0, -1, 1], [0, 0, 0]]), 1.0),
    (torch.tensor([[0.0, 0, 0], [0, -1, 0], [0, 1, 0]]), 1.0),
    (torch.tensor([[0.0, 0, 0], [1, -2, 1], [0, 0, 0]]), 2.0),
    (torch.tensor([[0.0, 1, 0], [0, -2, 0], [0, 1, 0]]), 2.0),
    (-4 * HILL_KERNEL, 4.0),
)
TRUNCATION = 2  # residuals clipped to -T..T after quantisation: 2T + 1 bins, as in SRM's T = 2 submodels


def residual_statistics(image: torch.Tensor) -> torch.Tensor:
    """N×F×(2T+1)² co-occurrence matrices of horizontally and vertically adjacent residuals of the 8-bit luma, for
    each of :data:`RESIDUAL_FILTERS` (soft, triangular bins: differentiable), each summing to 1."""
    luma = (image.float() * torch.tensor([0.299, 0.587, 0.114], device=image.device).view(1, 3, 1, 1)).sum(1, True)
    kernels = torch.stack([k / q for k, q in RESIDUAL_FILTERS]).unsqueeze(1).to(image.device)
    r = F.conv2d(luma * 255, kernels)[..., 1:-1, 1:-1]  # N×F×H×W, away from the borders
    centres = torch.arange(-TRUNCATION, TRUNCATION + 1, dtype=r.dtype, device=r.device)
    bins = F.relu(1 - (r.clamp(-TRUNCATION, TRUNCATION).unsqueeze(-1) - centres).abs())  # N×F×H×W×B
    horizontal = torch.einsum("nfhwa,nfhwb->nfab", bins[..., :, :-1, :], bins[..., :, 1:, :])
    vertical = torch.einsum("nfhwa,nfhwb->nfab", bins[..., :-1, :, :], bins[..., 1:, :, :])
    co = (horizontal + vertical).flatten(2)
    return co / co.sum(-1, keepdim=True)


def residual_statistics_penalty(cover: torch.Tensor, stego: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance (0..2) between the stego's and the cover's :func:`residual_statistics`."""
    with torch.no_grad():
        target = residual_statistics(cover)
    return (residual_statistics(stego) - target).abs().sum(-1).mean()


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
        y = torch.cat([torch.zeros(len(cover)), torch.ones(len(stego))])
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
