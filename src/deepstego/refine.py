"""Hide-time refinement: the stego's pixels adjusted by gradient descent against the model's fixed reveal network.

Images get :func:`refine_stego`, a dozen Adam steps from the network's stego. Video frames get
:class:`FrameRefiner`: one step now and then, within a share of the network pass's time, its correction carried from
frame to frame. The figures behind the constants are in docs/training.md.
"""

from __future__ import annotations

import math
import time

import torch

from .metrics import SSIMTo
from .models import StegoModel
from .models.blocks import quantize
from .precision import autocast
from .stealth import capped, residual_statistics, residual_statistics_penalty, rms

REFINE_STEPS = 14
REFINE_LR = 2e-3
REFINE_SECONDS = 45.0  # per image, tiles' network passes included: a 3000×2000 photo hides within a minute here
REFINE_BETAS = (0.5, 0.9)
REFINE_COVER_SSIM = 3.0  # weight of the cover's (1 − SSIM) term: SSIM is the figure the cover loses first
# keyed models: weight of the change the keyless reader's reveal sees (core.LEAK_READER, dsnet-v2) (:class:`Leak`); refinement otherwise writes
# a trace of the secret that they pick out (tools/key_attacks.py, docs/training.md)
REFINE_LEAK = 0.5
# video: refinement may take this multiple of the network pass's time; off by default, as within 1.0 (a hide at most
# twice as long) it does not pay on the test videos (tools/video_refine.py, docs/training.md)
VIDEO_REFINE_BUDGET = 0.0
VIDEO_REFINE_LR = 5e-4  # a step of 2e-3 moves every pixel by half a level at once: smooth secrets lose more than they gain
SCENE_CHANGE = 0.1  # mean absolute change of cover or secret (of 1) that drops the carried correction


class Leak:
    """What keyless reveal networks (``readers``) see of a stego, held where the network pass left it. The keyed
    network's stego shows them nothing of the secret; refinement steps taken for the keyed reveal alone write a trace
    they pick out (tools/key_attacks.py). The penalty is the L1 change of each reader's reveal from its reveal of
    the starting stego, so the steps go where those readers do not look."""

    def __init__(self, readers, start: torch.Tensor, precision: str):
        self.readers, self.precision = list(readers), precision
        with torch.no_grad():
            self.seen = [self._read(r, quantize(start, "round")).detach() for r in self.readers]

    def _read(self, reader, stored: torch.Tensor) -> torch.Tensor:
        with autocast(self.precision):
            return reader.decode(stored).float().clamp(0, 1)

    def __call__(self, stored: torch.Tensor) -> torch.Tensor:
        return sum((self._read(r, stored) - seen).abs().mean() for r, seen in zip(self.readers, self.seen))


def _loss(model: StegoModel, target: SSIMTo, cover: torch.Tensor, secret: torch.Tensor, x: torch.Tensor,
          key: tuple, precision: str, stats: float = 0.0, cover_statistics: torch.Tensor | None = None,
          leak: Leak | None = None) -> torch.Tensor:
    """L1 + SSIM distances of the 8-bit-rounded ``x`` to the cover and of its reveal to the secret; ``target``
    holds both references (cover and secret stacked along the batch); ``stats`` weighs the residual-statistics
    penalty against ``cover_statistics``; ``leak`` adds what keyless readers reveal (× :data:`REFINE_LEAK`)."""
    stored = quantize(x, "round")
    with autocast(precision):
        revealed = model.decode(stored, *key).float()
    sim = target(torch.cat([stored, revealed.clamp(0, 1)]))
    n = len(cover)
    loss = ((stored - cover).abs().mean() + REFINE_COVER_SSIM * (1 - sim[:n].mean())
            + (revealed - secret).abs().mean() + (1 - sim[n:].mean()))
    if leak is not None:
        loss = loss + REFINE_LEAK * leak(stored)
    return loss + stats * residual_statistics_penalty(cover, stored, cover_statistics) if stats else loss


