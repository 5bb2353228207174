"""Learned steganalysers, all trainable on this CPU at 128–256 px.

- ``cnn``: an XuNet-class network: a high-pass SRM filter bank in front (initialised with the classical SRM
  kernels, learnable), absolute value and truncation, then convolution, batch-norm and average-pooling stages with
  no pooling before the first stage, global average pooling and a linear score.
- ``srnet``: SRNet, the deep residual steganalyser with no pooling in its first seven layers, for longer training on
  larger crops than ``cnn``.
- ``reveal``: the seed paper's decoder-weights attack: the hider's own reveal network, frozen, turns the candidate
  into its "revealed" image; a small convolutional head classifies that.
- ``siamese``: twin ``cnn`` trunks over a known-clean reference image and the candidate; the head sees both
  embeddings and their difference.
- ``srm``: rich-model features and the FLD ensemble (see ``rich``), trained by ``fit`` instead of gradients.

Every detector returns one logit per image (higher = more likely stego) and runs fully convolutionally at any
size of at least ``MIN_SIDE`` px.
"""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

from ..errors import DeepStegoError
from .base import Detector
from .rich import RichDetector

MIN_SIDE = 32


def srm_kernels() -> torch.Tensor:
    """Six classical SRM residual kernels as 5×5 arrays: 1st and 2nd order (both directions), SQUARE 3×3, KV 5×5."""
    k = torch.zeros(6, 5, 5)
    k[0, 2, 2:4] = torch.tensor([-1.0, 1.0])
    k[1, 2:4, 2] = torch.tensor([-1.0, 1.0])
    k[2, 2, 1:4] = torch.tensor([1.0, -2.0, 1.0]) / 2
    k[3, 1:4, 2] = torch.tensor([1.0, -2.0, 1.0]) / 2
    k[4, 1:4, 1:4] = torch.tensor([[-1.0, 2, -1], [2, -4, 2], [-1, 2, -1]]) / 4
    k[5] = torch.tensor([[-1.0, 2, -2, 2, -1], [2, -6, 8, -6, 2], [-2, 8, -12, 8, -2],
                         [2, -6, 8, -6, 2], [-1, 2, -2, 2, -1]]) / 12
    return k


class SRMTrunk(nn.Module):
    """SRM front end (per colour channel) → |·| → truncation → four conv/BN/pool stages → global mean: 128 features."""

    def __init__(self, learnable_srm: bool = True, truncation: float = 3.0):
        super().__init__()
        kernels = srm_kernels()
        self.srm = nn.Conv2d(3, 3 * len(kernels), 5, padding=2, groups=3, bias=False)
        self.srm.weight.data.copy_(kernels.repeat(3, 1, 1).unsqueeze(1))
        self.srm.weight.requires_grad_(learnable_srm)
        self.truncation = truncation

        def stage(cin, cout, k, act):
            return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), act)

        self.stage1 = stage(3 * len(kernels), 16, 5, nn.Tanh())
        self.stage2 = stage(16, 32, 3, nn.Tanh())
        self.stage3 = stage(32, 64, 1, nn.ReLU())
        self.stage4 = stage(64, 128, 1, nn.ReLU())
        self.features = 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.srm(x * 255.0)  # residuals in 8-bit levels: one LSB change is ±1
        r = torch.clamp(r.abs(), max=self.truncation)
        y = self.stage1(r)  # no pooling before the first stage: the stego signal lives in single pixels
        y = F.avg_pool2d(self.stage2(y), 5, 2, 2)
        y = F.avg_pool2d(self.stage3(y), 5, 2, 2)
        y = F.avg_pool2d(self.stage4(y), 5, 2, 2)
        return y.mean(dim=(2, 3))


class CNNDetector(Detector):
    method = "cnn"

    def __init__(self, learnable_srm: bool = True, hider: str | None = None):
        super().__init__()
        self.config = {"learnable_srm": learnable_srm, "hider": hider}
        self.trunk = SRMTrunk(learnable_srm)
        self.head = nn.Linear(self.trunk.features, 1)

    def classify(self, z: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.trunk(z)).squeeze(1)


def _bn_conv(cin: int, cout: int, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class _SRNetLayer(nn.Module):
    """SRNet's layer types 2 (residual, full resolution) and 3 (residual, halving with an average pool)."""

    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.body = nn.Sequential(_bn_conv(cin, cout), _bn_conv(cout, cout, relu=False))
        self.down = down
        # the skip is a 1×1 convolution at stride 2, computed as every other pixel then a 1×1 convolution: the same
        # map and weights, but PyTorch 2.13's CPU backward of a strided 1×1 convolution on channels-last input
        # corrupts the heap (a segfault or "double free" on the project's AMD EPYC; tests/test_steganalysis.py)
        self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout)) if down else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.down:
            return x + self.body(x)
        return self.skip(x[:, :, ::2, ::2]) + F.avg_pool2d(self.body(x), 3, 2, 1)


