"""Every registered architecture: forward and backward on real photo crops, no NaN, every parameter learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepstego.models import create_model, list_models
from deepstego.models.blocks import ACTIVATIONS
from deepstego.core import hide_tensor, reveal_tensor

from .conftest import square


def _batch(photos, size):
    arr = np.stack([square(p, size) for p in photos[:4]])
    t = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255
    return t[:2], t[2:4]


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_forward_backward(name, precision, photos):
    torch.manual_seed(0)
    model = create_model(name).train()
    cover, secret = _batch(photos, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = model(cover, secret)
    assert out.stego.shape == cover.shape and out.revealed.shape == secret.shape
    assert torch.isfinite(out.stego).all() and torch.isfinite(out.revealed).all()
    # the stored stego is on the 8-bit grid, exactly as a saved PNG holds it
    assert torch.equal(torch.round(out.stego * 255), out.stego * 255) or torch.allclose(
        torch.round(out.stego * 255), out.stego * 255, atol=1e-4)
    params = list(model.parameters())
    if not model.trainable:
        assert params == []
        return
    loss = (out.stego - cover).abs().mean() + (out.revealed - secret).abs().mean()
    loss.backward()
    for n, p in model.named_parameters():
        assert p.grad is not None, f"{n} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{n} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{n} has an all-zero gradient"


@pytest.mark.parametrize("name", list_models())
def test_any_size(name, photos):
    """Fully convolutional: odd sizes work at inference and keep the exact size."""
    model = create_model(name).eval()
    cover, secret = _batch(photos, 96)
    cover, secret = cover[:1, :, :81, :93], secret[:1, :, :81, :93]
    stego = hide_tensor(model, cover, secret)
    assert stego.shape == cover.shape
    assert reveal_tensor(model, stego).shape == cover.shape


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("name", [n for n in list_models() if create_model(n).trainable])
def test_activation_option(name, activation):
    model = create_model(name, activation=activation)
    acts = {type(m).__name__ for m in model.modules()}
    expected = {"relu": "ReLU", "tanh": "Tanh", "leaky_relu": "LeakyReLU", "gelu": "GELU"}[activation]
    assert expected in acts


def test_baluja_is_the_seed_design():
    m = create_model("baluja")
    branches = [mod for mod in m.modules() if type(mod).__name__ == "MultiBranch"]
    assert len(branches) == 2 + 5 + 5
    kernels = sorted({c.kernel_size[0] for b in branches for c in b.modules() if isinstance(c, torch.nn.Conv2d)})
    assert kernels == [3, 4, 5]
    first = branches[0]
    assert first.b3.out_channels + first.b4[1].out_channels + first.b5.out_channels == 65
    assert m.train_noise > 0


def test_tiled_equals_whole(photos):
    """Large images run tile by tile; with the receptive field as context the result matches a whole pass."""
    torch.manual_seed(0)
    model = create_model("dsnet").eval()
    cover, secret = _batch(photos, 256)
    cover, secret = cover[:1], secret[:1]
    whole = hide_tensor(model, cover, secret, precision="fp32", tile=4096)
    tiled = hide_tensor(model, cover, secret, precision="fp32", tile=64)
    assert (whole - tiled).abs().max() * 255 <= 1.0  # at most one 8-bit level from float summation order
    assert ((whole - tiled).abs() > 0).float().mean() < 0.01


def test_precisions_agree_and_auto_resolves(photos):
    """``auto`` picks a real precision for this CPU, and bf16 and fp32 give the same images up to one 8-bit level."""
    from deepstego.core import load_model
    from deepstego.errors import DeepStegoError
    from deepstego.precision import resolve_precision

    assert resolve_precision("auto") in ("bf16", "fp32")
    with pytest.raises(DeepStegoError):
        resolve_precision("fp16")
    model = load_model()
    cover, secret = _batch(photos, 96)
    stego = {p: hide_tensor(model, cover, secret, precision=p) for p in ("fp32", "bf16", "auto")}
    revealed = {p: reveal_tensor(model, stego["fp32"], precision=p) for p in ("fp32", "bf16")}
    assert (stego["fp32"] - stego["bf16"]).abs().max() * 255 <= 1.0 + 1e-4
    assert (revealed["fp32"] - revealed["bf16"]).abs().max() * 255 <= 2.0 + 1e-4
    assert torch.equal(stego["auto"], stego[resolve_precision("auto")])


def test_narrowed_dsnet_keeps_the_hider(photos):
    """Pruning dsnet-v1 to 32 channels keeps its strongest channels: the hider still changes the cover only a
    little, and the narrowed model is the configured width."""
    from deepstego.core import hide_tensor, load_model
    from deepstego.images import to_tensor
    from deepstego.metrics import ssim
    from deepstego.models.dsnet import narrowed

    v1 = load_model("dsnet-v1")
    small = narrowed(v1, 32)
    assert small.config.width == 32 and small.config.reveal_blocks == v1.config.reveal_blocks
    assert sum(p.numel() for p in small.parameters()) < 0.5 * sum(p.numel() for p in v1.parameters())
    cover, secret = to_tensor(square(photos[2], 128)), to_tensor(square(photos[3], 128))
    assert float(ssim(cover, hide_tensor(small, cover, secret)).mean()) > 0.95
    with pytest.raises(ValueError):
        narrowed(v1, 64)


@pytest.mark.parametrize("options", [dict(factor=2, carrier="high"), dict(factor=4, carrier="high"),
                                     dict(factor=2, carrier="all"), dict(factor=1, carrier="all", width=16)])
def test_folded_dsnet_computes_the_same_passes(options, photos):
    """The graph a compiler traces (pixel-unshuffle and the Haar carrier folded into strided convolutions) gives the
    model's own stego and reveal, at every factor and carrier, on photo crops of a size that is not square; keyed
    models are traced as they are."""
    torch.manual_seed(0)
    model = create_model("dsnet", **options).eval()
    for p in model.parameters():  # trained-like biases and weights: nothing cancels by chance
        p.data.normal_(0, 0.1)
    cover, secret = _batch(photos, 96)
    cover, secret = cover[:, :, :64], secret[:, :, :64]
    graph = model.inference_graph()
    with torch.no_grad():
        stego = model.encode(cover, secret)
        assert (graph.encode(cover, secret) - stego).abs().max() < 1e-4 * stego.abs().max()
        revealed = model.decode(stego)
        assert (graph.decode(stego) - revealed).abs().max() < 1e-4 * revealed.abs().max()
    keyed = create_model("dsnet", keyed=True, width=16)
    assert keyed.inference_graph() is keyed


def test_dsnet_with_fewer_blocks_keeps_the_chosen_ones(photos):
    """Dropping residual blocks keeps the listed ones, weights and order: keeping all of them computes the same
    passes, and a cut model carries the kept blocks' own weights."""
    from deepstego.core import load_model
    from deepstego.images import to_tensor
    from deepstego.models.dsnet import with_blocks

    v2 = load_model("dsnet-v2")
    stego = to_tensor(square(photos[2], 64))
    same = with_blocks(v2, {"reveal": list(range(6))})
    with torch.no_grad():
        assert torch.allclose(same.decode(stego), v2.decode(stego), atol=1e-5)  # memory formats differ
    cut = with_blocks(v2, {"prep": [], "hide": [0, 2], "reveal": [1, 4, 5]})
    assert (cut.config.prep_blocks, cut.config.hide_blocks, cut.config.reveal_blocks) == (0, 2, 3)
    assert torch.equal(cut.reveal.body[1].conv1.weight, v2.reveal.body[4].conv1.weight)
    assert torch.equal(cut.hide.body[1].conv2.bias, v2.hide.body[2].conv2.bias)
    with pytest.raises(ValueError):
        with_blocks(v2, {"hide": [3]})


def test_weights_named_with_dots_keep_their_whole_name(tmp_path):
    """A run or detector named like 'cnn-stealth0.85' is written and read under that name, not as 'cnn-stealth0'
    (two such names once overwrote each other)."""
    from deepstego.models.weights import load_weights, save_weights

    model = create_model("dsnet", width=8)
    for name in ("run-0.85", "run-0.7"):
        assert save_weights(model, tmp_path / name) == tmp_path / f"{name}.safetensors"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run-0.7.json", "run-0.7.safetensors",
                                                          "run-0.85.json", "run-0.85.safetensors"]
    back = load_weights(tmp_path / "run-0.85")
    assert all(torch.equal(a, b) for a, b in zip(back.state_dict().values(), model.state_dict().values()))
