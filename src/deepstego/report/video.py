"""Per-frame report of a hidden video: CSV of cover and secret SSIM/PSNR, the two SSIM-per-frame charts (as in the
seed's figures 10 and 11) and a comparison strip of a few frames. Secret figures come from frames revealed from
the saved stego file."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..core import network_and_key, reveal_tensor
from ..images import atomic_write, fit_letterbox
from ..metrics import psnr, ssim
from ..video.io import decode, probe
from ..video.pipeline import SecretTimeline
from .grid import comparison_grid


def frame_report(cover, secret, stego, out_dir, *, model=None, key=None, batch: int = 4, strip_frames: int = 4,
                 precision: str = "auto", revealed=None) -> dict:
    """Compare ``stego`` (a saved file) with ``cover`` and the secret frames revealed from it with ``secret``: by
    ``model``'s network, or, given ``revealed`` (a video file some other reveal wrote from the stego, such as the
    robust hider's, at the secret's own size), from that file's frames (``[]``: a reveal that gave nothing); a secret
    frame with no revealed frame counts as grey."""
    ci, si = probe(cover), probe(secret)
    net, key = (None, None) if revealed is not None else network_and_key(model, key)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timeline = SecretTimeline(si, *((si.width, si.height) if revealed is not None else (ci.width, ci.height)))
    shown = decode(revealed) if revealed else iter(())
    rows: list[dict] = []
    picks = set(np.linspace(0, max(0, min(ci.frames, si.frames) - 1), strip_frames).round().astype(int).tolist())
    strip: list[list[torch.Tensor]] = []
    pairs = zip(decode(cover), decode(stego))
    done = False
    while not done:
        chunk = []
        for (t, c), (_, s) in pairs:
            sec = timeline.at(t)
            if sec is None:
                done = True
                break
            chunk.append((c, sec, s))
            if len(chunk) == batch:
                break
        else:
            done = True
        if not chunk:
            break
        c, sec, st = (torch.from_numpy(np.stack([x[j] for x in chunk])).permute(0, 3, 1, 2).float() / 255
                      for j in range(3))
        if net is not None:
            rev = reveal_tensor(net, st, key=key, precision=precision)
        else:
            got = [next(shown, (None, None))[1] for _ in chunk]
            h, w = sec.shape[-2:]  # an H.264 file pads odd sides by one pixel
            rev = torch.stack([torch.from_numpy(np.ascontiguousarray(g[:h, :w])).permute(2, 0, 1).float() / 255
                               if g is not None and g.shape[0] >= h and g.shape[1] >= w
                               else torch.full_like(sec[0], 0.5) for g in got])
        cs, cp, ss, sp = ssim(c, st), psnr(c, st), ssim(sec, rev), psnr(sec, rev)
        for i in range(len(chunk)):
            n = len(rows)
            rows.append({"frame": n, "cover_ssim": float(cs[i]), "cover_psnr": float(cp[i]),
                         "secret_ssim": float(ss[i]), "secret_psnr": float(sp[i])})
            if n in picks:
                strip.append([_small(_fitted(x[i], c.shape[-2:])) for x in (c, sec, st, rev)])
    _write_csv(out_dir / "frames.csv", rows)
    _chart(out_dir / "cover_ssim.png", rows, "cover_ssim", "Cover vs stego: SSIM per frame")
    _chart(out_dir / "secret_ssim.png", rows, "secret_ssim", "Secret vs revealed (from the saved file): SSIM per frame")
    if strip:
        grid = comparison_grid(*[torch.stack([s[j] for s in strip]) for j in range(4)])
        atomic_write(out_dir / "strip.png", lambda tmp: Image.fromarray(grid).save(tmp, format="PNG"))
    keys = ("cover_ssim", "cover_psnr", "secret_ssim", "secret_psnr")
    summary = {"frames": len(rows), **{f"mean_{k}": float(np.mean([r[k] for r in rows])) for k in keys},
               **{f"min_{k}": float(np.min([r[k] for r in rows])) for k in keys}}
    return summary


def _fitted(t: torch.Tensor, size) -> torch.Tensor:
    """A frame on the cover's frame size for the strip (a secret at its own size letterboxed onto it)."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    rgb = t.mul(255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return torch.from_numpy(fit_letterbox(rgb, size[1], size[0])).permute(2, 0, 1).float() / 255


def _small(t: torch.Tensor, width: int = 320) -> torch.Tensor:
    h, w = t.shape[-2:]
    if w <= width:
        return t
    return torch.nn.functional.interpolate(t[None], size=(round(h * width / w), width), mode="area")[0]


def _write_csv(path: Path, rows: list[dict]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            for r in rows:
                w.writerow({k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write(path, write)


def _chart(path: Path, rows: list[dict], key: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    ax.plot([r["frame"] for r in rows], [r[key] for r in rows], lw=1.4, color="tab:blue" if "cover" in key else "tab:red")
    ax.set_xlabel("frame")
    ax.set_ylabel("SSIM")
    ax.set_title(title, fontsize=10)
    lo = min(r[key] for r in rows)
    ax.set_ylim(max(0.0, min(lo - 0.02, 0.9)), 1.0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
