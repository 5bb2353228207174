"""What someone without the key gets from a keyed model's stego: the attack figures of the README's security section.

    python tools/key_attacks.py [MODEL] [--attacker-minutes 20] [--data data/photos] [--refine N] [--out PREFIX]
        → results/key_attacks.json, results/key_attacks.txt, docs/key_attacker_grid.png (--grid)

Twenty evaluation crops (256 px, cover i carries crop i+1) are hidden with one key, with the default refinement
(or --refine N),
saved as PNG and read back. Then, over the twenty pairs (metrics.leakage: mean SSIM of each reveal to its own
secret minus to the others, and how many reveals pick their own secret among the twenty):
(a) the right key, and 20 random wrong keys;
(b) no key (the keyed model refuses) and every shipped keyless dsnet revealing the keyed stego;
(c) a key-agnostic attacker: a reveal network larger than the model's own (dsnet reveal, width 48, 6 blocks),
    trained for --attacker-minutes on (stego, secret) pairs it makes from the training photos with random keys of
    its own — what someone with the code and the weights but not the key can do;
(d) the cost of a dictionary attack: seconds per guessed passphrase (scrypt, then one reveal of a 256-px stego).
"""

from __future__ import annotations

import argparse
import json
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import deepstego
from deepstego.core import default_refine, keyless_networks
from deepstego.data import PairSampler, PhotoBank, list_images
from deepstego.data.evalset import eval_photos
from deepstego.images import atomic_write, to_tensor
from deepstego.keys import Key
from deepstego.metrics import leakage, ssim, ssim_loss
from deepstego.models import create_model
from deepstego.models.blocks import quantize
from deepstego.precision import autocast, machine
from deepstego.report import comparison_grid

ROOT = Path(__file__).resolve().parent.parent
PAIRS = 20
SIZE = 256


