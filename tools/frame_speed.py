"""720p hide and reveal speed of one model through the API's tensor path, one frame and four frames per call.

    python tools/frame_speed.py [MODEL]        # default: the default model; fp32

What the video path's batch size costs or buys on this CPU (`deepstego bench` measures single frames only).
"""

from __future__ import annotations

import sys
import time

import torch

from deepstego.core import hide_tensor, load_model, reveal_tensor

if __name__ == "__main__":
    net = load_model(sys.argv[1] if len(sys.argv) > 1 else None)
    for n in (1, 4):
        frames = torch.rand(n, 3, 720, 1280)
        hide_tensor(net, frames, frames, precision="fp32")  # warm-up: oneDNN picks its kernels
        t0 = time.perf_counter()
        stego = hide_tensor(net, frames, frames, precision="fp32")
        t1 = time.perf_counter()
        reveal_tensor(net, stego, precision="fp32")
        t2 = time.perf_counter()
        print(f"{n} frame(s) per call: hide {n / (t1 - t0):.2f} frames/s, reveal {n / (t2 - t1):.2f} frames/s")
