"""Network-pass speed and agreement of every inference backend, in one run (the figures in deepstego/backend.py and
the README's speed section).

    python tools/backend_speed.py [MODEL] → results/backend_speed.txt

For 256×256 and 1280×720, each precision and each installed backend: the first call (OpenVINO compiles then), the
mean of five later hide and reveal calls (network pass, one image), and the largest and mean difference of the stego
and of the reveal (of the same stego) from PyTorch's in 8-bit levels. For a model whose compiled graph is not the model
itself (a keyless dsnet's :class:`deepstego.models.dsnet.Folded`), also OpenVINO on the folded graph as it was
compiled before the runner rounded to 8 bits inside it and gave the hide the cover twice ("openvino, folded, rounded
after"), and on the model's own graph ("openvino, unfolded"), so each gain is measured in the same run.
"""

from __future__ import annotations

import copy
import sys
import time
from pathlib import Path

import torch

from deepstego import backend
from deepstego.backend import openvino_installed
from deepstego.core import DEFAULT_MODEL, hide_tensor, load_model, reveal_tensor
from deepstego.images import atomic_write, on_8bit_grid
from deepstego.models.dsnet import Folded
from deepstego.keys import Key
from deepstego.precision import machine

ROOT = Path(__file__).resolve().parent.parent


class Once(torch.nn.Module):
    """A folded graph whose hide reads the cover once (no ``residual`` for the runner to find)."""

    def __init__(self, folded: Folded):
        super().__init__()
        self.folded = folded

    def encode(self, cover, secret):
        return self.folded.encode(cover, secret)

    def decode(self, stego):
        return self.folded.decode(stego)


class RoundedAfter(backend.OpenVINORunner):
    """OpenVINO's float output, rounded to the 8-bit grid afterwards in PyTorch."""

    def _run(self, name, inputs, grid):
        out = super()._run(name, inputs, False)
        return on_8bit_grid(out) if grid else out


def timed(fn, reps: int = 5):
    t = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return out, first, (time.perf_counter() - t) / reps


def main(argv=None) -> None:
    name = (argv or sys.argv[1:] or [DEFAULT_MODEL])[0]
    model = load_model(name)
    key = Key.for_seed(0) if model.keyed else None
    backends = ["torch"] + (["openvino"] if openvino_installed() else [])
    models = {b: model for b in backends}
    if "openvino" in backends and model.inference_graph() is not model:
        before = models["openvino, folded, rounded after"] = copy.deepcopy(model)
        before.inference_graph = lambda: Once(Folded(before))
        backend._cache.setdefault(before, {})[("openvino", "bf16")] = RoundedAfter(before, "bf16")
        backend._cache[before][("openvino", "fp32")] = RoundedAfter(before, "fp32")
        unfolded = models["openvino, unfolded"] = copy.deepcopy(model)
        unfolded.inference_graph = lambda: unfolded
    m = machine()
    lines = [f"{name}, {m['cpu']}, {m['threads']} threads, native bf16: {m['native_bf16']}; one image per call",
             "| size | precision | backend | hide ms (first s) | reveal ms (first s) | pairs/s | stego / reveal "
             "vs torch, max (mean) levels |", "|---|---|---|---|---|---|---|"]
    torch.manual_seed(0)
    for h, w in ((256, 256), (720, 1280)):
        c, s = torch.rand(1, 3, h, w), torch.rand(1, 3, h, w)
        for prec in ("bf16", "fp32"):
            ref = None
            for label, net in models.items():
                on = label.split(",")[0]
                stego, fh, th = timed(lambda: hide_tensor(net, c, s, key=key, precision=prec, backend=on))
                source = stego if ref is None else ref[0]  # every backend reveals PyTorch's stego
                rev, fr, tr = timed(lambda: reveal_tensor(net, source, key=key, precision=prec, backend=on))
                ref = ref or (stego, rev)
                d = [((x - y).abs() * 255).round() for x, y in ((stego, ref[0]), (rev, ref[1]))]
                lines.append(f"| {w}×{h} | {prec} | {label} | {th * 1000:.0f} ({fh:.2f}) | {tr * 1000:.0f} "
                             f"({fr:.2f}) | {1 / (th + tr):.2f} | {d[0].max():.0f} ({d[0].mean():.3f}) / "
                             f"{d[1].max():.0f} ({d[1].mean():.3f}) |")
                print(lines[-1], flush=True)
    out = ROOT / "results" / "backend_speed.txt"
    atomic_write(out, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
