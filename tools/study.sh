#!/usr/bin/env bash
# The committed study behind docs/report.md: the seed report's questions as a controlled grid (ReLU vs tanh at two
# learning rates, 3 vs 9 epochs), then a TPE study over the default search space; a report for each.
# Usage: tools/study.sh [DATA] [OUT]   (about 30 minutes on 2 cores)
set -euo pipefail
DATA=${1:-data/photos}
OUT=${2:-runs/study}
STEGO=${STEGO:-.venv/bin/deepstego}
mkdir -p "$OUT"
$STEGO sweep --data "$DATA" --out "$OUT" --study seed-grid --grid --space docs/study/seed_grid.json --trials 8 \
    --steps-per-epoch 100 --max-minutes-per-trial 10 --seed 0
$STEGO sweep --data "$DATA" --out "$OUT" --study tpe --trials 16 --steps-per-epoch 60 --max-minutes-per-trial 5 --seed 0
for s in seed-grid tpe; do
    $STEGO sweep-report --storage "sqlite:///$OUT/study.db" --study "$s" --out "docs/study/$s"
done
