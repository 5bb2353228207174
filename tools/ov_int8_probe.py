"""What OpenVINO int8 (NNCF post-training quantization) buys dsnet-v2 and the seed design, one run.

    pip install nncf  # 3.4 here; not one of deepstego's requirements
    python tools/ov_int8_probe.py → results/ov_int8_probe.txt

Each pass quantized (hide, reveal, or one of them) is converted from PyTorch with a free height and width,
quantized by NNCF (int8 weights and activations at every convolution's input; the rest in bf16) on 128 pairs of
128-px crops of the training corpus (``data/photos``, sampled as dsnet-v2 was trained; for the reveal pass, the fp32
stego of those pairs on the 8-bit grid), then reshaped and compiled per frame size. Quality: evaluation photos at
256 px, stego on the 8-bit grid, network pass. Speed: 1280×720 hide + reveal as ``tools/arch_speed.py`` times it
(the seed design twice as long, as there), every row in this one run. ``results/ov_int8_probe.txt`` predates the
folded, channels-last graph (``dsnet.Folded``) that the OpenVINO runner now compiles for dsnet-v2; a rerun quantizes
that graph instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from deepstego import backend
from deepstego.core import hide_tensor, load_model, reveal_tensor
from deepstego.data.evalset import eval_photos
from deepstego.evaluate import centre_square
from deepstego.images import to_tensor
from deepstego.metrics import ssim
from deepstego.models import create_model
from deepstego.precision import machine
from arch_speed import rate  # tools/: the same 720p timing

ROOT = Path(__file__).resolve().parent.parent


def calibration(n: int = 128, size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    from deepstego.data.dataset import PairSampler, PhotoBank, list_images  # the training sampler

    return PairSampler(PhotoBank(list_images(ROOT / "data" / "photos")), size, seed=0, max_zoom=8).sample(n)


class Int8Runner(backend.OpenVINORunner):
    """OpenVINORunner whose passes are quantized once (free size) and reshaped for each input size."""

    def __init__(self, model, covers: torch.Tensor, secrets: torch.Tensor, passes=("encode", "decode")):
        super().__init__(model, "bf16")
        self.covers, self.secrets, self.passes, self._quantized = covers, secrets, passes, {}

    def _convert(self, name, inputs, free=False, grid=False):
        import nncf

        if name not in self.passes:
            return super()._convert(name, inputs, free, grid)
        if (name, grid) not in self._quantized:
            if name == "encode":
                samples = [(c[None], s[None]) for c, s in zip(self.covers, self.secrets)]
            else:
                with torch.no_grad():
                    stego = torch.round(self.model.encode(self.covers, self.secrets).clamp(0, 1) * 255) / 255
                samples = [(x[None],) for x in stego]
            model = super()._convert(name, samples[0], free=True, grid=grid)
            data = nncf.Dataset(samples, lambda xs: backend.arrays(name, xs, model))
            self._quantized[name, grid] = nncf.quantize(model, data, subset_size=len(samples))
        model = self._quantized[name, grid].clone()
        shapes = [backend._openvino().PartialShape(list(a.shape)) for a in backend.arrays(name, inputs, model)]
        model.reshape(dict(zip(model.inputs, shapes)))
        return model


def quality(model, photos) -> tuple[float, float]:
    covers = torch.cat(photos)
    secrets = torch.cat(photos[1:] + photos[:1])
    stego = hide_tensor(model, covers, secrets, backend="openvino", precision="bf16")
    revealed = reveal_tensor(model, stego, backend="openvino", precision="bf16")
    return float(ssim(covers, stego).mean()), float(ssim(secrets, revealed).mean())


def with_int8(model, covers, secrets, passes=("encode", "decode")):
    """``model``, whose OpenVINO bf16 runner is replaced by one with ``passes`` in int8."""
    backend._cache.setdefault(model, {})[("openvino", "bf16")] = Int8Runner(model, covers, secrets, passes)
    return model


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=8.0, help="timing per row")
    p.add_argument("--photos", type=int, default=0, help="evaluation photos (0: all)")
    p.add_argument("--out", default=str(ROOT / "results" / "ov_int8_probe.txt"))
    a = p.parse_args(argv)
    torch.manual_seed(0)
    cal_c, cal_s = calibration()
    photos = [to_tensor(centre_square(x, 256)) for x in eval_photos()]
    photos = photos[:a.photos] if a.photos else photos
    rows = [("baluja-seed", lambda: load_model("baluja-seed"), False),
            ("baluja-seed int8", lambda: with_int8(load_model("baluja-seed"), cal_c, cal_s), False),
            ("dsnet-v2", lambda: load_model("dsnet-v2"), True),
            ("dsnet-v2 int8", lambda: with_int8(load_model("dsnet-v2"), cal_c, cal_s), True),
            ("dsnet-v2 int8 hide, bf16 reveal", lambda: with_int8(load_model("dsnet-v2"), cal_c, cal_s, ("encode",)),
             True),
            ("dsnet-v2 bf16 hide, int8 reveal", lambda: with_int8(load_model("dsnet-v2"), cal_c, cal_s, ("decode",)),
             True),
            ("f2 w32 h2 r3 int8 (untrained)", lambda: with_int8(create_model(
                "dsnet", width=32, factor=2, hide_blocks=2, reveal_blocks=3).eval(), cal_c, cal_s), False)]
    lines = [f"1280x720 hide + reveal, network pass, openvino; {machine()['cpu']}, {torch.get_num_threads()} threads; "
             f"quality: {len(photos)} evaluation photos, 256 px, 8-bit stego",
             "| model | cover SSIM | secret SSIM | pairs/s | × seed design (bf16) |", "|---|---|---|---|---|"]
    print(lines[0], flush=True)
    seed = None
    for name, make, measure in rows:
        model = make().to(memory_format=torch.channels_last)
        q = quality(model, photos) if measure else None
        r = rate(model, "openvino", "bf16", a.seconds if seed else 2 * a.seconds)  # the slow first row: longer
        seed = seed or r
        cells = f"{q[0]:.4f} | {q[1]:.4f}" if q else "– | –"
        lines.append(f"| {name} | {cells} | {r:.2f} | {r / seed:.1f}× |")
        print(lines[-1], flush=True)
    Path(a.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
