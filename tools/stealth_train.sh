#!/usr/bin/env bash
# Stealth fine-tune of the default model against steganalysis: a cnn critic trained alongside (--critic-weight) and,
# unless ADAPTIVE=0, the cover loss weighted by HILL's embedding cost (--adaptive-cover). The recipe otherwise is
# dsnet-v2's (L1 + SSIM, beta 1), from its weights, at the detectors' 128-px crops. STATS=W adds the SRM-residual
# statistics penalty (--residual-stats-weight W); a critic weight of 0 trains without a critic.
#   [ADAPTIVE=0] [RESUME=1] [STATS=W] tools/stealth_train.sh OUT CRITIC_WEIGHT MINUTES
# Then measure it with detectors trained after it is frozen (the steganalysis page's rule):
#   METHODS="cnn srm" tools/steganalysis.sh NAME=OUT/model.safetensors+refine:14
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?output folder}; WEIGHT=${2:?critic weight}; MINUTES=${3:?minutes}
extra=()
[[ ${ADAPTIVE:-1} == 1 ]] && extra+=(--adaptive-cover)
[[ ${RESUME:-0} == 1 ]] && extra+=(--resume)
[[ -n ${STATS:-} ]] && extra+=(--residual-stats-weight "$STATS")
.venv/bin/deepstego train --data data/photos --init src/deepstego/weights/dsnet-v2.safetensors \
    --size 128 --batch 16 --max-zoom 8 --loss l1 --beta 1 --ssim-weight 1 --lr 2e-4 \
    --critic-weight "$WEIGHT" --epochs 1000 --steps-per-epoch 50 --patience 1000 --max-minutes "$MINUTES" \
    --checkpoint-minutes 3 --quiet --out "$OUT" "${extra[@]}"
