"""How much int8 (VNNI) inference would buy a dsnet model on this CPU, and what it costs in quality.

    python tools/int8_probe.py [MODEL]          # default: the default model; writes results/int8_probe.txt

Post-training static quantization (torch.ao FX, x86 backend: int8 weights per channel, int8 activations) of the
residual bodies only — the first and last convolutions stay fp32, as the hidden signal is a few 8-bit levels.
Calibrated on the training corpus (data/photos, 64-px crops as in training), measured on the evaluation photos at
256×256 through 8-bit rounding, and timed on one 1280×720 hide + reveal against fp32 in the same run.
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from pathlib import Path

import torch
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

from deepstego.core import hide_tensor, load_model, reveal_tensor
from deepstego.data.evalset import eval_photos
from deepstego.evaluate import centre_square
from deepstego.images import to_tensor
from deepstego.metrics import ssim

warnings.filterwarnings("ignore")
torch.set_grad_enabled(False)
torch.backends.quantized.engine = "x86"


def calibration_pairs(n: int = 64, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    from deepstego.data.dataset import PairSampler, PhotoBank, list_images  # the training sampler

    sampler = PairSampler(PhotoBank(list_images("data/photos")), size, seed=0, max_zoom=8)
    return sampler.sample(n)


def quantized(net, parts: tuple[str, ...], cover, secret):
    q = copy.deepcopy(net)
    mapping = get_default_qconfig_mapping("x86")
    for name in parts:
        part = getattr(q, name)
        part.body = prepare_fx(part.body, mapping, (torch.randn(1, part.body[0].conv1.in_channels, 32, 32),))
    stego = torch.round(q.encode(cover, secret).clamp(0, 1) * 255) / 255
    q.decode(stego)
    for name in parts:
        getattr(q, name).body = convert_fx(getattr(q, name).body)
    return q


def pair_seconds(net, frame: torch.Tensor) -> float:
    best = float("inf")
    for _ in range(2):
        t0 = time.perf_counter()
        reveal_tensor(net, hide_tensor(net, frame, frame, precision="fp32"), precision="fp32")
        best = min(best, time.perf_counter() - t0)
    return best


def main(model: str | None) -> None:
    net = load_model(model).eval()
    photos = [to_tensor(centre_square(p, 256)) for p in eval_photos()]
    covers, secrets = torch.cat(photos), torch.cat(photos[1:] + photos[:1])
    cal_c, cal_s = calibration_pairs()
    frame = torch.rand(1, 3, 720, 1280)
    base = pair_seconds(net, frame)
    lines = [f"int8 probe: {model or 'default model'}; eval photos 256 px through 8-bit rounding; 1280x720 pair time",
             "| int8 parts | cover SSIM | secret SSIM | 720p pair s | speed-up |", "|---|---|---|---|---|"]
    for parts in ((), ("prep", "hide"), ("reveal",), ("prep", "hide", "reveal")):
        m = quantized(net, parts, cal_c, cal_s) if parts else net
        stego = hide_tensor(m, covers, secrets, precision="fp32")
        revealed = reveal_tensor(m, stego, precision="fp32")
        sec = pair_seconds(m, frame) if parts else base
        lines.append(f"| {' + '.join(parts) or 'none (fp32)'} | {float(ssim(covers, stego).mean()):.4f} | "
                     f"{float(ssim(secrets, revealed).mean()):.4f} | {sec:.2f} | {base / sec:.2f}x |")
        print(lines[-1], flush=True)
    Path("results/int8_probe.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
