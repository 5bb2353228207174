"""How fast could a dsnet be: 1280×720 hide + reveal (network pass) of dsnet shapes against the seed design, one run.

    python tools/arch_speed.py [--backend openvino] [--precision bf16] → results/arch_speed.txt

Untrained weights (speed does not depend on their values), one pair at a time, as ``deepstego bench`` times its
1280×720 column; the seed design is the shipped ``baluja-seed``. Ratios are against it, measured in the same run.
The question it answers: which shapes would put the default model at 40× the seed design (issue 18), before
anything is trained (docs/training.md, "On a GPU a third time").
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from deepstego.core import hide_tensor, load_model, reveal_tensor
from deepstego.models import create_model
from deepstego.precision import machine

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {  # name: dsnet options (dsnet-v2's shape first)
    "f2 w32 h3 r6 (dsnet-v2)": dict(width=32, factor=2, hide_blocks=3, reveal_blocks=6),
    "f2 w24 h3 r6": dict(width=24, factor=2, hide_blocks=3, reveal_blocks=6),
    "f2 w16 h3 r6": dict(width=16, factor=2, hide_blocks=3, reveal_blocks=6),
    "f2 w32 h3 r4": dict(width=32, factor=2, hide_blocks=3, reveal_blocks=4),
    "f2 w32 h2 r4": dict(width=32, factor=2, hide_blocks=2, reveal_blocks=4),
    "f2 w32 h2 r3": dict(width=32, factor=2, hide_blocks=2, reveal_blocks=3),
    "f2 w32 p0 h2 r3": dict(width=32, factor=2, prep_blocks=0, hide_blocks=2, reveal_blocks=3),
    "f2 w32 p0 h1 r2": dict(width=32, factor=2, prep_blocks=0, hide_blocks=1, reveal_blocks=2),
    "f4 w32 h3 r6": dict(width=32, factor=4, hide_blocks=3, reveal_blocks=6),
    "f4 w32 h2 r4": dict(width=32, factor=4, hide_blocks=2, reveal_blocks=4),
}


def rate(model, backend: str, precision: str, seconds: float) -> float:
    cover, secret = (torch.rand(1, 720, 1280, 3).permute(0, 3, 1, 2) for _ in range(2))  # channels-last, as frames

    def run():
        stego = hide_tensor(model, cover, secret, precision=precision, backend=backend, tile=4096)
        reveal_tensor(model, stego, precision=precision, backend=backend, tile=4096)

    run()  # compile and pick kernels
    n, t0 = 0, time.perf_counter()
    while n == 0 or time.perf_counter() - t0 < seconds:
        run()
        n += 1
    return n / (time.perf_counter() - t0)


def params(model) -> str:
    return f"{sum(q.numel() for q in model.parameters()) / 1e6:.2f} M"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", default="openvino", choices=["torch", "openvino"])
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    p.add_argument("--seconds", type=float, default=5.0, help="timing per shape")
    p.add_argument("--out", default=str(ROOT / "results" / "arch_speed.txt"))
    a = p.parse_args(argv)
    torch.manual_seed(0)
    seed_model = load_model("baluja-seed")
    seed = rate(seed_model, a.backend, a.precision, 2 * a.seconds)
    # the speed table's reference (deepstego bench): the seed design as its own code runs it, in PyTorch
    seed_torch = seed if a.backend == "torch" else rate(seed_model, "torch", a.precision, 2 * a.seconds)
    lines = [f"1280x720 hide + reveal, network pass, {a.backend} {a.precision}, untrained dsnet shapes; "
             f"{machine()['cpu']}, {torch.get_num_threads()} threads",
             "| shape (factor, width, prep (p1 unless named), hide and reveal blocks) | params | pairs/s "
             f"| × seed design ({a.backend}) | × seed design (torch) |",
             "|---|---|---|---|---|",
             f"| baluja-seed (the seed design), {a.backend} | {params(seed_model)} | {seed:.2f} | 1× "
             f"| {seed / seed_torch:.1f}× |"]
    if a.backend != "torch":
        lines.append(f"| baluja-seed, torch | | {seed_torch:.2f} | {seed_torch / seed:.1f}× | 1× |")
    print("\n".join(lines), flush=True)
    for name, opts in SHAPES.items():
        model = create_model("dsnet", **opts).eval().to(memory_format=torch.channels_last)
        r = rate(model, a.backend, a.precision, a.seconds)
        lines.append(f"| {name} | {params(model)} | {r:.2f} | {r / seed:.1f}× | {r / seed_torch:.1f}× |")
        print(lines[-1], flush=True)
    Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
