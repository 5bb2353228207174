"""The stealth trade-off curve of docs/steganalysis.md: secret SSIM against the AUC of detectors freshly trained
against each setting.

    python tools/stealth_curve.py [--methods cnn srm] [--settings NAME=HIDER ...]

Each setting is a hider (``NAME+refine:STEPS+stealth:ENERGY+stats:WEIGHT``, see ``deepstego detect train --help``).
By default: the default model's plain ``hide`` (14 refinement steps); the energy cap alone at 0.85 and 0.7 (30
steps); the residual-statistics penalty alone at 14 steps; the network's dial (both, 30 steps); and ``hide
--stealth``, the stealth image hider (``avif-stc``). For every setting tools/steganalysis.sh trains each detector on the training
photos against that hider's output and scores it on the evaluation photos (the measuring rule: no detector ever
saw the hider during its training, nor the evaluation photos); ``deepstego eval`` measures cover and secret SSIM
on the evaluation photos (centre crops, 256 px, through saved PNGs). Finished detector figures are kept, so the
tool resumes where it stopped; a setting already in results/stealth/curve.json and not given now keeps its row
(its weights may be gone). Writes results/stealth/curve.json, results/stealth/curve.md and
docs/steganalysis/stealth_curve.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from deepstego.core import DEFAULT_MODEL, REFINE_STEPS
from deepstego.evaluate import evaluate
from deepstego.steganalysis.pairs import hider_model
from deepstego.stealth import PAYLOAD, STEALTH_CODEC, STEALTH_ENERGY, STEALTH_STATS

ROOT = Path(__file__).resolve().parent.parent
RES = ROOT / "results" / "steganalysis"


SETTINGS = [f"{DEFAULT_MODEL}-refined={DEFAULT_MODEL}+refine:{REFINE_STEPS}",
            f"{DEFAULT_MODEL}-stealth0.85={DEFAULT_MODEL}+stealth:0.85",
            f"{DEFAULT_MODEL}-stealth0.7={DEFAULT_MODEL}+stealth:0.7",
            f"{DEFAULT_MODEL}-stats{STEALTH_STATS:g}={DEFAULT_MODEL}+refine:{REFINE_STEPS}+stats:{STEALTH_STATS:g}",
            f"{DEFAULT_MODEL}-stealth={DEFAULT_MODEL}+stealth:{STEALTH_ENERGY:g}+stats:{STEALTH_STATS:g}",
            f"stealth-stc{PAYLOAD:g}={STEALTH_CODEC}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="*", default=["cnn", "srm"])
    ap.add_argument("--settings", nargs="*", default=SETTINGS, metavar="NAME=HIDER")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--no-train", action="store_true",
                    help="train no detector: the table and figure from the detector figures already written")
    a = ap.parse_args()
    rows = [dict(zip(("name", "hider"), spec.split("=", 1))) for spec in a.settings]
    env = {**os.environ, "METHODS": " ".join(a.methods)}
    if not a.no_train:
        subprocess.run([str(ROOT / "tools" / "steganalysis.sh"), *(f"{r['name']}={r['hider']}" for r in rows)],
                       check=True, env=env, cwd=ROOT)
    for r in rows:
        if r["hider"] == STEALTH_CODEC:  # the stealth image hider: no model, no refinement
            res = evaluate(size=a.size, stealth=True)
        else:
            h = hider_model(r["hider"])
            res = evaluate(h.name, size=a.size, refine=h.refine, stealth=h.stealth)
        r.update({k: res["mean"][k] for k in ("cover_ssim", "cover_psnr", "secret_ssim", "secret_psnr")},
                 refine=res["refine"], seconds=res["hide_seconds_per_pair"])
        for m in ["classical", *a.methods]:
            f = RES / f"{m}-{r['name']}.json"
            if f.exists():
                r[f"{m}_auc"] = json.loads(f.read_text())["auc"]
        print(r, flush=True)
    out = ROOT / "results" / "stealth"
    out.mkdir(parents=True, exist_ok=True)
    rows = merged(out / "curve.json", rows)
    (out / "curve.json").write_text(json.dumps(rows, indent=1) + "\n")
    methods = ["classical", *a.methods]
    lines = [f"| setting | refinement steps | cover SSIM | secret SSIM | " + " | ".join(f"{m} AUC" for m in methods)
             + " |", "|---" * (4 + len(methods)) + "|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['refine']} | {r['cover_ssim']:.4f} | {r['secret_ssim']:.4f} | "
                     + " | ".join(f"{r[m + '_auc']:.3f}" if m + "_auc" in r else "–" for m in methods) + " |")
    (out / "curve.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(rows, a.methods, ROOT / "docs" / "steganalysis" / "stealth_curve.png")


def merged(path: Path, rows: list[dict]) -> list[dict]:
    """The settings already in ``path`` (in their order), each replaced by this run's row of the same name, then
    this run's new ones: a setting measured before and not given now (its weights may be gone) keeps its figures."""
    new = {r["name"]: r for r in rows}
    old = json.loads(path.read_text()) if path.exists() else []
    kept = [new.pop(r["name"], r) for r in old]
    return kept + list(new.values())


def plot(rows: list[dict], methods: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=100)
    named = set()
    for m, marker in zip(methods, "os^v"):
        pts = [(r["secret_ssim"], r[m + "_auc"], r["name"]) for r in rows if m + "_auc" in r]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker, label=f"{m} (trained fresh per setting)")
        for x, y, name in pts:
            if name not in named:  # one label a setting, at its first detector's point; alternate heights
                named.add(name)
                ax.annotate(name.replace(f"{DEFAULT_MODEL}-", ""), (x, y), fontsize=7,
                            xytext=(3, 3 if len(named) % 2 else -10), textcoords="offset points")
    ax.axhline(0.5, color="k", lw=0.6, ls="--", label="chance")
    ax.axhline(0.70, color="tab:red", lw=0.6, ls=":", label="issue bar for --stealth (0.70)")
    ax.axvline(0.85, color="tab:red", lw=0.6, ls=":")
    ax.set_xlabel("secret SSIM (evaluation photos, 256 px, from saved PNGs)")
    ax.set_ylabel("detector AUC (evaluation photos, 128-px crops)")
    ax.set_ylim(min([0.45, *(r[m + "_auc"] - 0.05 for r in rows for m in methods if m + "_auc" in r)]), 1.02)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
