"""The 6-column comparison grid: cover, secret, encoded cover, decoded secret, |cover diff|×10, |secret diff|×10."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

COLUMNS = ("cover", "secret", "stego", "revealed", "|cover diff| x10", "|secret diff| x10")


def comparison_grid(cover: torch.Tensor, secret: torch.Tensor, stego: torch.Tensor, revealed: torch.Tensor,
                    *, gap: int = 4) -> np.ndarray:
    """One row per pair (N×3×H×W tensors in [0, 1]) → H'×W'×3 uint8 image with the six columns."""
    cols = [cover, secret, stego, revealed, (cover - stego).abs() * 10, (secret - revealed).abs() * 10]
    n, _, h, w = cover.shape
    grid = np.full((n * (h + gap) - gap, 6 * (w + gap) - gap, 3), 255, np.uint8)
    for c, t in enumerate(cols):
        arr = t.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for r in range(n):
            grid[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = arr[r]
    return grid


def save_grid(path: str | Path, *tensors: torch.Tensor) -> Path:
    from ..images import atomic_write

    grid = comparison_grid(*tensors)
    return atomic_write(path, lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))
