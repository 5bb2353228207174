#!/usr/bin/env bash
# Every figure in the README and the model card, from a trained run to the committed results.
#   tools/reproduce.sh [NAME [RUN_DIR [WEIGHTS]]]   (default: the default model, runs/NAME and the run's final weights,
#   "model"; "best" for its best validation weights, which its card names; the card gives the training command)
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:-$(.venv/bin/python -c "from deepstego.core import DEFAULT_MODEL; print(DEFAULT_MODEL)")}
RUN=${2:-runs/$NAME}
PICK=${3:-model}
DS=.venv/bin/deepstego
mkdir -p results docs

# the shipped weights: the run's final or best weights
cp "$RUN/$PICK.safetensors" "src/deepstego/weights/$NAME.safetensors"
cp "$RUN/$PICK.json" "src/deepstego/weights/$NAME.json"

$DS eval --model "$NAME" --json "results/$NAME.json" --grid docs/eval_grid.png        # with the default refinement
$DS eval --model "$NAME" --refine 0 --json "results/$NAME-network.json"                 # the network pass alone
.venv/bin/python tools/refine_steps.py "$NAME" | tee results/refine_steps.txt
$DS eval --model lsb:4 --json results/lsb-4.json
$DS eval --model dsnet-v1 --precision fp32 --json results/dsnet-v1-fp32.json  # the model dsnet-v2 was distilled from
$DS eval --model lsb:3 --json results/lsb-3.json
# the seed design against dsnet with the same recipe and the same 10 minutes of training (tools/baluja_10min.sh and
# the 10-minute snapshot of the dsnet-v1 run) are kept from the machine that trained dsnet-v1: results/*-10min.json;
# the seed design with the same refinement as the default model:
if [[ -f runs/baluja-10min/model.safetensors ]]; then
    $DS eval --model runs/baluja-10min/model.safetensors --json results/baluja-10min-refined.json
fi
# the seed design trained with the seed paper's recipe at its 124 px (shipped as baluja-seed), beside the default
# model at that size
$DS eval --model baluja-seed --size 124 --json results/baluja-seed.json
$DS eval --model baluja-seed --size 124 --refine 0 --json results/baluja-seed-network.json
$DS eval --model "$NAME" --size 124 --refine 0 --json "results/$NAME-network-124.json"
.venv/bin/python tools/model_card.py baluja-seed
$DS eval --curve "$RUN" --json "results/curve-$NAME.json" --plot "docs/time_to_quality-$NAME.png"
$DS eval --curve "$RUN" --refine 0 --json "results/curve-$NAME-network.json" \
    --plot "docs/time_to_quality-$NAME-network.png"
.venv/bin/python tools/example_720p.py "$NAME" docs/example_720p.png | tee results/example_720p.txt
$DS bench --json results/bench.json | tee results/bench.txt
$DS bench --ratio --model "$NAME" --json results/ratio.json | tee results/ratio.txt
$DS bench --video --model "$NAME" --json results/bench_video.json | tee results/bench_video.txt
.venv/bin/python tools/video_figures.py "$NAME" "results/video-$NAME.json" | tee "results/video-$NAME.txt"
.venv/bin/python tools/model_card.py "$NAME"
# robust mode (images): every hider's stego through someone else's JPEG re-saves, beside the cover alone
PYTHONPATH=tools .venv/bin/python tools/robust_figures.py --images-only > results/robust.txt
