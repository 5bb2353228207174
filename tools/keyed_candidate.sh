#!/usr/bin/env bash
# Every figure issue 15 asks of a keyed model, for one candidate's weights, each written once under results/keyed/
# (a finished figure is kept: the script resumes where it stopped). In the order the bars are checked, cheapest first;
# on this project's 2-core CPU about 1 + 5 + 3 + 30 + 5 minutes.
#   [REFINE=STEPS] tools/keyed_candidate.sh NAME WEIGHTS.safetensors
# 1. network pass and 2. default refinement (REFINE steps, else the weights JSON's refine_steps): evaluation photos,
#    256 px, saved PNGs; 3. the two real videos (FFV1, a measurement key); 4. leakage of the refined stego to wrong
#    keys, the keyless models and a 20-minute key-agnostic attacker; 5. the cnn detector against the network pass.
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?name}; M=${2:?weights}
R=results/keyed
mkdir -p "$R"
refine=(); [[ -n ${REFINE:-} ]] && refine=(--refine "$REFINE")
run() { [[ -f $1 ]] && return; shift; "$@"; }
run "$R/$NAME-network.json" .venv/bin/deepstego eval --model "$M" --refine 0 --json "$R/$NAME-network.json"
run "$R/$NAME.json" .venv/bin/deepstego eval --model "$M" "${refine[@]}" --json "$R/$NAME.json"
run "$R/video-$NAME.json" .venv/bin/python tools/video_figures.py "$M" "$R/video-$NAME.json"
run "$R/$NAME-attacks.json" .venv/bin/python tools/key_attacks.py "$M" "${refine[@]}" --out "$R/$NAME-attacks" \
    --grid "$R/$NAME-attacker_grid.png"
run results/steganalysis/cnn-$NAME.json env METHODS=cnn tools/steganalysis.sh "$NAME=$M"
