"""What makes a stego harder for a steganalyser to tell from a clean photo, as the hider's costs.

- :func:`residual_statistics`: what the rich-model steganalyser (``detect --method srm``) counts, made
  differentiable: co-occurrences of neighbouring quantised, truncated high-pass residuals of the luma (SRM's
  features, on soft bins). :func:`residual_statistics_penalty`, the L1 distance between a stego's and its cover's,
  is paid by ``--stealth`` hides in their refinement and, with ``--residual-stats-weight``, by training.
- :func:`hill_cost`: HILL's embedding cost (Li et al. 2014): a high-pass residual, its local mean magnitude, its
  reciprocal, spread by a wide mean. Smooth regions cost much, textured ones little. Weighting the cover loss by
  it (``train --adaptive-cover``) lets the residual live where the cover is busy, as adaptive steganography does.
- :func:`capped`: the stealth dial's energy cap, the residual scaled down to a share of the network's RMS.

What each buys against detectors trained afresh is measured in docs/steganalysis.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import limits

STEALTH_ENERGY = 0.7  # --stealth: the residual's RMS capped at this share of the network's
STEALTH_STATS = 0.3  # --stealth: weight of the residual-statistics penalty in the refinement
STEALTH_STEPS = 30  # a capped residual needs more steps to find where the reveal network reads it best

HILL_KERNEL = torch.tensor([[-1.0, 2, -1], [2, -4, 2], [-1, 2, -1]]) / 4  # KB high-pass


def _luma(image: torch.Tensor) -> torch.Tensor:
    """N×3×H×W in [0, 1] → N×1×H×W BT.601 luma in 8-bit levels (0–255)."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=image.device).view(1, 3, 1, 1)
    return (image.float() * weights).sum(1, keepdim=True) * 255


def hill_cost(cover: torch.Tensor) -> torch.Tensor:
    """N×1×H×W embedding cost of each pixel, normalised to mean 1 per image (from the cover's luma)."""
    luma = _luma(cover)
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
    kernels = torch.stack([k / q for k, q in RESIDUAL_FILTERS]).unsqueeze(1).to(image.device)
    r = F.conv2d(_luma(image), kernels)[..., 1:-1, 1:-1]  # N×F×H×W, away from the borders
    centres = torch.arange(-TRUNCATION, TRUNCATION + 1, dtype=r.dtype, device=r.device)
    bins = F.relu(1 - (r.clamp(-TRUNCATION, TRUNCATION).unsqueeze(-1) - centres).abs())  # N×F×H×W×B
    horizontal = torch.einsum("nfhwa,nfhwb->nfab", bins[..., :, :-1, :], bins[..., :, 1:, :])
    vertical = torch.einsum("nfhwa,nfhwb->nfab", bins[..., :-1, :, :], bins[..., 1:, :, :])
    co = (horizontal + vertical).flatten(2)
    return co / co.sum(-1, keepdim=True)


def residual_statistics_penalty(cover: torch.Tensor, stego: torch.Tensor,
                                cover_statistics: torch.Tensor | None = None) -> torch.Tensor:
    """Mean L1 distance (0..2) between the stego's and the cover's :func:`residual_statistics` (the cover's given
    as ``cover_statistics`` where a loop compares many stego images with one cover)."""
    if cover_statistics is None:
        with torch.no_grad():
            cover_statistics = residual_statistics(cover)
    return (residual_statistics(stego) - cover_statistics).abs().sum(-1).mean()


@dataclass(frozen=True)
class Stealth:
    """The stealth dial of a hide: ``energy``, the residual's cap as a share of the network's RMS (None: no cap),
    and ``stats``, the weight of :func:`residual_statistics_penalty` in the refinement."""

    energy: float | None = STEALTH_ENERGY
    stats: float = STEALTH_STATS

    def __post_init__(self):
        if self.energy is not None:
            object.__setattr__(self, "energy", limits.fraction("the stealth energy", self.energy))
        object.__setattr__(self, "stats", limits.share("the residual-statistics weight", self.stats, 1000.0))

    @classmethod
    def of(cls, value: "bool | float | Stealth | None") -> "Stealth | None":
        """``hide``'s ``stealth``: False/None → off, True → the defaults, a number → that energy cap."""
        if value is None or value is False:
            return None
        if isinstance(value, Stealth):
            return value
        return cls() if value is True else cls(energy=value)


def rms(residual: torch.Tensor) -> torch.Tensor:
    """N×1×1×1 root mean square of each image's residual."""
    return residual.float().pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()


def capped(residual: torch.Tensor, cap: torch.Tensor) -> torch.Tensor:
    """``residual`` scaled down (per image) to RMS ``cap`` where it is above it."""
    return residual * (cap / rms(residual).clamp(min=1e-12)).clamp(max=1.0)
