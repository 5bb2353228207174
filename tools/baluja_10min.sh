#!/usr/bin/env bash
# The seed design (baluja) with the dsnet-v1 recipe for 10 minutes of training, alone on the machine. baluja makes
# about 440 steps in 10 minutes where dsnet makes about 2000, so the warm-ups (dsnet-v1: cover ramp 1000 steps,
# rounding after 1500) are scaled to the same share of its steps: 220 and 330.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/deepstego train --data data/photos --arch baluja --size 64 --batch 32 --lr 2e-3 --beta 1.5 \
    --ssim-weight 0.5 --cover-ramp-steps 220 --quant-warmup-steps 330 --epochs 1000 --steps-per-epoch 50 \
    --max-minutes 10 --patience 1000 --seed 0 --quiet --out "${1:-runs/baluja-10min}"
