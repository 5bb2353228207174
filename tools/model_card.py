"""Write the model card of a shipped model from the measured results files.

    python tools/model_card.py [NAME] [RESULTS]   (default: the default model and results/NAME.json)

RESULTS names another results file of the same model (e.g. dsnet-v1-fp32: dsnet-v1 measured in fp32, the figures
the README gives), so that the card, `deepstego models` and the README quote one measurement.

Reads src/deepstego/weights/NAME.json (recipe, data hash, training time), results/NAME.json and the comparison
results listed in COMPARE (all written by `deepstego eval`), results/curve-NAME.json (`deepstego eval --curve`) and
writes src/deepstego/weights/NAME.md and the headline figures into the
weights JSON's "card" field (shown by `deepstego models`). The weights file itself is not touched, so its sha256
stays valid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "src" / "deepstego" / "weights"
RESULTS = ROOT / "results"
# NAME-network: the same model without refinement (deepstego eval --refine 0); dsnet-v2-network-124: dsnet-v2
# (the default then) at the seed paper's 124 px (--size 124 --refine 0), beside baluja-seed
COMPARE = ["{name}-network", "dsnet-v4", "dsnet-v4-network", "dsnet-v3", "dsnet-v3-network", "dsnet-k3",
           "dsnet-k3-network", "dsnet-v2-network-124", "dsnet-k2", "dsnet-k2-network", "dsnet-k1", "dsnet-k1-network",
           "dsnet-v2", "dsnet-v2-network", "dsnet-v1", "dsnet-v1-fp32", "lsb-4", "lsb-3", "baluja-10min-refined",
           "baluja-10min", "dsnet-v1-10min"]


def _load(name: str) -> dict | None:
    p = RESULTS / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _row(label: str, res: dict) -> str:
    m, lo = res["mean"], res["min"]
    steps = "–" if str(res["model"]).startswith("lsb") else res.get("refine", 0)  # nothing to refine against
    return (f"| {label} | {steps} | {m['cover_ssim']:.4f} (min {lo['cover_ssim']:.4f}) | {m['cover_psnr']:.2f} | "
            f"{m['secret_ssim']:.4f} (min {lo['secret_ssim']:.4f}) | {m['secret_psnr']:.2f} |")


def _arithmetic(meta: dict) -> str:
    """The arithmetic the run used: the machine record says what 'auto' became; older runs name bf16 or fp32."""
    prec = meta.get("machine", {}).get("precision", meta["recipe"]["precision"])
    return "bf16 autocast" if prec == "bf16" else "fp32 (no autocast)"


def train_command(recipe: dict) -> str:
    """The `deepstego train` command line that reproduces a recipe."""
    args = ["deepstego train", f"--data {recipe['data']}", f"--arch {recipe['arch']}"]
    args += [f"--opt {k}={v}" for k, v in recipe["arch_options"].items()]
    if recipe.get("init"):
        args.append(f"--init {recipe['init']}")
    if recipe.get("teacher"):
        args.append(f"--teacher {recipe['teacher']} --teacher-weight {recipe['teacher_weight']:g}")
    if recipe.get("adversary_weight"):
        args.append(f"--adversary-weight {recipe['adversary_weight']:g}")
    loss = recipe["loss"]
    args += [f"--size {recipe['size']}", f"--batch {recipe['batch']}", f"--max-zoom {recipe.get('max_zoom', 2.0):g}",
             f"--lr {recipe['lr']:g}",
             f"--beta {loss['beta']:g}", f"--loss {loss['kind']}", f"--ssim-weight {loss['ssim_weight']:g}",
             f"--cover-ramp-steps {loss['cover_ramp_steps']}",
             f"--quant-warmup-steps {recipe['quant_warmup_steps']}", f"--epochs {recipe['epochs']}",
             f"--steps-per-epoch {recipe['steps_per_epoch']}"]
    if recipe.get("max_minutes"):
        args.append(f"--max-minutes {recipe['max_minutes']:g}")
    args += [f"--patience {recipe['patience']}", f"--seed {recipe['seed']}", f"--precision {recipe['precision']}",
             f"--snapshot-minutes {recipe['snapshot_minutes']:g}", f"--out {recipe['out']}"]
    return " ".join(args)


def _start(recipe: dict) -> str:
    """Where an --init run started: another model's weights, or a model narrowed (tools/narrow.py) or cut to fewer
    blocks (tools/shallow.py)."""
    init_json = (ROOT / recipe["init"]).with_suffix(".json")
    init = json.loads(init_json.read_text()) if init_json.exists() else {}
    source = init.get("narrowed_from") or init.get("shallowed_from")
    if not source:
        return (f"- Initialised from `{Path(recipe['init']).stem}` (its own card gives its training); the figures "
                f"above are this run's alone.")
    teacher = (f" with `{recipe['teacher']}` as teacher (the pull towards its stego and towards revealing from its "
               f"stego starts at weight {recipe['teacher_weight']:g} and fades to 0)." if recipe.get("teacher") else ".")
    out = Path(recipe["init"]).with_suffix("")
    if init.get("shallowed_from"):
        kept = "; ".join(f"{net} blocks {blocks}" for net, blocks in init["kept_blocks"].items())
        counts = " ".join(f"--{net} {len(blocks)}" for net, blocks in init["kept_blocks"].items())
        return (f"- Start point: `{source}` with fewer residual blocks (kept: {kept}; `python tools/shallow.py "
                f"{source} {out} {counts}`), then trained as below{teacher}")
    width = init["config"]["width"]
    return (f"- Start point: `{source}` pruned to {width} channels (`python tools/narrow.py {source} {width} "
            f"{out}`), then trained as below{teacher}")


def main(name: str, results: str | None = None) -> None:
    meta_path = WEIGHTS / f"{name}.json"
    meta = json.loads(meta_path.read_text())
    results = results or name
    own = _load(results)
    if own is None:
        raise SystemExit(f"results/{results}.json is missing: run deepstego eval --model {name} --json "
                         f"results/{results}.json")
    recipe, trained = meta["recipe"], meta["trained"]
    size = own.get("size", 256)
    size_opt = "" if size == 256 else f" --size {size}"
    lines = [f"# Model card: {name}", "",
             f"Architecture `{meta['arch']}` with config `{json.dumps(meta['config'])}`.", "",
             "## Training", "",
             f"- Data: the default corpus (`deepstego data prepare`), manifest sha256 `{meta['data_manifest_sha256']}`;"
             f" {len(meta['split']['train'])} photos for training, {len(meta['split']['val'])} held out.",
             f"- Recipe: {recipe['size']} px crops, batch {recipe['batch']}, AdamW lr {recipe['lr']} (cosine over the "
             f"time budget), loss {recipe['loss']['kind']} + β {recipe['loss']['beta']} on the secret + "
             f"{recipe['loss']['ssim_weight']} × (1 − SSIM) terms, cover weight ramped from "
             f"{recipe['loss']['cover_ramp_start']} over {recipe['loss']['cover_ramp_steps']} steps, "
             f"{_arithmetic(meta)}, seed {recipe['seed']}.",
             f"- Trained on this project's 2-core CPU: {trained['minutes']} minutes of training time, "
             f"{trained['steps']} steps, {trained['pairs']} pairs."
             + (f" Machine: {meta['machine']['cpu']}, {meta['machine']['threads']} threads, native bf16 "
                f"{'yes' if meta['machine']['native_bf16'] else 'no'}." if meta.get("machine") else ""),
             *([_start(recipe)] if recipe.get("init") and not meta.get("lineage") else []),
             *[f"- {step}" for step in meta.get("lineage", [])],
             f"- Weights sha256 `{meta['sha256']}`.",
             f"- Command: `{train_command(recipe)}`", "",
             f"## Measured (evaluation photos, {size}×{size} centre crops, revealed from saved 8-bit PNGs)", "",
             "Photos shipped inside scikit-image, scikit-learn and matplotlib, never trained on; cover i carries "
             f"photo i+1 as its secret. Command: `deepstego eval --model NAME{size_opt} --json results/NAME.json` (networks "
             f"refine each stego for {own.get('refine', 0)} steps against the reveal network by default; "
             "`--refine 0` gives the network pass alone, the figures of the video path).", "",
             "| model | refinement steps | cover SSIM | cover PSNR dB | secret SSIM | secret PSNR dB |",
             "|---|---|---|---|---|---|",
             _row(name if results == name else f"{name} ({results})", own)]
    shown = []
    for other in dict.fromkeys(c.format(name=name) for c in COMPARE):
        res = _load(other) if other != results else None
        if res is not None and res.get("size", 256) == size:  # only figures at the same crop size compare
            lines.append(_row(other, res))
            shown.append(other)
    if "baluja-10min" in shown:
        lines += ["", "`baluja-10min` is the seed design trained with the dsnet-v1 recipe for the same 10 minutes of "
                  "training time as the `dsnet-v1-10min` snapshot of the dsnet-v1 run, on the machine that trained "
                  "dsnet-v1 (`tools/baluja_10min.sh`): its directly predicted stego saturated during the low "
                  "cover-weight warm-up and did not recover within the budget (validation loss flat from the first "
                  "epoch)."]
    # the seed design is held to the seed paper's figures, every other network to the project's bar
    bar, label = ((0.86, "Bar of the seed paper (mean cover SSIM ≥ 0.98 and secret SSIM ≥ 0.86 at 124 px)")
                  if meta["arch"] == "baluja" else
                  (0.95, "Bar of the project (mean cover SSIM ≥ 0.98 and secret SSIM ≥ 0.95 at 256 px)"))
    met = own["mean"]["cover_ssim"] >= 0.98 and own["mean"]["secret_ssim"] >= bar
    lines += ["", f"{label}: "
              + (f"met with the default {own.get('refine', 0)} refinement steps" if met else "**not yet met**")
              + (" (not by the network pass alone)." if met and own.get("refine") else ".")]
    for suffix, option in (("", ""), ("-network", " --refine 0")):
        curve = _load(f"curve-{name}{suffix}")
        if not curve:
            continue
        steps = curve["points"][0].get("refine", 0)
        lines += ["", f"## Time to quality ({steps} refinement steps)", "",
                  "Mean SSIM on the evaluation photos of the snapshots taken during training "
                  f"(`deepstego eval --curve RUN_DIR{option} --json results/curve-{name}{suffix}.json --plot "
                  f"docs/time_to_quality-{name}{suffix}.png`):", "",
                  "| minutes | cover SSIM | secret SSIM | secret PSNR dB |", "|---|---|---|---|"]
        for p in curve["points"]:
            lines.append(f"| {p['minutes']:.1f} | {p['cover_ssim']:.4f} | {p['secret_ssim']:.4f} | "
                         f"{p['secret_psnr']:.2f} |")
    (WEIGHTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    m = own["mean"]
    meta["card"] = {"cover SSIM": round(m["cover_ssim"], 4), "cover PSNR": round(m["cover_psnr"], 2),
                    "secret SSIM": round(m["secret_ssim"], 4), "secret PSNR": round(m["secret_psnr"], 2),
                    "refinement steps": own.get("refine", 0),
                    "measured": f"evaluation photos, {size} px, from saved PNGs, {own.get('precision', 'auto')} "
                                f"(results/{results}.json)"}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {WEIGHTS / (name + '.md')}")


if __name__ == "__main__":
    from deepstego.core import DEFAULT_MODEL

    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_MODEL, sys.argv[2] if len(sys.argv) > 2 else None)
