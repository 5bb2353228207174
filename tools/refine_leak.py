"""What a keyed model's refinement lets the keyless models read: the trace, with and without the penalty that holds
their view (deepstego.refine.Leak).

    python tools/refine_leak.py [MODEL] → results/refine_leak.txt

The twenty evaluation crops of tools/key_attacks.py (256 px, cover i carries crop i+1), hidden with one key: the
network pass alone, then the default refinement (the model's refine_steps) against the keyed reveal alone, with the
keyless reader's view held (core.LEAK_READER, dsnet-v2: what 'deepstego hide' does), and with dsnet-v2's and
dsnet-v1's views held; then video's FrameRefiner (one step per frame, the correction carried on) over FRAMES frames of one still scene, each
crop pair standing for a scene: the last frame's stego, without and with that reader's view held (what
'deepstego hide-video --refine-budget' does). Each stego is saved as a PNG and read back; leakage as in the README's
Security table; seconds per hide (per frame for video rows).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import deepstego
from deepstego.core import LEAK_READER, default_refine, key_signs, leak_readers, load_model
from deepstego.images import to_tensor, to_uint8
from deepstego.keys import Key
from deepstego.metrics import leakage, ssim
from deepstego.refine import REFINE_LEAK, FrameRefiner, refine_stego
from deepstego.train.adversary import public_readers
from key_attacks import PAIRS, SIZE, batch, eval_crops

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", nargs="?", default="dsnet-k2")
    p.add_argument("--frames", type=int, default=48, help="frames of each still scene for the video rows")
    p.add_argument("--out", default=str(ROOT / "results" / "refine_leak.txt"))
    a = p.parse_args(argv)
    model = load_model(a.model)
    steps = default_refine(model)
    crops = eval_crops(PAIRS + 1, SIZE)
    covers, secrets = crops[:PAIRS], crops[1:PAIRS + 1]
    key = Key.from_passphrase("refine_leak measurement key")
    S, C = batch(secrets), batch(covers)
    default = leak_readers(model)  # what hide holds: core.LEAK_READER
    variants = {"network pass": ("image", None), "refined for the keyed reveal alone": ("image", ()),
                f"+ {LEAK_READER}'s view held (as hide does)": ("image", default),
                "+ every shipped keyless model's view held": ("image", tuple(public_readers())),
                f"video: {a.frames} frames of a still scene, keyed reveal alone": ("video", ()),
                f"video: + {LEAK_READER}'s view held (as hide-video does)": ("video", default)}
    lines = [f"{a.model}, {PAIRS} evaluation crops at {SIZE} px, one key, {steps} refinement steps (video rows: one "
             f"step per frame, seconds per frame), Leak weight {REFINE_LEAK:g}, through saved PNGs",
             "| refinement | cover / secret SSIM (right key) | dsnet-v2 reads: excess, found | dsnet-v1 reads | s per hide |",
             "|---|---|---|---|---|"]
    for name, (kind, readers) in variants.items():
        stegos, t0 = [], time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            for i, (c, s) in enumerate(zip(covers, secrets)):
                cover, secret = to_tensor(c), to_tensor(s)
                signs = key_signs(model, key, *cover.shape[-2:])
                with torch.no_grad():
                    x = model.encode(cover, secret, signs).float()
                if kind == "video":
                    refiner, start = FrameRefiner(model, budget=float("inf"), readers=readers), x
                    for _ in range(a.frames):  # every frame gets its step: the budget is left open
                        x = refiner(cover, secret, start, signs, 1.0)
                elif readers is not None:
                    x = refine_stego(model, cover, secret, x, signs, steps=steps, readers=readers)
                path = Path(tmp) / f"{i}.png"
                Image.fromarray(to_uint8(x)).save(path)
                stegos.append(np.asarray(Image.open(path).convert("RGB")))
        seconds = (time.perf_counter() - t0) / PAIRS / (a.frames if kind == "video" else 1)
        ST = batch(stegos)
        right = batch([deepstego.reveal(st, model=model, key=key) for st in stegos])
        row = f"| {name} | {float(ssim(C, ST).mean()):.4f} / {float(ssim(S, right).mean()):.4f} |"
        for reader in ("dsnet-v2", "dsnet-v1"):
            r = leakage(batch([deepstego.reveal(st, model=reader) for st in stegos]), S)
            row += f" {r['excess']:+.4f}, {r['found']} |"
        lines.append(row + (" – |" if readers is None else f" {seconds:.{3 if kind == 'video' else 1}f} |"))
        print(lines[-1], flush=True)
    Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