def eval_crops(n: int, size: int) -> list[np.ndarray]:
    """n crops of the evaluation photos: each photo resized to 1.5× size on its shorter side, then its left,
    centre and right (or top, middle, bottom) squares, photo by photo in turn."""
    crops = []
    for pos in range(3):
        for path in eval_photos():
            im = Image.open(path).convert("RGB")
            s = 1.5 * size / min(im.size)
            im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
            x = [0, (im.width - size) // 2, im.width - size][pos]
            y = [0, (im.height - size) // 2, im.height - size][pos]
            crops.append(np.asarray(im.crop((x, y, x + size, y + size))).copy())
    return crops[:n]


def batch(arrs) -> torch.Tensor:
    return torch.cat([to_tensor(a) for a in arrs])


def train_attacker(model, data: str, minutes: float, log) -> torch.nn.Module:
    """A key-agnostic reveal network trained on the attacker's own (stego, secret) pairs, random keys."""
    attacker = create_model("dsnet", width=48, reveal_blocks=6).reveal.train()
    opt = torch.optim.AdamW(attacker.parameters(), lr=1e-3, weight_decay=1e-4)
    sampler = PairSampler(PhotoBank(list_images(data), 1024), 128, seed=7, max_zoom=4.0)
    start, step = time.monotonic(), 0
    while time.monotonic() - start < minutes * 60:
        cover, secret = sampler.sample(16)
        with torch.no_grad(), autocast("auto"):
            signs = model.random_signs(len(cover), 128, 128)
            stego = quantize(model.encode(cover, secret, signs).float(), "round")
        with autocast("auto"):
            revealed = attacker(stego).float()
        loss = (revealed - secret).abs().mean() + ssim_loss(secret, revealed.clamp(0, 1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            log(f"  attacker step {step}, {(time.monotonic() - start) / 60:.1f} min, loss {loss.item():.4f}")
    attacker.trained = {"steps": step, "minutes": round((time.monotonic() - start) / 60, 2), "pairs": 16 * step,
                        "crop": 128}
    return attacker.eval()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="dsnet-k2")
    p.add_argument("--attacker-minutes", type=float, default=20.0)
    p.add_argument("--data", default=str(ROOT / "data" / "photos"), help="the attacker's training photos")
    p.add_argument("--out", default=str(ROOT / "results" / "key_attacks"))
    p.add_argument("--refine", type=int, default=None, help="refinement steps (default: the model's own; 0: the "
                   "network pass alone)")
    p.add_argument("--grid", default=str(ROOT / "docs" / "key_attacker_grid.png"), help="the attacker's grid")
    a = p.parse_args(argv)
    lines: list[str] = []

    def log(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    model = deepstego.load_model(a.model)
    refine = default_refine(model) if a.refine is None else a.refine
    crops = eval_crops(PAIRS + 1, SIZE)
    covers, secrets_ = crops[:PAIRS], crops[1:PAIRS + 1]
    key = Key.from_passphrase("the user's key: " + secrets.token_hex(8))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        stegos = []
        for i, (c, s) in enumerate(zip(covers, secrets_)):
            path = Path(tmp) / f"{i}.png"
            Image.fromarray(deepstego.hide(c, s, model=model, key=key, refine=refine)).save(path)
            stegos.append(np.asarray(Image.open(path).convert("RGB")))
    hide_s = (time.monotonic() - t0) / PAIRS
    C, S, ST = batch(covers), batch(secrets_), batch(stegos)

    def reveal_all(**kw) -> torch.Tensor:
        return batch([deepstego.reveal(st, **kw) for st in stegos])

    res = {"model": a.model, "pairs": PAIRS, "size": SIZE, "hide_seconds": round(hide_s, 2),
           "refine": refine}
    right = reveal_all(model=model, key=key)
    res["right_key"] = {**leakage(right, S), "cover_ssim": float(ssim(C, ST).mean()),
                        "secret_ssim": float(ssim(S, right).mean())}
    log(f"{a.model}, {PAIRS} evaluation crops at {SIZE} px, refinement {res['refine']} steps ("
        f"{hide_s:.1f} s per hide), through saved PNGs")
    log(f"(a) right key: cover SSIM {res['right_key']['cover_ssim']:.4f}, secret SSIM "
        f"{res['right_key']['secret_ssim']:.4f}; own − others {res['right_key']['excess']:+.4f}, "
        f"own secret found {res['right_key']['found']}/{PAIRS}")
    wrong = [leakage(reveal_all(model=model, key=f"wrong {i} {secrets.token_hex(4)}"), S) for i in range(20)]
    res["wrong_keys"] = {"keys": 20, "excess_mean": float(np.mean([w["excess"] for w in wrong])),
                         "excess_max": float(np.max([w["excess"] for w in wrong])),
                         "found_max": int(np.max([w["found"] for w in wrong])),
                         "found_total": int(np.sum([w["found"] for w in wrong])),
                         "own_mean": float(np.mean([w["own"] for w in wrong]))}
    w = res["wrong_keys"]
    log(f"(a) 20 wrong keys: own − others mean {w['excess_mean']:+.4f}, max {w['excess_max']:+.4f}; own secret "
        f"found at most {w['found_max']}/{PAIRS} per key ({w['found_total']}/{20 * PAIRS} in all; chance "
        f"{20 * PAIRS / PAIRS:.0f}); SSIM to own secret {w['own_mean']:.4f}")
    try:
        deepstego.reveal(stegos[0], model=model)
        res["no_key"] = "revealed (unexpected)"
    except deepstego.DeepStegoError as exc:
        res["no_key"] = f"refused: {exc}"
    log(f"(b) no key: {res['no_key']}")
    res["keyless_models"] = {}
    for name in keyless_networks():
        r = res["keyless_models"][name] = leakage(reveal_all(model=name), S)
        log(f"(b) keyless {name}: own − others {r['excess']:+.4f}, found {r['found']}/{PAIRS}, SSIM to own "
            f"{r['own']:.4f}")
    t = time.monotonic()
    for i in range(3):
        deepstego.reveal(stegos[0], model=model, key=f"guess {i}")
    guess_s = (time.monotonic() - t) / 3
    res["seconds_per_guess"] = round(guess_s, 3)
    log(f"(d) dictionary attack: {guess_s:.2f} s per guessed passphrase (scrypt N=2^17, r=8 + one 256-px reveal) "
        f"on {machine()['cpu']}; a 10^6-word list takes {guess_s * 1e6 / 86400:.0f} days "
        "on one such machine, a random 64-hex-digit key file cannot be guessed")
    if a.attacker_minutes > 0:
        log(f"(c) key-agnostic attacker: dsnet reveal network, width 48, 6 blocks, {a.attacker_minutes:g} min on "
            f"{a.data}")
        attacker = train_attacker(model, a.data, a.attacker_minutes, log)
        with torch.no_grad(), autocast("auto"):
            got = attacker(ST).float().clamp(0, 1)
        got = torch.round(got * 255) / 255
        r = res["attacker"] = {**leakage(got, S), **attacker.trained,
                               "params": sum(p.numel() for p in attacker.parameters()),
                               "model_reveal_params": sum(p.numel() for p in model.reveal.parameters())}
        log(f"(c) attacker after {r['minutes']} min ({r['steps']} steps, {r['params']} parameters against the "
            f"model's {r['model_reveal_params']}): own − others {r['excess']:+.4f}, found {r['found']}/{PAIRS}, "
            f"SSIM to own {r['own']:.4f}")
        grid = Image.fromarray(comparison_grid(C[:8], S[:8], ST[:8], got[:8]))
        grid = grid.resize((grid.width // 2, grid.height // 2), Image.Resampling.LANCZOS)  # a page's width
        atomic_write(Path(a.grid), lambda tmp: grid.save(tmp, "PNG"))
    out = Path(a.out)
    atomic_write(out.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(res, indent=1) + "\n"))
    atomic_write(out.with_suffix(".txt"), lambda tmp: tmp.write_text("\n".join(lines) + "\n"))


if __name__ == "__main__":
    main()
