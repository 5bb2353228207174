#!/usr/bin/env bash
# Every figure in the README and the model card, from a trained run to the committed results.
#   tools/reproduce.sh [NAME [RUN_DIR]]   (default: the default model and runs/NAME; its card gives the training command)
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-$(.venv/bin/python -c "from deepstego.core import DEFAULT_MODEL; print(DEFAULT_MODEL)")}
RUN=${2:-runs/$NAME}
DS=.venv/bin/deepstego
mkdir -p results docs

# the shipped weights are the run's final weights
cp "$RUN/model.safetensors" "src/deepstego/weights/$NAME.safetensors"
cp "$RUN/model.json" "src/deepstego/weights/$NAME.json"

$DS eval --model "$NAME" --json "results/$NAME.json" --grid docs/eval_grid.png
$DS eval --model lsb:4 --json results/lsb-4.json
$DS eval --model dsnet-v1 --precision fp32 --json results/dsnet-v1-fp32.json  # the model dsnet-v2 was distilled from
$DS eval --model lsb:3 --json results/lsb-3.json
# the seed design against dsnet with the same recipe and the same 10 minutes of training (tools/baluja_10min.sh and
# the 10-minute snapshot of the dsnet-v1 run) are kept from the session that trained dsnet-v1: results/*-10min.json
$DS eval --curve "$RUN" --json "results/curve-$NAME.json" --plot "docs/time_to_quality-$NAME.png"
.venv/bin/python tools/example_720p.py "$NAME" docs/example_720p.png | tee results/example_720p.txt
$DS bench --json results/bench.json | tee results/bench.txt
$DS bench --video --model "$NAME" --json results/bench_video.json | tee results/bench_video.txt
.venv/bin/python tools/video_figures.py "$NAME" | tee results/video.txt
.venv/bin/python tools/model_card.py "$NAME"
