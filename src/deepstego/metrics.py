"""Image-quality metrics (SSIM with an 11×11 Gaussian window, σ = 1.5, as in Wang et al. 2004; PSNR; MSE; mean
absolute pixel error), computed with torchmetrics on [0, 1] images."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure


_RADIUS = 5  # half of the 11-px Gaussian window
_C1, _C2 = 0.01**2, 0.03**2  # SSIM's stabilisers for a data range of 1


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


def ssim_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean 1 − SSIM of two N×C×H×W float tensors, differentiable: the same figure as :func:`ssim` (to float
    rounding, ``tests/test_metrics.py``) at a fraction of its cost, as the 11×11 Gaussian window is applied as two
    11-tap passes over the valid region only. For losses, which call it at every step."""
    return 1 - ssim_each(a, b).mean()


def ssim_each(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM (shape (N,)) of two N×C×H×W float tensors, differentiable: the separable computation of
    :func:`ssim_loss`."""
    if min(a.shape[-2:]) <= 4 * _RADIUS:
        return ssim(a, b)
    c = a.shape[1]
    mu_a, mu_b, aa, bb, ab = _blur(torch.cat([a, b, a * a, b * b, a * b], 1)).split(c, 1)
    return _ssim_map(mu_a, aa, mu_b, bb, ab).mean(dim=(1, 2, 3))


class SSIMTo:
    """SSIM against one fixed reference, for loops that score many images against it (hide-time refinement): the
    reference's local means and energies are blurred once, so each call blurs 3 maps instead of 5, and its
    gradient is written out (:class:`_SSIMToReference`) instead of being traced through some forty element-wise
    steps. Calling it with N×C×H×W ``b`` gives the per-channel SSIM (shape N×C), the same figures as
    :func:`ssim_each` per channel. The maps are stacked along the batch and kept channels-last: the depthwise
    blur is about 5× faster in that layout, and batch slices of it stay dense for the element-wise arithmetic."""

    def __init__(self, reference: torch.Tensor):
        self.a = reference.detach().contiguous(memory_format=torch.channels_last)
        self.small = min(reference.shape[-2:]) <= 4 * _RADIUS
        if not self.small:
            mu, aa = _blur(torch.cat([self.a, self.a * self.a], 0)).split(len(self.a), 0)
            self.terms = (mu, mu * mu + _C1, aa - mu * mu + _C2)  # μ_a, μ_a² + c₁, σ_a² + c₂

    def __call__(self, b: torch.Tensor) -> torch.Tensor:
        if self.small:
            return torch.stack([ssim(self.a[:, i:i + 1], b[:, i:i + 1]) for i in range(b.shape[1])], 1)
        return _SSIMToReference.apply(b, self.a, *self.terms)


class _SSIMToReference(torch.autograd.Function):
    """Per-channel mean SSIM of ``b`` to a reference given by its blurred terms, with the gradient in closed form:
    for S = A₁A₂ / (B₁B₂), ∂S/∂(blurred ab) = 2A₁/(B₁B₂), ∂S/∂(blurred bb) = −S/B₂ and
    ∂S/∂μ_b = 2μ_a(A₂ − A₁)/(B₁B₂) − 2μ_b(S/B₁ − S/B₂), carried back through the transposed blur
    (``tests/test_metrics.py`` checks value and gradient against torchmetrics)."""

    @staticmethod
    def forward(ctx, b, a, mu_a, mu_a_c1, var_a_c2):
        b = b.contiguous(memory_format=torch.channels_last)
        mu_b, bb, ab = _blur(torch.cat([b, b * b, a * b], 0)).split(len(b), 0)
        p = mu_a * mu_b
        a1, a2 = 2 * p + _C1, 2 * (ab - p) + _C2
        mu_b2 = mu_b * mu_b
        b1, b2 = mu_a_c1 + mu_b2, var_a_c2 + (bb - mu_b2)
        s = a1 * a2 / (b1 * b2)
        ctx.save_for_backward(b, a, mu_a, mu_b, a1, a2, b1, b2, s)
        return s.mean(dim=(2, 3))

    @staticmethod
    def backward(ctx, grad):
        b, a, mu_a, mu_b, a1, a2, b1, b2, s = ctx.saved_tensors
        w = grad[..., None, None] / (s.shape[-2] * s.shape[-1])
        sw, wd = s * w, w / (b1 * b2)
        d_bb = -sw / b2
        d_mu = 2 * mu_a * (a2 - a1) * wd - 2 * mu_b * (sw / b1 + d_bb)
        g_mu, g_bb, g_ab = _blur_transposed(torch.cat([d_mu, d_bb, 2 * a1 * wd], 0)).split(len(b), 0)
        return g_mu + 2 * b * g_bb + a * g_ab, None, None, None, None


def _taps(channels: int, x: torch.Tensor) -> torch.Tensor:
    """The 11-tap Gaussian (σ = 1.5), one row per channel."""
    t = torch.arange(2 * _RADIUS + 1, dtype=x.dtype, device=x.device) - _RADIUS
    g = torch.exp(-(t / 1.5) ** 2 / 2)
    return (g / g.sum()).repeat(channels, 1)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """The 11×11 Gaussian window (σ = 1.5) over each channel, as two 11-tap passes over the valid region."""
    c = x.shape[1]
    g = _taps(c, x)
    x = F.conv2d(x, g.view(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(c, 1, -1, 1), groups=c)


def _blur_transposed(y: torch.Tensor) -> torch.Tensor:
    """The adjoint of :func:`_blur`: valid-region maps spread back over the full image."""
    c = y.shape[1]
    g = _taps(c, y)
    y = F.conv_transpose2d(y, g.view(c, 1, -1, 1), groups=c)
    return F.conv_transpose2d(y, g.view(c, 1, 1, -1), groups=c)


def _ssim_map(mu_a, aa, mu_b, bb, ab) -> torch.Tensor:
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    return ((2 * mu_a * mu_b + _C1) * (2 * cov + _C2)) / ((mu_a**2 + mu_b**2 + _C1) * (var_a + var_b + _C2))


def excess_similarity(guess: torch.Tensor, secret: torch.Tensor, others: int = 3) -> torch.Tensor:
    """Differentiable form of :func:`leakage`'s ``excess`` over a batch: mean SSIM of each guess to its own secret
    minus its mean SSIM to ``others`` other secrets of the batch (0 when the guesses carry nothing of them)."""
    own = ssim_each(guess, secret).mean()
    rest = torch.stack([ssim_each(guess, secret.roll(k, 0)).mean() for k in range(1, min(others, len(secret) - 1) + 1)])
    return own - rest.mean()


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


def leakage(revealed, secrets) -> dict[str, float]:
    """How much a set of reveals tells about their own secrets, beyond what any photo scores: N reveals and their N
    secrets (N×3×H×W in [0, 1]). ``own`` is the mean SSIM of reveal i to secret i, ``others`` the mean SSIM of
    reveal i to the other secrets, ``excess`` their difference, and ``found`` how many reveals are more similar to
    their own secret than to every other one (chance: about 1). SSIM alone misleads here: a flat grey image scores
    about 0.34 against natural photos, whichever photo it is."""
    revealed, secrets = _as_batch(revealed), _as_batch(secrets)
    n = len(revealed)
    table = torch.stack([ssim(revealed, secrets[j:j + 1].expand_as(secrets)) for j in range(n)], dim=1)  # i, j
    own = table.diagonal()
    others = (table.sum(1) - own) / max(1, n - 1)
    return {"own": float(own.mean()), "others": float(others.mean()), "excess": float((own - others).mean()),
            "found": int((table.argmax(1) == torch.arange(n)).sum()), "pairs": n}
