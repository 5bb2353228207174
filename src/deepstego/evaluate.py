"""Evaluation through real files: every pair is hidden, the stego saved as an 8-bit PNG, read back and revealed;
cover and secret SSIM/PSNR per pair and on average, plus a comparison grid."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import limits
from .core import default_refine, hide, load_model, reveal
from .stealth import Stealth
from .data import eval_photos, list_images
from .errors import DeepStegoError
from .images import atomic_write, load_rgb
from .metrics import image_metrics
from .backend import runner
from .precision import resolve_precision
from .report import comparison_grid


def centre_square(path: Path, size: int) -> np.ndarray:
    """Resize so the shorter side is ``size``, then cut the central size×size square (uint8 H×W×3)."""
    arr = load_rgb(path, name=str(path), strict=False)
    im = Image.fromarray(arr)
    s = size / min(im.size)
    im = im.resize((max(size, round(im.width * s)), max(size, round(im.height * s))), Image.Resampling.LANCZOS)
    left, top = (im.width - size) // 2, (im.height - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size))).copy()


def _stealth_label(stealth, codec: bool) -> dict | None:
    from .stealth import PAYLOAD, STEALTH_CODEC

    if codec:
        return {"codec": STEALTH_CODEC, "payload": PAYLOAD}
    dial = Stealth.of(stealth)
    return None if dial is None else {"energy": dial.energy, "stats": dial.stats}


def evaluate(model=None, *, images: list[Path] | None = None, size: int = 256, precision: str = "auto",
             backend: str = "auto", grid: Path | None = None, refine: int | None = None, key=None,
             stealth: bool | float | Stealth = False) -> dict:
    """Pair photo i (cover) with photo i+1 (secret), cyclically; return per-pair and mean metrics. A keyed model
    hides and reveals with ``key``, by default a fixed measurement key (``Key.for_seed(0)``); ``stealth`` as for
    :func:`~deepstego.core.hide` (``stealth=True`` with no model: the stealth image hider, under the same
    measurement key)."""
    from .keys import Key
    from .stealth import STEALTH_CODEC, uses_codec

    limits.count("--size", size, 16, limits.MAX_TRAIN_SIZE * 4)
    codec = uses_codec(model, stealth)
    if codec and refine:
        raise DeepStegoError("refinement applies to network hides; the stealth image hider takes none")
    net = None if codec else load_model(model)
    key = (key or Key.for_seed(0)) if codec or net.keyed else key
    paths = images or eval_photos()
    if len(paths) < 2:
        raise DeepStegoError("evaluation needs at least 2 photos")
    photos = [centre_square(p, size) for p in paths]
    refine = 0 if codec else default_refine(net, stealth) if refine is None else refine
    if not codec:  # warm-up, untimed: oneDNN picks kernels
        hide(photos[0], photos[1], model=net, key=key, precision=precision, backend=backend, refine=0)
    rows, tiles, seconds = [], [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, cover in enumerate(photos):
            secret = photos[(i + 1) % len(photos)]
            stego_png = Path(tmp) / f"stego_{i}.png"
            start = time.perf_counter()
            stego = hide(cover, secret, model=net, key=key, precision=precision, backend=backend, refine=refine,
                         stealth=stealth)
            seconds += time.perf_counter() - start
            Image.fromarray(stego).save(stego_png)
            stego = np.asarray(Image.open(stego_png).convert("RGB"))
            revealed = reveal(stego_png, model=net, key=key, precision=precision, backend=backend, stealth=codec)
            revealed = np.asarray(revealed)
            c, s = image_metrics(cover, stego), image_metrics(secret, revealed)
            rows.append({"cover": paths[i].name, "secret": paths[(i + 1) % len(paths)].name,
                         **{f"cover_{k}": v for k, v in c.items()}, **{f"secret_{k}": v for k, v in s.items()}})
            tiles.append([cover, secret, stego, revealed])
    keys = [k for k in rows[0] if k.startswith(("cover_", "secret_"))]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    minimum = {k: float(np.min([r[k] for r in rows])) for k in keys if k.endswith("ssim")}
    result = {"model": STEALTH_CODEC if codec else _model_label(model, net), "size": size,
              "precision": "-" if codec else resolve_precision(precision),
              "backend": "-" if codec else runner(net, backend, precision).name,
              "refine": refine, "stealth": _stealth_label(stealth, codec), "hide_seconds_per_pair": seconds / len(rows), "pairs": len(rows),
              "mean": mean, "min": minimum, "per_pair": rows}
    if grid:
        t = [torch.from_numpy(np.stack([row[j] for row in tiles])).permute(0, 3, 1, 2).float() / 255 for j in range(4)]
        arr = comparison_grid(*t)
        atomic_write(grid, lambda tmp: Image.fromarray(arr).save(tmp, format="PNG"))
    return result


def _model_label(model, net) -> str:
    if model is None or not isinstance(model, (str, Path)):
        meta = getattr(net, "meta", None)
        return meta.get("name", net.arch) if meta else net.arch
    return str(model)


def write_json(result: dict, path: Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(result, indent=1) + "\n"))


def folder_images(folder: str | Path) -> list[Path]:
    return list_images(folder)


def time_to_quality(run_dir: str | Path, *, size: int = 256, plot: Path | None = None,
                    precision: str = "auto", refine: int | None = None) -> list[dict]:
    """Evaluate every timed weights snapshot of a training run (``--snapshot-minutes``) on the evaluation photos;
    returns [{minutes, cover_ssim, secret_ssim, …}] and optionally plots secret and cover SSIM against time."""
    from .models.weights import load_weights, read_meta

    snaps = sorted(Path(run_dir).glob("snapshots/*.safetensors"))
    final = Path(run_dir) / "model.safetensors"
    if final.exists():
        snaps.append(final)
    if not snaps:
        raise DeepStegoError(f"{run_dir}: no weights snapshots (train with --snapshot-minutes)")
    points, seen = [], set()
    for path in snaps:
        meta = read_meta(path)
        if meta["sha256"] in seen:  # the final weights are often the last snapshot too
            continue
        seen.add(meta["sha256"])
        res = evaluate(load_weights(path), size=size, precision=precision, refine=refine)
        points.append({"minutes": meta["trained"]["minutes"], "file": path.name, "refine": res["refine"],
                       **res["mean"]})
    points.sort(key=lambda p: p["minutes"])
    if plot:
        _plot_curve(points, Path(plot))
    return points


def _plot_curve(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3.6), dpi=110)
    t = [p["minutes"] for p in points]
    ax.plot(t, [p["secret_ssim"] for p in points], "o-", color="tab:red", label="secret (revealed from PNG)")
    ax.plot(t, [p["cover_ssim"] for p in points], "s-", color="tab:blue", label="cover vs stego")
    for y, label in ((0.93, "seed paper, secret"), (0.95, "bar, secret"), (0.98, "bar, cover")):
        ax.axhline(y, ls="--", lw=0.8, color="gray")
        ax.text(t[0], y + 0.002, label, fontsize=7, color="gray")
    ax.set_xlabel("training time on this CPU (minutes)")
    ax.set_ylabel("mean SSIM, evaluation photos, 256 px")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
