"""720p hide and reveal speed of one model through the API's tensor path: one frame and four frames per call, with
glibc's default allocator thresholds and with freed memory kept (deepstego.precision.keep_freed_memory), each in
its own process, in one run.

    python tools/frame_speed.py [MODEL]        # default: the default model; fp32; median of 3 calls

What the video path's batch size and the allocator setting cost or buy on this CPU (`deepstego bench` measures
single frames only).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import torch


def child(model: str | None) -> None:
    from deepstego.core import hide_tensor, load_model, reveal_tensor

    net = load_model(model)
    for n in (1, 4):
        frames = torch.rand(n, 3, 720, 1280)
        hide_tensor(net, frames, frames, precision="fp32")  # warm-up: oneDNN picks its kernels
        hides, reveals = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            stego = hide_tensor(net, frames, frames, precision="fp32")
            t1 = time.perf_counter()
            reveal_tensor(net, stego, precision="fp32")
            hides.append(t1 - t0)
            reveals.append(time.perf_counter() - t1)
        print(f"  {n} frame(s) per call: hide {n / statistics.median(hides):.2f} frames/s, "
              f"reveal {n / statistics.median(reveals):.2f} frames/s", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2] if len(sys.argv) > 2 else None)
        sys.exit(0)
    for label, keep in (("glibc defaults", "0"), ("freed memory kept (the default)", "1")):
        print(label, flush=True)
        env = {**os.environ, "DEEPSTEGO_KEEP_FREED_MEMORY": keep}
        subprocess.run([sys.executable, __file__, "--child", *sys.argv[1:2]], env=env, check=True)
