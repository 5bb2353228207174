"""Scoring files, training and evaluating detectors.

Scores are 0–1, higher = more likely stego: the fused classical score (see ``classical``) or the sigmoid of a
learned detector's logit. Evaluation reports accuracy at the verdict threshold, ROC AUC and a ROC curve PNG.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import limits
from ..data.dataset import IMAGE_SUFFIXES, list_images
from ..data.evalset import eval_photos
from ..errors import DeepStegoError
from ..images import describe_mode, atomic_write, check_output, load_rgb, open_image, to_tensor, to_uint8
from ..models.weights import load_weights, save_weights, sidecar
from . import classical
from .detectors import MIN_SIDE, create_detector
from .pairs import labelled_examples

THRESHOLDS = {"classical": 0.15, "learned": 0.5}  # classical: fused embedding-rate estimate; learned: probability
MAX_SIDE = 1024  # learned detectors look at the centre of larger images


def expand(paths: list[str | Path]) -> list[Path]:
    """Files to score: each file given, and the images inside each folder given. A missing path, or a folder
    with no images, stays in the list, so that scoring reports it as an error row."""
    files: list[Path] = []
    for p in map(Path, paths):
        found = []
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
        files += found or [p]
    return files


def load_detector(path: str | Path, method: str | None = None):
    det = load_weights(path, factory=create_detector)
    if method and det.method != method:
        raise DeepStegoError(f"{path} is a {det.method} detector, not {method}")
    return det


def load_8bit(path: Path) -> np.ndarray:
    """The pixels exactly as stored, for the LSB attacks: 8-bit RGB or grayscale only (no conversion, which would
    rewrite the least significant bits the attacks read)."""
    im = open_image(path)
    if im.mode not in ("RGB", "L"):
        raise DeepStegoError(f"{path}: classical attacks need an 8-bit RGB or grayscale image, not {describe_mode(im)}")
    return np.asarray(im)


def _centre(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    if min(h, w) < MIN_SIDE:
        raise DeepStegoError(f"the image is {w}x{h}; learned detectors need at least {MIN_SIDE} px a side")
    th, tw = min(h, MAX_SIDE), min(w, MAX_SIDE)
    y, x0 = (h - th) // 2, (w - tw) // 2
    return x[..., y:y + th, x0:x0 + tw]


@torch.inference_mode()
def learned_scores(detector, images: torch.Tensor, references: torch.Tensor | None = None) -> np.ndarray:
    """Probabilities for a batch of same-size images (N×3×H×W in [0, 1])."""
    detector.eval()
    out = []
    for i in range(0, len(images), 32):
        ref = None if references is None else references[i:i + 32]
        out.append(torch.sigmoid(detector(images[i:i + 32], ref).float()))
    return torch.cat(out).numpy()


def score_files(files: list[Path], method: str, detector_path: str | None = None, reference: str | None = None,
                threshold: float | None = None) -> tuple[list[dict], float]:
    """One row per file: ``file``, the sub-test columns, ``score`` and ``verdict``; and the threshold used. A file
    that cannot be scored gets a row with its ``error`` instead (verdict ``error``), and the others go on."""
    if method == "classical":
        threshold = THRESHOLDS["classical"] if threshold is None else threshold

        def score(f: Path) -> dict:
            return classical.analyse(load_8bit(f))
    else:
        if not detector_path:
            raise DeepStegoError(f"--method {method} needs --detector (train one with 'deepstego detect train')")
        det = load_detector(detector_path, method)
        threshold = THRESHOLDS["learned"] if threshold is None else threshold
        ref = None
        if det.needs_reference:
            if not reference:
                raise DeepStegoError("the siamese detector needs --reference, a known-clean image from the same source")
            ref = _centre(to_tensor(load_rgb(reference, name="the reference", strict=False)))

        def score(f: Path) -> dict:
            x = _centre(to_tensor(load_rgb(f, name=str(f), strict=False)))
            p = float(learned_scores(det, x, ref)[0])  # the trunks end in a global mean: sizes may differ
            return {f"{method}_probability": p, "score": p}
    rows = []
    for f in files:
        try:
            if f.is_dir():
                raise DeepStegoError(f"{f}: no images in this folder")
            if not f.exists():
                raise DeepStegoError(f"{f}: no such file or folder")
            row = {"file": str(f), **score(f)}
            row["verdict"] = "stego" if row["score"] >= threshold else "clean"
        except DeepStegoError as exc:
            row = {"file": str(f), "verdict": "error", "error": str(exc)}
        rows.append(row)
    return rows, threshold


def _columns(rows: list[dict]) -> list[str]:
    """Every column of the rows in first-seen order, ``verdict`` and ``error`` last."""
    cols = list(dict.fromkeys(k for r in rows for k in r if k not in ("verdict", "error")))
    return cols + ["verdict"] + (["error"] if any("error" in r for r in rows) else [])


def _cell(v) -> str:
    return f"{v:.6f}" if isinstance(v, float) else str(v)


def write_csv(rows: list[dict], path: str | Path) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(rows), restval="")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: _cell(v) for k, v in r.items()})
    return atomic_write(path, lambda tmp: tmp.write_text(buf.getvalue()))


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table (file, score, verdict; an error row says why)."""
    name = max(len("file"), *(len(r["file"]) for r in rows))
    lines = [f"{'file':<{name}}  {'score':>8}  verdict"]
    for r in rows:
        score = f"{r['score']:8.4f}" if "score" in r else f"{'-':>8}"
        lines.append(f"{r['file']:<{name}}  {score}  {r['verdict']}" + (f" ({r['error']})" if "error" in r else ""))
    return "\n".join(lines)


