"""One quick design trial: train for a few minutes, then evaluate through saved PNGs.

    python tools/experiment.py NAME MINUTES '{"width": 64}' '{"size": 64, "batch": 32, "lr": 0.002, "loss": {"beta": 1.5}}'

The third argument holds architecture options (dsnet unless "arch" is in the fourth), the fourth training-recipe
fields of TrainConfig (with "loss" for LossConfig fields). Writes runs/trials/NAME and results/trials/NAME.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deepstego.evaluate import evaluate, write_json
from deepstego.train import LossConfig, TrainConfig, train


def main(name: str, minutes: float, arch_options: dict, recipe: dict) -> None:
    loss = LossConfig(**recipe.pop("loss", {}))
    cfg = TrainConfig(data="data/photos", out=f"runs/trials/{name}", arch=recipe.pop("arch", "dsnet"),
                      arch_options=arch_options, max_minutes=minutes, epochs=1000, steps_per_epoch=100,
                      patience=1000, loss=loss, progress=False, **recipe)
    weights = train(cfg)
    res = evaluate(str(weights))
    res["trial"] = {"name": name, "minutes": minutes, "arch_options": arch_options, "recipe": sys.argv[4]}
    write_json(res, Path(f"results/trials/{name}.json"))
    m = res["mean"]
    print(f"{name}: cover SSIM {m['cover_ssim']:.4f} PSNR {m['cover_psnr']:.2f} | secret SSIM {m['secret_ssim']:.4f} "
          f"PSNR {m['secret_psnr']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3]), json.loads(sys.argv[4]) if len(sys.argv) > 4 else {})
