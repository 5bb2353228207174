"""The robust image hider's carrier, measured: how many bits a cover carries, what the secret keeps, and how well
each bit's confidence predicts its errors.

    PYTHONPATH=tools python tools/robust_carrier.py [--side 256] [--k 40 32 20] [--out results/robust_carrier.txt]

For each carrier width ``k`` (coefficients per 8×8 block on quality 90's lattice; 40 is the shipped
``carrier.LAYOUT``), every evaluation photo (centre crop) hides the next one with the keyless robust hide; Pillow
then re-saves the stego JPEG at quality 90 in a call of its own, and the secret is revealed from that. Reported per
photo: the payload the hide fitted (information bits of its code), the cover's SSIM as hidden, the secret's SSIM
after the re-save, and the hide's seconds. Then, for the shipped width: the chance that a used slot reads the wrong
bit, by its confidence, after a q90 and a q95 re-save (random bits at each photo's own threshold), beside
``robust.error_probability``, which the decoder uses; and one hide of a 1920×1080 cover (the largest a robust hide
takes), timed.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np
from PIL import Image
from robust_figures import centre_crop

from deepstego import carrier, payload, robust
from deepstego.data.evalset import eval_photos
from deepstego.robust import _cover_ssim, _jpeg


def resaved(stego: np.ndarray, quality: int = 90) -> np.ndarray:
    """The stego as a user saves it (a JPEG at 90), re-saved by Pillow at ``quality``."""
    buf = io.BytesIO()
    Image.fromarray(stego).save(buf, format="JPEG", quality=robust.JPEG_QUALITY)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        out = io.BytesIO()
        im.convert("RGB").save(out, format="JPEG", quality=quality)
    with Image.open(io.BytesIO(out.getvalue())) as im:
        return np.asarray(im.convert("RGB"))


def payloads(crops: list[np.ndarray], log) -> None:
    side = crops[0].shape[0]
    frame = robust._Frame(payload.PUBLIC.derive(b"carrier"), side, side)
    rows = []
    for i, cover in enumerate(crops):
        secret = crops[(i + 1) % len(crops)]
        t = time.perf_counter()
        stego = robust.hide_image(cover, secret)
        seconds = time.perf_counter() - t
        seen = resaved(stego)
        k = frame.received(seen)[2]
        rows.append((k, _cover_ssim(cover, stego), _cover_ssim(secret, robust.reveal_image(seen)), seconds))
        log(f"  photo {i}: {k / 1000:5.1f} kbit | cover SSIM as hidden {rows[-1][1]:.4f} | secret SSIM after a q90 "
            f"re-save {rows[-1][2]:.4f} | hide {seconds:.1f} s")
    m = np.mean(rows, axis=0)
    log(f"  mean: {m[0] / 1000:.1f} kbit | cover {m[1]:.4f} (min {min(r[1] for r in rows):.4f}) | secret {m[2]:.4f} "
        f"| hide {m[3]:.1f} s")


def calibration(crops: list[np.ndarray], log) -> None:
    side = crops[0].shape[0]
    frame = robust._Frame(payload.PUBLIC.derive(b"carrier"), side, side)
    conf_all, wrong_all = [], []
    for i, cover in enumerate(crops):
        t = robust._threshold_index(frame, cover, robust.JPEG_QUALITY)
        sent = np.random.default_rng(i).integers(0, 2, frame.n).astype(np.uint8)
        stego = frame.write(cover, frame.bits(sent, t, 0), robust.THRESHOLDS[t], robust.JPEG_QUALITY)
        for q in (90, 95):
            seen = resaved(stego, q)
            bits, conf = carrier.extract(seen, frame.seed, frame.layout)
            used = frame.usable(seen, robust.THRESHOLDS[t])[~frame.header]
            conf_all.append(conf[~frame.header][used])
            wrong_all.append(bits[~frame.header][used] != sent[used])
    conf, wrong = np.concatenate(conf_all), np.concatenate(wrong_all)
    log("  confidence | share of used slots | wrong bits | robust.error_probability")
    edges = [0, .1, .2, .3, .4, .5, .6, .7, .8, .9, 1.0001]
    for a, b in zip(edges[:-1], edges[1:]):
        s = (conf >= a) & (conf < b)
        log(f"  {a:.1f}-{min(b, 1):.1f} | {s.mean():.3f} | {wrong[s].mean():.4f} | "
            f"{float(robust.error_probability(np.array([(a + min(b, 1)) / 2]))[0]):.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=256)
    p.add_argument("--k", type=int, nargs="+", default=[carrier.LAYOUT.k])
    p.add_argument("--out", default="results/robust_carrier.txt")
    a = p.parse_args()
    lines: list[str] = []

    def log(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    crops = [centre_crop(path, a.side) for path in eval_photos()]
    shipped = carrier.LAYOUT
    for k in a.k:
        carrier.LAYOUT = carrier.Layout(k, shipped.delta, jpeg=shipped.jpeg)
        log(f"k = {k} coefficients a block{' (shipped)' if k == shipped.k else ''}, {a.side} px:")
        payloads(crops, log)
    carrier.LAYOUT = shipped
    log(f"error rate of used slots by confidence, k = {shipped.k}, {a.side} px, after a q90 and a q95 re-save:")
    calibration(crops, log)
    with Image.open(eval_photos()[0]) as im:
        big = np.asarray(im.convert("RGB").resize((1920, 1080), Image.Resampling.LANCZOS))
    with Image.open(eval_photos()[1]) as im:
        secret = np.asarray(im.convert("RGB").resize((1920, 1080), Image.Resampling.LANCZOS))
    t = time.perf_counter()
    stego = robust.hide_image(big, secret)
    log(f"one 1920×1080 hide: {time.perf_counter() - t:.0f} s; secret SSIM after a q90 re-save "
        f"{_cover_ssim(secret, robust.reveal_image(resaved(stego))):.4f}")
    Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
