"""Where dsnet-k2's network pass loses: its key-agnostic cover predictor, measured and then trained on its own.

    python tools/keyed_probe.py [--minutes 3 5]   → results/keyed/predictor_probe.txt

On the evaluation photos (256 px, the measurement key, 8-bit stego in memory) it prints the RMS of the code the
hider writes into the high-pass sub-bands, of the cover's sub-bands and of the predictor's error, a least-squares fit
of the prediction on (cover sub-bands, code), and the network pass's secret SSIM. Then, the hide network frozen:
(1) the predictor alone trained for the first number of minutes toward the cover's sub-bands (MSE), (2) the whole
reveal network trained for the second number of minutes on the secret (L1 + SSIM) with that MSE beside it, on
64-px crops of the training photos under random keys; each followed by the same figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from deepstego import keys
from deepstego.core import load_model
from deepstego.data import PairSampler, PhotoBank, list_images, split_by_photo
from deepstego.data.evalset import eval_photos
from deepstego.evaluate import centre_square
from deepstego.metrics import ssim, ssim_loss
from deepstego.models.blocks import quantize
from deepstego.precision import autocast

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs=2, default=[3.0, 5.0])
    p.add_argument("--out", default=str(ROOT / "results" / "keyed" / "predictor_probe.txt"))
    a = p.parse_args(argv)
    torch.manual_seed(0)
    lines = []

    def log(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    model = load_model("dsnet-k2").float().train()
    reveal = model.reveal
    photos = [torch.from_numpy(centre_square(q, 256)).permute(2, 0, 1).float()[None] / 255 for q in eval_photos()]
    covers, secrets_ = torch.cat(photos), torch.cat(photos[1:] + photos[:1])
    key = model.key_signs(keys.Key.for_seed(0), 256, 256)
    train_paths, _ = split_by_photo(list_images(ROOT / "data" / "photos"), 0.15, 0)
    sampler = PairSampler(PhotoBank(train_paths, 1024), 64, seed=5, max_zoom=8.0)

    def bands(stego, cover):
        x = F.pixel_unshuffle(stego.float() - 0.5, 2)
        high = lambda t: reveal.carrier.analyse(t)[:, 1:].flatten(1, 2)  # noqa: E731
        return x, high(x), high(F.pixel_unshuffle(cover - 0.5, 2))

    def read(high, predicted, signs):
        y = reveal.out(reveal.body(reveal.act(reveal.inp(keys.unmix(high - predicted, signs)))))
        return F.pixel_shuffle(y.float(), 2) + 0.5

    @torch.no_grad()
    def measure(label: str) -> None:
        model.eval()
        stego = quantize(model.encode(covers, secrets_, key).clamp(0, 1), "round")
        x, high, cover_high = bands(stego, covers)
        predicted = reveal.predictor(x)
        code = high - cover_high
        fit = torch.linalg.lstsq(torch.stack([cover_high.flatten(), code.flatten()], 1),
                                 predicted.flatten()[:, None]).solution.flatten()
        rms = lambda t: float(t.pow(2).mean().sqrt()) * 255  # noqa: E731
        log(f"{label}: code RMS {rms(code):.2f} levels, cover sub-bands {rms(cover_high):.2f}, predictor error "
            f"{rms(cover_high - predicted):.2f}; prediction ≈ {fit[0]:.2f}·cover + {fit[1]:.2f}·code; "
            f"secret SSIM {float(ssim(read(high, predicted, key).clamp(0, 1), secrets_).mean()):.4f}")
        model.train()

    def train(minutes: float, params, whole: bool) -> int:
        for q in model.parameters():
            q.requires_grad_(False)
        for q in params:
            q.requires_grad_(True)
        opt = torch.optim.AdamW(params, lr=3e-4 if whole else 1e-3)
        start, steps = time.monotonic(), 0
        while time.monotonic() - start < minutes * 60:
            cover, secret = sampler.sample(32)
            signs = model.random_signs(32, 64, 64)
            with torch.no_grad():
                stego = quantize(model.encode(cover, secret, signs).clamp(0, 1), "round")
            with autocast("auto"):
                x, high, cover_high = bands(stego, cover)
                predicted = reveal.predictor(x).float()
                loss = (predicted - cover_high).pow(2).mean() * (10 if whole else 1)
                if whole:
                    got = read(high, predicted, signs)
                    loss = loss + (got - secret).abs().mean() + ssim_loss(secret, got.clamp(0, 1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps += 1
        return steps

    measure("dsnet-k2 as shipped")
    steps = train(a.minutes[0], list(reveal.predictor.parameters()), whole=False)
    measure(f"(1) predictor alone, {steps} steps ({a.minutes[0]:g} min) toward the cover's sub-bands")
    steps = train(a.minutes[1], list(reveal.parameters()), whole=True)
    measure(f"(2) whole reveal network, {steps} steps ({a.minutes[1]:g} min), hide frozen")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
