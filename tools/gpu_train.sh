#!/usr/bin/env bash
# Training runs for a lent CUDA machine. Two sets, chosen by SET:
#
# - SET=shared (the first lease): five runs at once on the one GPU: the seed's network (baluja-seed) at the seed
#   paper's 124 px and recipe, at two learning rates, and the keyed model continued from dsnet-k2's weights with the
#   key-agnostic adversary, in three variants, each in its own process. Measured on an H200 (docs/training.md): the
#   five processes took turns on the GPU and each ran at a quarter of its speed alone, so one run per GPU is better.
# - SET=seed (the second lease): the seed's network alone, continued from INIT (the first lease's best weights).
#   A short bf16 probe first; the run then trains in bf16 if the probe beat fp32's rate alone (FP32_RATE pairs/s,
#   results/gpu/single_run.txt) by a fifth, else in fp32.
# - SET=fast (the third lease): two faster students of the default model, side by side: dsnet at factor 4 (each
#   convolution at 1/16 of the pixels) and 32 channels, with 3 hide and 6 reveal blocks (fast-a) and with 2 and 4
#   (fast-b), trained from scratch at 128 px and pulled towards dsnet-v2's stego early on. SET=fast2: fast-a's best
#   weights (INIT) continued alone, without the teacher, at lr 5e-4 (the lease's second call, MIN=4.3).
#
#   OUT=out MIN=6.5 SET=shared tools/gpu_train.sh   # each run trains MIN minutes; OUT gets one .tgz per run and logs.tgz
#
# Runs without an installed deepstego (PYTHONPATH=src), as on the device machine, whose PyTorch is its own.
set -u
OUT=${OUT:-runs/gpu-out}
MIN=${MIN:-6.5}
PY=${PY:-python3}
RUNS=${RUNS:-runs/gpu}
LOGS=$RUNS/logs
mkdir -p "$OUT" "$LOGS"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
ds() { "$PY" -c 'import sys; from deepstego.cli import main; sys.exit(main())' "$@"; }

common=(--data data/photos --device "${DEVICE:-cuda}" --epochs 1000 --patience 1000 --seed 0 --max-minutes "$MIN" --quiet)
seed=(--arch baluja --size 124 --loss l2 --beta 0.75 --steps-per-epoch 500 --precision fp32)
fast=(--arch dsnet --opt factor=4 --opt width=32 --teacher dsnet-v2 --teacher-weight 2 --size 128 --batch 32
      --max-zoom 8 --lr 1e-3 --loss l1 --beta 1 --ssim-weight 1 --steps-per-epoch 200 --precision auto)
keyed=(--arch dsnet --init src/deepstego/weights/dsnet-k2.safetensors --adversary-weight 5 --beta 1 --loss l1
       --ssim-weight 1 --cover-ramp-steps 0 --quant-warmup-steps 0 --steps-per-epoch 200 --precision auto)

run() {  # name, arguments
    local name=$1; shift
    ds train "${common[@]}" "$@" --out "$RUNS/$name" >"$LOGS/$name.log" 2>&1
    echo "$name: exit $?" | tee -a "$LOGS/$name.log"
}

nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv -l 60 >"$LOGS/smi.log" 2>&1 &
smi=$!
pids=()
case ${SET:-shared} in
shared)
    run baluja-a "${seed[@]}" --batch 32 --lr 3e-4 & pids+=($!)
    run baluja-b "${seed[@]}" --batch 32 --lr 1e-3 & pids+=($!)
    run keyed-f1 "${keyed[@]}" --size 128 --batch 64 --max-zoom 4 --lr 2e-4 & pids+=($!)
    run keyed-f2 "${keyed[@]}" --size 128 --batch 64 --max-zoom 4 --lr 5e-4 & pids+=($!)
    run keyed-f3 "${keyed[@]}" --size 64 --batch 64 --max-zoom 8 --lr 2e-4 & pids+=($!)
    sleep "${PEEK:-90}"; tail -n 2 "$LOGS"/*.log  # the first epochs: every run started, and at what speed
    ;;
seed)
    run probe-bf16 "${seed[@]}" --batch 64 --precision bf16 --max-minutes "${PROBE_MIN:-0.4}" --steps-per-epoch 40
    rate=$("$PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["pairs_per_s"])' \
        "$RUNS/probe-bf16/metrics.jsonl")
    precision=$("$PY" -c 'import sys; print("bf16" if float(sys.argv[1]) > 1.2 * float(sys.argv[2]) else "fp32")' \
        "$rate" "${FP32_RATE:-358}")
    echo "bf16 probe: $rate pairs/s against fp32 ${FP32_RATE:-358}: training in $precision" | tee "$LOGS/choice.log"
    run baluja-c "${seed[@]}" --init "${INIT:-runs/gpu/baluja-b/best.safetensors}" --batch 64 --lr 1e-3 \
        --precision "$precision" & pids+=($!)
    rm -f "$RUNS/probe-bf16/checkpoint.pt"  # its speed is what counts
    ;;
fast)
    run fast-a "${fast[@]}" --opt hide_blocks=3 --opt reveal_blocks=6 & pids+=($!)
    run fast-b "${fast[@]}" --opt hide_blocks=2 --opt reveal_blocks=4 & pids+=($!)
    sleep "${PEEK:-60}"; tail -n 2 "$LOGS"/*.log
    ;;
fast2)
    run fast-a2 --arch dsnet --opt factor=4 --opt width=32 --opt hide_blocks=3 --opt reveal_blocks=6 \
        --init "${INIT:-runs/gpu/fast-a/best.safetensors}" --size 128 --batch 32 --max-zoom 8 --lr 5e-4 --loss l1 \
        --beta 1 --ssim-weight 1 --cover-ramp-steps 0 --quant-warmup-steps 0 --steps-per-epoch 200 \
        --precision auto --seed 1 & pids+=($!)
    ;;
esac
wait "${pids[@]}"
kill $smi 2>/dev/null

# weights, checkpoints and metrics of each run in one archive (the device returns at most 8 files)
for d in "$RUNS"/*/; do
    name=$(basename "$d")
    tar czf "$OUT/$name.tgz" -C "$RUNS" --exclude tb --exclude grids "$name"
done
for d in "$RUNS"/*/metrics.jsonl; do echo "$d"; tail -n 1 "$d"; done
ls -la "$OUT"
