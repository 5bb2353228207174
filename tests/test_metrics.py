"""SSIM and PSNR agree with scikit-image's reference implementation on real photos."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from deepstego.metrics import image_metrics

from .conftest import square


@pytest.mark.parametrize("noise", [2, 8, 25])
def test_ssim_psnr_match_skimage(photos, noise):
    rng = np.random.default_rng(noise)
    for p in photos[:4]:
        a = square(p, 128)
        b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, a.shape), 0, 255).astype(np.uint8)
        ours = image_metrics(a, b)
        ref_ssim = structural_similarity(a, b, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False, data_range=255)
        ref_psnr = peak_signal_noise_ratio(a, b, data_range=255)
        assert abs(ours["ssim"] - ref_ssim) < 1e-3
        assert abs(ours["psnr"] - ref_psnr) < 1e-3
        assert ours["mae"] == pytest.approx(np.abs(a.astype(float) - b).mean(), rel=1e-4)


def test_identical_images(photos):
    a = square(photos[0], 64)
    m = image_metrics(a, a)
    assert m["ssim"] == pytest.approx(1.0) and m["psnr"] == 100.0 and m["mse"] == 0.0


@pytest.mark.parametrize("size", [24, 96])  # 24: the smallest size with an inner region of its own
def test_ssim_loss_is_one_minus_ssim_with_the_same_gradient(photos, size):
    """The losses' separable SSIM gives the reported SSIM's value and gradient."""
    import torch

    from deepstego.metrics import ssim, ssim_loss

    a = torch.from_numpy(np.stack([square(p, size) for p in photos[:3]])).permute(0, 3, 1, 2).float() / 255
    b = torch.from_numpy(np.stack([square(p, size) for p in photos[3:6]])).permute(0, 3, 1, 2).float() / 255
    x = b.clone().requires_grad_(True)
    y = b.clone().requires_grad_(True)
    fast, ref = ssim_loss(a, x), 1 - ssim(a, y).mean()
    assert abs(float(fast.detach()) - float(ref.detach())) < 1e-5
    fast.backward()
    ref.backward()
    assert torch.allclose(x.grad, y.grad, atol=1e-6, rtol=1e-3)


@pytest.mark.parametrize("size", [16, 96])  # 16: too small for the separable path, scored by torchmetrics
def test_ssim_to_a_fixed_reference_matches_ssim_per_channel(photos, size):
    """Refinement's SSIMTo (the reference blurred once) gives the per-channel SSIM and its gradient."""
    import torch

    from deepstego.metrics import SSIMTo, ssim

    a = torch.from_numpy(np.stack([square(p, size) for p in photos[:2]])).permute(0, 3, 1, 2).float() / 255
    b = torch.from_numpy(np.stack([square(p, size) for p in photos[2:4]])).permute(0, 3, 1, 2).float() / 255
    x = b.clone().requires_grad_(True)
    y = b.clone().requires_grad_(True)
    fast = SSIMTo(a)(x)
    ref = torch.stack([ssim(a[:, i:i + 1], y[:, i:i + 1]) for i in range(3)], 1)
    assert fast.shape == (2, 3)
    assert float((fast - ref).abs().max()) < 1e-4, float((fast - ref).abs().max())
    fast.mean().backward()
    ref.mean().backward()
    assert torch.allclose(x.grad, y.grad, atol=1e-6, rtol=1e-3)
