#!/usr/bin/env bash
# A sealed keyed dsnet trained from tools/sealed_init.py's weights under random keys, with no leakage penalty (its
# stego carries nothing of the secret outside what the key scrambles). dsnet-k2's recipe otherwise: 64-px crops,
# batch 32, L1 + SSIM, beta 1, bf16 where the CPU has it.
#   [RESUME=1] [INIT=weights] [BETA=1] tools/sealed_train.sh OUT MINUTES [LR]
# The measured candidate (docs/training.md, "A sealed keyed code"): 21 min from the starting weights at lr 5e-4 and
# beta 1 (runs/sealed-a, stopped by hand), then INIT=runs/sealed-a/best.safetensors BETA=2 for 30 min at lr 3e-4
# Then: deepstego eval --model OUT/best.safetensors --refine 0
#       python tools/key_attacks.py OUT/best.safetensors --refine 0 --out results/NAME --grid docs/NAME.png
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?output folder}; MINUTES=${2:?minutes}; LR=${3:-5e-4}; INIT=${INIT:-runs/sealed-init.safetensors}
extra=()
[[ ${RESUME:-0} == 1 ]] && extra+=(--resume)
[[ -f runs/sealed-init.safetensors ]] || .venv/bin/python tools/sealed_init.py runs/sealed-init
.venv/bin/deepstego train --data data/photos --arch dsnet --init "$INIT" \
    --size 64 --batch 32 --max-zoom 8 --lr "$LR" --beta "${BETA:-1}" --loss l1 --ssim-weight 1 --cover-ramp-steps 0 \
    --quant-warmup-steps 0 --epochs 1000 --steps-per-epoch 100 --max-minutes "$MINUTES" --patience 1000 --seed 0 \
    --precision auto --checkpoint-minutes 3 --snapshot-minutes 10 --quiet --out "$OUT" "${extra[@]}"
