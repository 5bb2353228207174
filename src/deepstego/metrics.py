"""Image-quality metrics (SSIM with an 11×11 Gaussian window, σ = 1.5, as in Wang et al. 2004; PSNR; MSE; mean
absolute pixel error), computed with torchmetrics on [0, 1] images."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


_RADIUS = 5  # half of the 11-px Gaussian window


def _as_batch(x) -> torch.Tensor:
    if isinstance(x, np.ndarray):  # H×W×3 uint8
        x = torch.from_numpy(np.array(x, copy=True)).permute(2, 0, 1).float().div(255.0)
    x = x.float()
    return x if x.dim() == 4 else x.unsqueeze(0)


def ssim(a, b) -> torch.Tensor:
    """Per-image SSIM of two N×3×H×W tensors in [0, 1] (or two H×W×3 uint8 arrays); returns shape (N,)."""
    a, b = _as_batch(a), _as_batch(b)
    _, full = structural_similarity_index_measure(a, b, data_range=1.0, reduction="none", return_full_image=True)
    # average only where the 11×11 window lies inside the image, as Wang et al.'s reference code and scikit-image do
    # (torchmetrics also averages the reflected border)
    r = _RADIUS if min(a.shape[-2:]) > 4 * _RADIUS else 0
    inner = full[..., r:full.shape[-2] - r, r:full.shape[-1] - r]
    return inner.mean(dim=(1, 2, 3))


def psnr(a, b) -> torch.Tensor:
    """Per-image PSNR in dB (capped at 100 for identical images); returns shape (N,)."""
    a, b = _as_batch(a), _as_batch(b)
    out = peak_signal_noise_ratio(a, b, data_range=1.0, reduction="none", dim=(1, 2, 3))
    return torch.nan_to_num(out, posinf=100.0).clamp(max=100.0)


def image_metrics(original, processed) -> dict[str, float]:
    """SSIM, PSNR, MSE and mean absolute error (in 8-bit levels) of one image pair."""
    a, b = _as_batch(original), _as_batch(processed)
    diff = a - b
    return {"ssim": float(ssim(a, b).mean()), "psnr": float(psnr(a, b).mean()),
            "mse": float(diff.pow(2).mean()), "mae": float(diff.abs().mean() * 255)}
