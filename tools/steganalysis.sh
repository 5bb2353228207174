#!/usr/bin/env bash
# Detection figures behind docs/steganalysis.md: every detector against every hider, trained on the training photos
# and scored on the evaluation photos (never trained on). On 2 cores, per hider: about 5 minutes for each of cnn,
# reveal and siamese, 10 for srm (its features take most of it); a refined hider (NAME+refine:STEPS, the stego
# 'deepstego hide' writes by default) adds the refinement of every stego example, for each method.
#   [METHODS="cnn srnet reveal siamese srm"] tools/steganalysis.sh [NAME=HIDER ...]
# default: the default model with and without refinement, baluja (runs/baluja-10min, see tools/baluja_10min.sh),
# lsb (k = 4) and LSB-1 at 0.5 bpp. METHODS: the learned detectors to train (the classical attack always runs).
# The robust image hider: robust=avif-qim (every example then a quality-90 JPEG; its hides take seconds each, so
# tens of minutes for each method).
# Writes results/steganalysis/*.json, docs/steganalysis/*.png and results/steganalysis/table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data/photos}
STEGO=${STEGO:-.venv/bin/deepstego}
RES=results/steganalysis
FIG=docs/steganalysis
DET=runs/detectors
mkdir -p "$RES" "$FIG" "$DET"
DEFAULT=$(.venv/bin/python -c "from deepstego.core import DEFAULT_MODEL; print(DEFAULT_MODEL)")
REFINE=$(.venv/bin/python -c "from deepstego.core import REFINE_STEPS; print(REFINE_STEPS)")
JOBS=("$@")
[[ ${#JOBS[@]} -gt 0 ]] || JOBS=("$DEFAULT=$DEFAULT" "$DEFAULT-refined=$DEFAULT+refine:$REFINE"
                                 baluja=runs/baluja-10min/model.safetensors lsb4=lsb lsb1-0.5bpp=lsb-random:0.5)
for job in "${JOBS[@]}"; do
    name=${job%%=*}
    hider=${job#*=}
    # finished figures are kept: the script resumes where it stopped
    [[ -f "$RES/classical-$name.json" ]] || $STEGO detect eval --method classical --hider "$hider" --pairs 200 --size 128 \
        --json "$RES/classical-$name.json" --roc "$FIG/classical-$name.png" --overwrite
    for method in ${METHODS:-cnn reveal siamese srm}; do
        # a random message and the robust image hider have no reveal network
        [[ $method == reveal && ( $hider == lsb-random:* || $hider == avif-qim ) ]] && continue
        [[ -f "$RES/$method-$name.json" ]] && continue
        # srnet: the deep one, trained longer (at the 128-px crops every detector is scored on)
        epochs=6; [[ $method == srnet ]] && epochs=20
        $STEGO detect train --method "$method" --hider "$hider" --data "$DATA" --pairs 600 --size 128 \
            --epochs $epochs --quiet --overwrite --out "$DET/$method-$name"
        $STEGO detect eval --detector "$DET/$method-$name.safetensors" --pairs 200 \
            --json "$RES/$method-$name.json" --roc "$FIG/$method-$name.png" --overwrite
    done
done
.venv/bin/python - "$RES" <<'PY'
import json, sys
from pathlib import Path
res = Path(sys.argv[1])
rows = {}
for f in sorted(res.glob("*.json")):
    r = json.loads(f.read_text())
    method, name = f.stem.split("-", 1)
    rows.setdefault(name, {})[method] = r
methods = ["classical", "cnn", "srnet", "reveal", "siamese", "srm"]
lines = ["| hider | " + " | ".join(f"{m} AUC / acc." for m in methods) + " |", "|---" * (len(methods) + 1) + "|"]
for name, by in rows.items():
    cells = [f"{by[m]['auc']:.3f} / {by[m]['accuracy']:.3f}" if m in by else "–" for m in methods]
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
(res / "table.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
