"""How the stealth image hider's payload was chosen: the secret SSIM an AVIF reaches at each share of bits per
colour value of the cover (the secret at the cover's size), on the evaluation photos' 256-px centre crops.

    python tools/stealth_payload.py        # writes results/stealth/payload_probe.txt

The hider's own figures come from ``deepstego eval --stealth``; this only asks how good a secret each payload
could carry, before any detector is trained.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from deepstego import payload
from deepstego.data import eval_photos
from deepstego.evaluate import centre_square
from deepstego.metrics import image_metrics

ROOT = Path(__file__).resolve().parent.parent
SHARES = (0.05, 0.10, 0.15, 0.20)


def main() -> None:
    photos = [centre_square(p, 256) for p in eval_photos()]
    lines = ["| bits per colour value | AVIF bytes | mean secret SSIM | min |", "|---|---|---|---|"]
    for share in SHARES:
        room = int(share * photos[0].size) // 8 - payload.OVERHEAD
        scores = [image_metrics(p, payload.decompress(payload.compress(p, room), (256, 256)))["ssim"] for p in photos]
        lines.append(f"| {share:.2f} | {room} | {np.mean(scores):.3f} | {np.min(scores):.3f} |")
        print(lines[-1], flush=True)
    out = ROOT / "results" / "stealth" / "payload_probe.txt"
    out.write_text(f"evaluation photos, 256-px centre crops, {len(photos)} secrets\n" + "\n".join(lines) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