def train_detector(method: str, hider: str, data: str | Path, pairs: int, out: str | Path, *, size: int = 128,
                   epochs: int = 10, batch: int = 32, lr: float = 1e-3, max_minutes: float | None = None,
                   seed: int = 0, overwrite: bool = False, progress: bool = True, **options) -> Path:
    """Generate ``pairs`` clean and ``pairs`` stego examples from the photos in ``data``, train, save.
    ``options``: the detector's own (``features`` for ``srm``)."""
    pairs = limits.count("--pairs", pairs, 1, limits.MAX_STEPS)
    limits.count("--epochs", epochs, 1, limits.MAX_STEPS)
    limits.count("--batch", batch, 1, min(2 * pairs, limits.MAX_TRAIN_BATCH))
    limits.count("--size", size, MIN_SIDE, limits.MAX_TRAIN_SIZE)
    for p in sidecar(out):  # fail before the work, not after it
        check_output(p, overwrite=overwrite)
    det = create_detector(method, hider=hider, **options)  # unknown options fail before the work
    torch.manual_seed(seed)
    paths = list_images(data)
    images, refs, labels = labelled_examples(hider, paths, pairs, size, seed)
    start = time.monotonic()
    with torch.no_grad():  # the untrained parts (the reveal detector's hider network) once per example
        frozen = []
        for i in range(0, len(images), batch):
            frozen.append(det.frozen(images[i:i + batch]))
            if progress and hasattr(det, "fit"):  # rich-model features: minutes, so say how far they are
                print(f"features: {i + len(frozen[-1])}/{len(images)} images", flush=True)
        images = torch.cat(frozen)
    recipe = {"method": method, "hider": hider, "data": str(data), "pairs": pairs, "size": size, "seed": seed,
              "photos": [p.name for p in paths], **options}
    if hasattr(det, "fit"):  # the rich-model ensemble: fitted, not trained by gradients
        trained = det.fit(images, labels, seed)
        trained["minutes"] = (time.monotonic() - start) / 60
        if progress:
            print(f"ensemble: {trained['learners']} learners on {trained['subspace']} of {trained['features']} "
                  "features", flush=True)
        return save_weights(det, out, recipe=recipe, history=[trained], trained=trained)
    params = [p for p in det.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = epochs * max(1, len(images) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start, step, history = time.monotonic(), 0, []
    for epoch in range(1, epochs + 1):
        det.train()
        order = torch.randperm(len(images))
        losses, correct = [], 0
        for i in range(0, len(images) - batch + 1, batch):
            idx = order[i:i + batch]
            logits = det.classify(images[idx], refs[idx] if det.needs_reference else None)
            loss = F.binary_cross_entropy_with_logits(logits, labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            losses.append(loss.item())
            correct += int(((logits > 0).float() == labels[idx]).sum())
        row = {"epoch": epoch, "loss": float(np.mean(losses)), "train_accuracy": correct / (len(losses) * batch),
               "minutes": (time.monotonic() - start) / 60}
        history.append(row)
        if progress:
            print(f"epoch {epoch}: loss {row['loss']:.4f} train accuracy {row['train_accuracy']:.3f}", flush=True)
        if max_minutes is not None and row["minutes"] >= max_minutes:
            break
    recipe.update(epochs=epochs, batch=batch, lr=lr)
    return save_weights(det, out, recipe=recipe, history=history, trained={"steps": step, **history[-1]})


def evaluate_detector(method: str | None, hider: str | None, *, detector_path: str | None = None,
                      images: str | None = None, pairs: int = 200, size: int | None = None, seed: int = 99,
                      roc_png: str | None = None) -> dict:
    """Accuracy, AUC (and a ROC PNG) on held-out photos: the evaluation photos unless ``images`` is given.
    ``method`` None: the detector file's kind, or the classical attacks when no detector is given."""
    from torchmetrics.functional.classification import binary_auroc, binary_roc

    det = None
    if method is None:
        method = "classical" if not detector_path else None
    if method != "classical":
        if not detector_path:
            raise DeepStegoError(f"evaluating a {method} detector needs --detector")
        det = load_detector(detector_path, method)
        method = det.method
        hider = hider or det.config.get("hider")
        size = size or det.meta["recipe"]["size"]
    if not hider:
        raise DeepStegoError("say which hider made the stego examples: --hider")
    size = limits.count("--size", size or 128, MIN_SIDE, limits.MAX_TRAIN_SIZE)
    pairs = limits.count("--pairs", pairs, 1, limits.MAX_STEPS)
    paths = list_images(images) if images else eval_photos()
    x, refs, labels = labelled_examples(hider, paths, pairs, size, seed, augment=False)
    if det is None:
        scores = np.array([classical.analyse(to_uint8(t))["score"] for t in x])
        threshold = THRESHOLDS["classical"]
    else:
        scores = learned_scores(det, x, refs if det.needs_reference else None)
        threshold = THRESHOLDS["learned"]
    s, y = torch.from_numpy(scores).float(), labels.long()
    res = {"method": method, "hider": hider, "detector": detector_path, "pairs": pairs, "size": size,
           "photos": "evaluation photos" if not images else str(images),
           "auc": float(binary_auroc(s, y)), "accuracy": float(((s >= threshold).long() == y).float().mean()),
           "threshold": threshold, "mean_score_clean": float(s[y == 0].mean()),
           "mean_score_stego": float(s[y == 1].mean())}
    if roc_png:
        fpr, tpr, _ = binary_roc(s, y)
        _plot_roc(fpr.numpy(), tpr.numpy(), res, roc_png)
        res["roc_png"] = str(roc_png)
    return res


def _plot_roc(fpr: np.ndarray, tpr: np.ndarray, res: dict, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    try:
        ax.plot(fpr, tpr, label=f"{res['method']} vs {Path(res['hider']).stem} (AUC {res['auc']:.3f})")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
