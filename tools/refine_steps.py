"""How much the hide-time refinement buys per step: the evaluation photos (256×256, through saved PNGs) hidden with
0, 10, 25, 50 and 100 refinement steps, with the seconds each hide took.

    python tools/refine_steps.py [MODEL]      → results/refine_steps.json and a table on stdout
"""

from __future__ import annotations

import sys
from pathlib import Path

from deepstego.evaluate import evaluate, write_json

STEPS = (0, 10, 25, 50, 100)


def main(model: str | None) -> None:
    rows = []
    print("| refinement steps | s per 256² hide | cover SSIM | cover PSNR dB | secret SSIM (min) | secret PSNR dB |")
    print("|---|---|---|---|---|---|")
    for steps in STEPS:
        res = evaluate(model, refine=steps)
        m = res["mean"]
        rows.append({"refine": steps, "hide_seconds_per_pair": res["hide_seconds_per_pair"], "mean": m,
                     "min": res["min"]})
        print(f"| {steps} | {res['hide_seconds_per_pair']:.2f} | {m['cover_ssim']:.4f} | {m['cover_psnr']:.2f} | "
              f"{m['secret_ssim']:.4f} ({res['min']['secret_ssim']:.4f}) | {m['secret_psnr']:.2f} |", flush=True)
    write_json({"model": model or "default", "rows": rows}, Path("results/refine_steps.json"))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