def refine_stego(model: StegoModel, cover: torch.Tensor, secret: torch.Tensor, stego: torch.Tensor,
                 signs: torch.Tensor | None = None, *, steps: int = REFINE_STEPS, lr: float = REFINE_LR,
                 betas: tuple[float, float] = REFINE_BETAS, seconds: float | None = None, precision: str = "auto",
                 energy: float | None = None, stats: float = 0.0, readers=(), on_step=None) -> torch.Tensor:
    """Improve a stego image for this model's fixed reveal network by gradient descent on its pixels (the idea of
    Kishore et al., "Fixed Neural Network Steganography", ICLR 2022): Adam with a cosine-decayed step size
    minimises L1 + SSIM distances of stego to cover and of the reveal of the 8-bit-rounded stego (straight-through)
    to the secret. Only the image changes; the weights get no gradient. A keyed model refines against the reveal
    under its ``signs``; ``on_step()`` is called after each step (a progress bar).

    ``seconds`` caps the time: after each step the schedule is fitted to the steps that the time left allows at
    the last step's pace (at least one step in all). Adam runs with β₁ = 0.5: with a dozen steps, the default 0.9
    is still averaging the first gradients when the schedule ends (``tools/refine_steps.py`` measures both).

    ``energy`` (the stealth dial, 0 < energy ≤ 1) caps each image's residual, stego − cover, at that share of the
    network's residual RMS: the start and every step are scaled back inside it, so the refinement spends a smaller
    budget where the reveal network reads it best (it runs even with ``steps`` 0). ``stats`` > 0 adds the
    residual-statistics penalty (:func:`~deepstego.stealth.residual_statistics_penalty`, what the rich-model
    steganalyser counts) to the loss with that weight. ``readers`` (keyed models: ``core.LEAK_READER``)
    adds :class:`Leak`, so the steps that sharpen the keyed reveal do not write a trace those readers see."""
    cap = None if energy is None else energy * rms(stego - cover)
    if cap is not None:
        stego = cover + capped(stego - cover, cap)
    if steps <= 0:
        return stego
    key = () if signs is None else (signs,)
    with torch.inference_mode(False), torch.enable_grad():  # callable from inference code: clones are plain tensors
        cover, secret = cover.clone(), secret.clone()
        key = tuple(k.clone() for k in key)
        target = SSIMTo(torch.cat([cover, secret]))  # both SSIM terms in one blur, the references blurred once
        x = stego.detach().clone().requires_grad_(True)
        cover_statistics = residual_statistics(cover) if stats else None  # the cover's, once for every step
        leak = Leak(readers, x.detach(), precision) if readers else None
        opt = torch.optim.Adam([x], lr=lr, betas=betas)
        planned, step = steps, 0
        start = last = time.perf_counter()
        while step < planned:
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / planned))
            (x.grad,) = torch.autograd.grad(_loss(model, target, cover, secret, x, key, precision, stats,
                                                  cover_statistics, leak), [x])
            opt.step()
            if cap is not None:
                with torch.no_grad():
                    x.copy_(cover + capped(x - cover, cap))
            step += 1
            if seconds is not None:  # re-plan from the last step's time (the first one also pays for warm-up)
                now = time.perf_counter()
                planned = max(step, min(steps, step + int((seconds - (now - start)) / max(now - last, 1e-9))))
                last = now
            if on_step is not None:
                on_step()
    return x.detach()


class FrameRefiner:
    """Refinement for the frames of one video, within ``budget`` × the network pass's time.

    A dozen steps per frame would cost a dozen network passes, and the image recipe's large first steps lower the
    secret SSIM of frames the network already reveals well (smooth secrets). Neighbouring frames are alike, so the
    refinement runs as one slow optimisation along the video instead: each frame starts from its network stego plus
    the correction found for the frame before, Adam's moments carry over, and a frame gets one small step whenever
    the refinement's time so far is within ``budget`` of the network's; the frames in between get the carried
    correction alone. A scene change (cover or secret changing by more than :data:`SCENE_CHANGE` on average) starts
    afresh. Call it with each batch of frames in order; ``steps`` counts the frames that got a step. ``readers``: as
    for :func:`refine_stego`; each frame's step is held to what the readers reveal of that frame's network stego
    (:class:`Leak`), and pays for their passes out of the same budget."""

    def __init__(self, model: StegoModel, budget: float = VIDEO_REFINE_BUDGET, precision: str = "auto",
                 readers=()):
        self.model, self.budget, self.precision, self.readers = model, budget, precision, tuple(readers)
        self.network_seconds = self.refine_seconds = 0.0
        self.steps = 0
        self._delta = self._moments = self._last = None

    def __call__(self, cover: torch.Tensor, secret: torch.Tensor, stego: torch.Tensor, signs: torch.Tensor | None,
                 network_seconds: float) -> torch.Tensor:
        """N consecutive frames (N×3×H×W in [0, 1]) and the network's unrounded stego for them, which took
        ``network_seconds``; returns their refined stego (unrounded)."""
        self.network_seconds += network_seconds
        key = () if signs is None else (signs,)
        out = []
        for i in range(len(cover)):
            c, s, x = cover[i:i + 1], secret[i:i + 1], stego[i:i + 1].float()
            if self._last is not None and max(float((c - self._last[0]).abs().mean()),
                                              float((s - self._last[1]).abs().mean())) > SCENE_CHANGE:
                self._delta = self._moments = None
            self._last = (c, s)
            start = x
            if self._delta is not None:
                x = x + self._delta
            if self.refine_seconds <= self.budget * self.network_seconds:
                tick = time.perf_counter()
                x = self._step(c, s, x, key, start)
                if self.steps:  # the first step pays for autograd's warm-up, as the first network pass does for its own
                    self.refine_seconds += time.perf_counter() - tick
                self.steps += 1
                self._delta = x - start
            out.append(x)
        return torch.cat(out)

    def _step(self, cover, secret, x, key, start) -> torch.Tensor:
        with torch.inference_mode(False), torch.enable_grad():
            cover, secret = cover.clone(), secret.clone()
            key = tuple(k.clone() for k in key)
            x = x.clone().requires_grad_(True)
            opt = torch.optim.Adam([x], lr=VIDEO_REFINE_LR, betas=REFINE_BETAS)
            if self._moments is not None:
                opt.state[x] = self._moments
            target = SSIMTo(torch.cat([cover, secret]))
            leak = Leak(self.readers, start, self.precision) if self.readers else None
            loss = _loss(self.model, target, cover, secret, x, key, self.precision, leak=leak)
            (x.grad,) = torch.autograd.grad(loss, [x])
            opt.step()
            self._moments = opt.state[x]
        return x.detach()