class SRNetDetector(Detector):
    """SRNet (Boroumand, Chen & Fridrich 2019): twelve layers, the first seven at full resolution with no pooling,
    so the noise residual is learned rather than given by fixed filters; residual layers that halve the size after
    that; a global mean and a linear score. ``width`` scales every layer (1.0: the paper's 64, 16, …, 512
    channels; the default 0.5 trains at about 4× the speed on this CPU)."""

    method = "srnet"

    def __init__(self, width: float = 0.5, hider: str | None = None):
        super().__init__()
        self.config = {"width": width, "hider": hider}
        c = lambda n: max(4, int(round(n * width)))
        full, stages = c(16), [c(16), c(64), c(128), c(256)]
        self.front = nn.Sequential(_bn_conv(3, c(64)), _bn_conv(c(64), full),
                                   *[_SRNetLayer(full, full, down=False) for _ in range(5)])
        ins = [full] + stages[:-1]
        self.stages = nn.Sequential(*[_SRNetLayer(i, o, down=True) for i, o in zip(ins, stages)])
        self.last = nn.Sequential(_bn_conv(stages[-1], c(512)), _bn_conv(c(512), c(512), relu=False))
        self.head = nn.Linear(c(512), 1)

    def classify(self, z: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        y = self.last(self.stages(self.front((z - 0.5) * 4)))
        return self.head(y.mean(dim=(2, 3))).squeeze(1)


class RevealDetector(Detector):
    """The hider's frozen reveal network, then a small classifier head on what it reveals."""

    method = "reveal"

    def __init__(self, hider: str):
        super().__init__()
        import copy
        from pathlib import Path

        from ..core import load_model
        from .pairs import hider_model

        h = hider_model(hider)
        if Path(h.name).exists():  # a weights file: keep the detector usable from any folder
            hider = str(Path(h.name).resolve()) + h.suffix
        self.config = {"hider": hider}
        self.hider = copy.deepcopy(load_model(h.name))  # frozen here, untouched in the shared model cache
        for p in self.hider.parameters():
            p.requires_grad_(False)
        self.head = nn.Sequential(
            nn.Conv2d(6, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=2, padding=1), nn.ReLU())
        self.out = nn.Linear(64, 1)

    def train(self, mode: bool = True):
        super().train(mode)
        self.hider.eval()  # frozen, batch statistics included
        return self

    @torch.no_grad()
    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        m = self.hider.multiple
        h, w = x.shape[2] // m * m, x.shape[3] // m * m
        x = x[:, :, :h, :w]
        key = ()
        if self.hider.keyed:  # the analyst does not know the key: the reveal under a key of their own
            from ..keys import Key

            key = (self.hider.key_signs(Key.for_seed(0), h, w),)
        revealed = self.hider.decode(x, *key).float().clamp(0, 1)
        return torch.cat([revealed, x], 1)

    def classify(self, z: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        y = self.head(z - 0.5)
        return self.out(y.mean(dim=(2, 3))).squeeze(1)

    def state_dict(self, *args, **kwargs):
        # the hider is rebuilt from its name: store only the head
        return {k: v for k, v in super().state_dict(*args, **kwargs).items() if not k.startswith("hider.")}

    def load_state_dict(self, state, strict: bool = True, assign: bool = False):
        full = {f"hider.{k}": v for k, v in self.hider.state_dict().items()}
        full.update(state)
        return super().load_state_dict(full, strict=strict, assign=assign)


class SiameseDetector(Detector):
    """Twin SRM trunks over (known-clean reference, candidate): is the candidate stego?"""

    method = "siamese"
    needs_reference = True

    def __init__(self, learnable_srm: bool = True, hider: str | None = None):
        super().__init__()
        self.config = {"learnable_srm": learnable_srm, "hider": hider}
        self.trunk = SRMTrunk(learnable_srm)
        f = self.trunk.features
        self.head = nn.Sequential(nn.Linear(3 * f, 64), nn.ReLU(), nn.Linear(64, 1))

    def classify(self, z: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        if reference is None:
            raise DeepStegoError("the siamese detector needs a known-clean reference image (--reference)")
        a, b = self.trunk(reference), self.trunk(z)
        return self.head(torch.cat([a, b, (a - b).abs()], 1)).squeeze(1)


DETECTORS = {cls.method: cls for cls in (CNNDetector, SRNetDetector, RevealDetector, SiameseDetector, RichDetector)}


def create_detector(arch: str, **config) -> Detector:
    import inspect

    method = arch.removeprefix("detector-")
    if method not in DETECTORS:
        raise DeepStegoError(f"unknown detector {method!r}; choose from {', '.join(DETECTORS)}")
    known = set(inspect.signature(DETECTORS[method]).parameters)
    unknown = set(config) - known
    if unknown:
        raise DeepStegoError(f"{method} detector: unknown option(s) {', '.join(sorted(unknown))}")
    if method == "reveal" and not config.get("hider"):
        raise DeepStegoError("the reveal detector needs --hider (the hider whose reveal network it uses)")
    return DETECTORS[method](**config)
