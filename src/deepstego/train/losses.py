"""The training objective: ‖c − c′‖ + β‖s − s′‖ with L1 (the seed's choice) or L2, an optional SSIM term, and
a cover weight ramped up from a small value so the hider does not settle on hiding nothing."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..metrics import ssim_loss


@dataclass
class LossConfig:
    kind: str = "l1"  # l1 | l2
    beta: float = 0.75
    ssim_weight: float = 0.0
    cover_ramp_start: float = 0.02
    cover_ramp_steps: int = 1000
    adaptive: bool = False  # the cover's L1 term weighted by HILL's embedding cost (stealth.hill_cost)
    residual_stats: float = 0.0  # weight of the SRM-residual statistics penalty (stealth.residual_statistics)


def cover_weight(cfg: LossConfig, step: int) -> float:
    if cfg.cover_ramp_steps <= 0:
        return 1.0
    t = min(1.0, step / cfg.cover_ramp_steps)
    return cfg.cover_ramp_start + (1.0 - cfg.cover_ramp_start) * t


def _distance(kind: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if kind == "l1":
        return (a - b).abs().mean()
    if kind == "l2":
        return (a - b).pow(2).mean()
    raise ValueError(f"unknown loss {kind!r}; choose l1 or l2")


def stego_loss(cfg: LossConfig, cover, secret, stego, revealed, *, step: int | None = None) -> dict[str, torch.Tensor]:
    """Loss terms for one batch (float32 N×3×H×W in [0, 1]); ``step=None`` uses the full cover weight."""
    wc = 1.0 if step is None else cover_weight(cfg, step)
    stego, revealed = stego.float(), revealed.float()
    if cfg.adaptive:  # the residual is cheap where the cover is busy, dear where it is smooth
        from ..stealth import hill_cost

        with torch.no_grad():
            cost = hill_cost(cover)
        diff = (cover - stego).abs() if cfg.kind == "l1" else (cover - stego).pow(2)
        c = (cost * diff).mean()
    else:
        c = _distance(cfg.kind, cover, stego)
    s = _distance(cfg.kind, secret, revealed)
    total = wc * c + cfg.beta * s
    out = {"cover": c.detach(), "secret": s.detach()}
    if cfg.residual_stats > 0:  # what a rich-model steganalyser counts, stego against cover
        from ..stealth import residual_statistics_penalty

        stats = residual_statistics_penalty(cover, stego)
        total = total + wc * cfg.residual_stats * stats
        out["residual_stats"] = stats.detach()
    if cfg.ssim_weight > 0:
        cs = ssim_loss(cover, stego)
        ss = ssim_loss(secret, revealed.clamp(0, 1))
        total = total + cfg.ssim_weight * (wc * cs + cfg.beta * ss)
    out["total"] = total
    return out
