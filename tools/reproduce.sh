#!/usr/bin/env bash
# Every figure in the README and the model card, from a trained run to the committed results.
#   tools/reproduce.sh RUN_DIR   (RUN_DIR: the dsnet-v1 training run, see the model card for its command)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/dsnet-v1}
DS=.venv/bin/deepstego
mkdir -p results docs

# the shipped weights are the run's final weights
cp "$RUN/model.safetensors" src/deepstego/weights/dsnet-v1.safetensors
cp "$RUN/model.json" src/deepstego/weights/dsnet-v1.json

# the seed design with the same recipe, for the same 10 minutes of training the 10-minute dsnet snapshot had
if [ ! -f runs/baluja-10min/model.safetensors ]; then
  tools/baluja_10min.sh
fi

$DS eval --model dsnet-v1 --json results/dsnet-v1.json --grid docs/eval_grid.png
$DS eval --model lsb:4 --json results/lsb-4.json
$DS eval --model lsb:3 --json results/lsb-3.json
$DS eval --model runs/baluja-10min/model.safetensors --json results/baluja-10min.json
$DS eval --model "$RUN/snapshots/t0010.safetensors" --json results/dsnet-v1-10min.json
$DS eval --curve "$RUN" --json results/curve.json --plot docs/time_to_quality.png
.venv/bin/python tools/example_720p.py dsnet-v1 docs/example_720p.png | tee results/example_720p.txt
$DS bench --json results/bench.json | tee results/bench.txt
$DS bench --video --json results/bench_video.json | tee results/bench_video.txt
.venv/bin/python tools/video_figures.py | tee results/video.txt
.venv/bin/python tools/model_card.py dsnet-v1
