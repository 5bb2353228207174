"""``dsnet``: this project's CPU-first hider.

Pixel-unshuffle front ends fold each ``factor``×``factor`` block of pixels into channels, so every 3×3
convolution runs at 1/factor² of the pixels; plain residual blocks (fast on oneDNN, bf16 friendly, channels_last);
the hide network predicts a residual (stego = cover + δ) from the cover and the prepared secret. The reveal
network's first convolution runs in fp32 even under bf16 autocast: the hidden signal is a few 8-bit levels on top
of the cover, finer than bf16 can hold once mixed with it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F

from .. import keys
from .base import StegoModel
from .blocks import ResBlock, make_activation
from .registry import register_model


@dataclass
class DSNetConfig:
    width: int = 64
    factor: int = 2
    prep_blocks: int = 1
    hide_blocks: int = 3
    reveal_blocks: int = 3
    activation: str = "relu"
    noise: float = 0.0
    # "high": the hidden signal lives only in the Haar high-pass sub-bands of each factor×factor block (block means
    # stay the cover's) and the reveal network sees only those sub-bands; "all": every sub-band
    carrier: str = "high"
    # keyed: the code in the high-pass sub-bands goes through the key's orthogonal map (deepstego.keys.mix) and is
    # read back through its inverse; both networks see the cover's sub-bands as the key shows them
    keyed: bool = False
    # keyed only: residual blocks of a key-agnostic network that predicts the cover's sub-bands from the stego, so
    # the reveal network unmixes the stego minus that prediction (the code plus the prediction's error) instead of
    # the code plus the whole scrambled cover (0: no predictor)
    predictor_blocks: int = 0
    # keyed only, "sealed" code: the hide network sees the plain cover (not the key's view of it), its code is
    # scaled to one energy per position that a cover-only gain network sets, and then mixed by the key; the reveal
    # network also sees the plain stego. Under a key that is a random rotation at every position (mix_rounds ≥ 3),
    # the stego then depends on the secret only through what the key scrambles: nothing leaks by construction
    sealed: bool = False
    # sealed only, informed embedding: residual blocks of a network that writes the carrier change from the plain
    # cover and the key-mixed code (scaled to unit RMS), so the change can work against the cover's own sub-bands as
    # the reveal will read them. The secret still reaches the stego only through that mixed code, which under a
    # random key is a random direction whatever the secret: nothing leaks (0: the code times the gain alone)
    informed_blocks: int = 0
    # sealed only, host cancellation: the carrier change also takes away a share, set at every position by a
    # cover-only network, of the cover's sub-bands minus their key-agnostic prediction (the part of the cover the
    # reveal reads as noise; improved spread spectrum). A function of the cover alone: nothing of the secret
    cancel: bool = False
    # rounds of signs and DCT in the key's map (deepstego.keys.mix); 1: D2·M·D1
    mix_rounds: int = 1


def haar_matrix(factor: int) -> torch.Tensor:
    """Orthonormal 2-D Haar (Walsh–Hadamard) basis of a factor×factor block, row 0 the block mean."""
    h = torch.ones(1, 1)
    while h.shape[0] < factor:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    if h.shape[0] != factor:
        raise ValueError("a Haar carrier needs a power-of-two factor")
    return torch.kron(h, h) / factor


class Carrier(nn.Module):
    """Maps pixel-unshuffled channels (3 colours × factor² positions) to block sub-bands and back."""

    def __init__(self, factor: int):
        super().__init__()
        self.k = factor * factor
        self.register_buffer("basis", haar_matrix(factor), persistent=False)

    def analyse(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        return torch.einsum("bk,nckhw->nbchw", self.basis, x.float().view(n, 3, self.k, h, w))

    def high(self, x: torch.Tensor) -> torch.Tensor:
        """The high-pass sub-bands of pixel-unshuffled channels, N×3·(factor² − 1)×h×w (block means left out)."""
        return self.analyse(x)[:, 1:].flatten(1, 2)

    def synthesise(self, bands: torch.Tensor) -> torch.Tensor:
        n, _, _, h, w = bands.shape
        return torch.einsum("bk,nbchw->nckhw", self.basis, bands.float()).reshape(n, 3 * self.k, h, w)


class Prep(nn.Module):
    def __init__(self, c: DSNetConfig):
        super().__init__()
        self.factor = c.factor
        self.inp = nn.Conv2d(3 * c.factor**2, c.width, 3, padding=1)
        self.act = make_activation(c.activation)
        self.body = nn.Sequential(*[ResBlock(c.width, c.activation) for _ in range(c.prep_blocks)])

    def forward(self, secret: torch.Tensor) -> torch.Tensor:
        return self.body(self.act(self.inp(F.pixel_unshuffle(secret - 0.5, self.factor))))


class Gain(nn.Module):
    """A cover-only map at every carrier position, starting at ``start`` everywhere: the energy of the sealed code
    (RMS per sub-band channel, > 0), or with ``share`` the share of the cover's unpredicted sub-bands that the
    carrier change takes away (0 to 1)."""

    def __init__(self, c: DSNetConfig, start: float = 2 / 255, share: bool = False):
        super().__init__()
        self.inp = nn.Conv2d(3 * c.factor**2, 16, 3, padding=1)
        self.out = nn.Conv2d(16, 1, 3, padding=1)
        self.squash = torch.sigmoid if share else F.softplus
        nn.init.zeros_(self.out.weight)  # the inverse of the squashing function at ``start``
        nn.init.constant_(self.out.bias, math.log(start / (1 - start)) if share else math.log(math.expm1(start)))

    def forward(self, unshuffled: torch.Tensor) -> torch.Tensor:
        return self.squash(self.out(F.relu(self.inp(unshuffled))).float())


def unit_code(code: torch.Tensor) -> torch.Tensor:
    """``code`` scaled to unit RMS over its channels at every position: its energy then carries nothing of the
    secret."""
    return code * torch.rsqrt(code.pow(2).mean(1, keepdim=True) + 1e-8)


class Embed(nn.Module):
    """Informed embedding for the sealed code: a correction to the carrier change computed from the plain cover,
    the mixed unit code and (with ``cancel``) the cover's unpredicted sub-bands alone. Its last convolution starts
    at zero (the plain sealed code)."""

    def __init__(self, c: DSNetConfig):
        super().__init__()
        bands = 3 * (c.factor**2 - 1)
        self.inp = nn.Conv2d(3 * c.factor**2 + bands * (1 + c.cancel), c.width, 3, padding=1)
        self.act = make_activation(c.activation)
        self.body = nn.Sequential(*[ResBlock(c.width, c.activation) for _ in range(c.informed_blocks)])
        self.out = nn.Conv2d(c.width, bands, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, unshuffled: torch.Tensor, *bands: torch.Tensor) -> torch.Tensor:
        x = torch.cat([unshuffled, *(b.to(unshuffled.dtype) for b in bands)], dim=1)
        return self.out(self.body(self.act(self.inp(x)))).float()


class Hide(nn.Module):
    def __init__(self, c: DSNetConfig):
        super().__init__()
        self.factor = c.factor
        self.sealed = c.keyed and c.sealed
        self.gain = Gain(c) if self.sealed else None
        self.embed = Embed(c) if self.sealed and c.informed_blocks else None
        self.cancel = Gain(c, start=0.05, share=True) if self.sealed and c.cancel else None
        self.inp = nn.Conv2d(3 * c.factor**2 + c.width, c.width, 3, padding=1)
        self.act = make_activation(c.activation)
        self.body = nn.Sequential(*[ResBlock(c.width, c.activation) for _ in range(c.hide_blocks)])
        self.high = c.carrier == "high"
        self.carrier = Carrier(c.factor) if self.high else None
        self.bands = 3 * (c.factor**2 - 1) if self.high else 3 * c.factor**2
        self.out = nn.Conv2d(c.width, self.bands, 3, padding=1)

    def forward(self, cover: torch.Tensor, prepared: torch.Tensor, signs: torch.Tensor | None = None,
                predictor: nn.Module | None = None) -> torch.Tensor:
        """``predictor``: the reveal network's cover predictor, which host cancellation (``cancel``) needs."""
        plain = x = F.pixel_unshuffle(cover - 0.5, self.factor)
        if signs is not None and not self.sealed:  # the cover's sub-bands as the reveal network will see them
            x = keyed_view(self.carrier, x, signs).to(cover.dtype)
        x = torch.cat([x, prepared.to(cover.dtype)], dim=1)
        delta = self.out(self.body(self.act(self.inp(x)))).float()
        if self.high:
            n, _, h, w = delta.shape
            if signs is not None and self.sealed:
                delta = self.seal(plain, delta, signs, predictor)
            elif signs is not None:
                delta = keys.mix(delta, signs)
            bands = torch.cat([delta.new_zeros(n, 1, 3, h, w), delta.view(n, -1, 3, h, w)], dim=1)
            delta = self.carrier.synthesise(bands)
        return cover + F.pixel_shuffle(delta, self.factor)

    def seal(self, plain: torch.Tensor, code: torch.Tensor, signs: torch.Tensor,
             predictor: nn.Module | None) -> torch.Tensor:
        """The carrier change of a sealed code: the code at unit RMS per position, mixed by the key, then scaled by
        the cover's gain, less the cancelled share of the cover's unpredicted sub-bands, plus :class:`Embed`'s
        correction; each from the cover and that mixed code alone."""
        mixed = keys.mix(unit_code(code), signs)
        change, seen = self.gain(plain) * mixed, [mixed]
        if self.cancel is not None:
            unpredicted = self.carrier.high(plain) - predictor(plain)
            change = change - self.cancel(plain) * unpredicted
            seen.append(unpredicted)
        return change if self.embed is None else change + self.embed(plain, *seen)


def keyed_view(carrier: Carrier, x: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """Pixel-unshuffled channels with their high-pass sub-bands seen through ``Tᵀ`` (block means unchanged)."""
    bands = carrier.analyse(x)
    n, _, _, h, w = bands.shape
    high = keys.unmix(bands[:, 1:].flatten(1, 2), signs).view(n, -1, 3, h, w)
    return carrier.synthesise(torch.cat([bands[:, :1], high], dim=1))


class CoverPredictor(nn.Module):
    """Key-agnostic estimate of the cover's high-pass sub-bands from the whole stego (all sub-bands). Its last
    convolution starts at zero: an untrained predictor predicts nothing and leaves the reveal as it was."""

    def __init__(self, c: DSNetConfig):
        super().__init__()
        self.inp = nn.Conv2d(3 * c.factor**2, c.width, 3, padding=1)
        self.act = make_activation(c.activation)
        self.body = nn.Sequential(*[ResBlock(c.width, c.activation) for _ in range(c.predictor_blocks)])
        self.out = nn.Conv2d(c.width, 3 * (c.factor**2 - 1), 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, unshuffled: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(self.act(self.inp(unshuffled)))).float()


class Reveal(nn.Module):
    def __init__(self, c: DSNetConfig):
        super().__init__()
        self.factor = c.factor
        self.high = c.carrier == "high"
        self.carrier = Carrier(c.factor) if self.high else None
        self.predictor = CoverPredictor(c) if c.keyed and c.predictor_blocks else None
        self.context = c.keyed and c.sealed  # the plain stego beside the unmixed code
        bands = 3 * (c.factor**2 - 1) if self.high else 3 * c.factor**2
        self.inp = nn.Conv2d(bands + 3 * c.factor**2 * self.context, c.width, 3, padding=1)
        self.act = make_activation(c.activation)
        self.body = nn.Sequential(*[ResBlock(c.width, c.activation) for _ in range(c.reveal_blocks)])
        self.out = nn.Conv2d(c.width, 3 * c.factor**2, 3, padding=1)

    def forward(self, stego: torch.Tensor, signs: torch.Tensor | None = None) -> torch.Tensor:
        x = F.pixel_unshuffle(stego.float() - 0.5, self.factor)
        # under the caller's autocast: the prediction is far coarser than bf16's precision
        predicted = self.predictor(x) if signs is not None and self.predictor is not None else None
        with torch.autocast(stego.device.type, enabled=False):
            if self.high:  # the block means carry only the cover: leave them out
                high = self.carrier.high(x)
                if signs is not None:
                    high = keys.unmix(high if predicted is None else high - predicted, signs)
                x = torch.cat([high, x], dim=1) if self.context and signs is not None else high
            x = self.inp(x)
        y = self.out(self.body(self.act(x)))
        return F.pixel_shuffle(y.float(), self.factor) + 0.5


@register_model("dsnet", DSNetConfig, "CPU-first: pixel-unshuffle front end, residual blocks, stego = cover + δ")
class DSNet(StegoModel):
    def __init__(self, config: DSNetConfig):
        super().__init__(config)
        if config.factor < 1 or config.width < 1:
            raise ValueError("factor and width must be positive")
        if config.carrier not in ("high", "all"):
            raise ValueError("carrier must be 'high' or 'all'")
        if config.carrier == "high" and config.factor < 2:
            raise ValueError("a high-pass carrier needs factor >= 2")
        if config.keyed and (config.carrier != "high" or config.factor != 2):
            raise ValueError("a keyed dsnet needs the high-pass carrier at factor 2")
        if config.cancel and not (config.keyed and config.sealed and config.predictor_blocks):
            raise ValueError("host cancellation needs a sealed keyed code and a cover predictor")
        if config.mix_rounds < 1:
            raise ValueError("mix_rounds must be 1 or more")
        self.keyed = config.keyed
        self.key_rounds = config.mix_rounds
        self.multiple = config.factor
        # each 3×3 conv at 1/factor resolution widens the view by factor pixels per side; the longest path runs
        # through prep, hide (then the informed embedding) and the reveal (after the cover predictor)
        c = config
        n_convs = 5 + 2 * (c.hide_blocks + c.reveal_blocks + c.prep_blocks)
        if c.keyed and c.predictor_blocks:
            n_convs += 2 + 2 * c.predictor_blocks
        if c.keyed and c.sealed and c.informed_blocks:
            n_convs += 2 + 2 * c.informed_blocks
        self.receptive_radius = c.factor * n_convs
        self.train_noise = config.noise
        self.prep = Prep(config)
        self.hide = Hide(config)
        self.reveal = Reveal(config)

    def encode(self, cover: torch.Tensor, secret: torch.Tensor, signs: torch.Tensor | None = None) -> torch.Tensor:
        return self.hide(cover, self.prep(secret), self._signs(signs), self.reveal.predictor)

    def decode(self, stego: torch.Tensor, signs: torch.Tensor | None = None) -> torch.Tensor:
        return self.reveal(stego, self._signs(signs))

    def inference_graph(self) -> nn.Module:
        """The module whose passes a compiler traces: :class:`Folded` for a keyless dsnet."""
        return self if self.keyed else Folded(self)

    def _signs(self, signs: torch.Tensor | None) -> torch.Tensor | None:
        if self.keyed and signs is None:
            raise ValueError("a keyed model needs the key's signs")
        return signs if self.keyed else None


def strided_kernel(weight: torch.Tensor, factor: int) -> torch.Tensor:
    """The kernel of a 3×3 convolution (padding 1) over pixel-unshuffled channels as a 3·factor-wide convolution with
    stride ``factor`` (padding ``factor``) over the pixels themselves: the same output, no unshuffle."""
    o, ck = weight.shape[:2]
    c, f = ck // factor**2, factor
    return weight.reshape(o, c, f, f, 3, 3).permute(0, 1, 4, 2, 5, 3).reshape(o, c, 3 * f, 3 * f)


class Folded(nn.Module):
    """A keyless dsnet's two passes as a graph of convolutions alone, the same function up to float rounding: each
    pixel-unshuffle front end folded into its convolution (a 3·factor-wide one with stride factor over the pixels),
    the hide's Haar synthesis into its last convolution, the reveal's Haar analysis made a strided convolution of
    its own. The transposes that unshuffle and the Haar matrix products were a third of a hide's time in OpenVINO
    (``tools/backend_speed.py`` measures the gain). The folded kernels are copies taken at construction; the residual
    blocks and the other layers are ``model``'s own: build it afresh after changing the weights."""

    def __init__(self, model: DSNet):
        super().__init__()
        c, f = model.config, model.config.factor
        if model.keyed:  # the key's mixing sits between the Haar analysis and the convolutions
            raise ValueError("only a keyless dsnet folds")
        self.model, self.factor, self.cover_channels = model, f, 3 * f * f
        basis = model.hide.carrier.basis[1:] if c.carrier == "high" else None  # [band, position in the block]
        with torch.no_grad():
            # every pass reads its images in 8-bit levels less 127.5 (:meth:`levels`), so each first kernel is /255
            self.register_buffer("prep_kernel", strided_kernel(model.prep.inp.weight, f) / 255)
            cover_weight = model.hide.inp.weight[:, :self.cover_channels]
            self.register_buffer("cover_kernel", strided_kernel(cover_weight, f) / 255)
            out_w, out_b = model.hide.out.weight, model.hide.out.bias
            if basis is not None:  # the synthesis after the hide's last convolution
                out_w = torch.einsum("bk,bcihw->ckihw", basis, out_w.unflatten(0, (-1, 3))).flatten(0, 1)
                out_b = torch.einsum("bk,bc->ck", basis, out_b.unflatten(0, (-1, 3))).flatten()
            self.register_buffer("out_weight", out_w.clone())
            self.register_buffer("out_bias", out_b.clone())
            # the reveal's sub-bands as a factor-wide convolution with stride factor (the Haar weights ±1/factor are
            # exact in bf16, as are the levels): a compiler that runs convolutions in bf16 reads the hidden signal, a
            # few levels on top of the cover, as exactly as the model's own fp32 analysis does (sub-bands beyond
            # ±128 levels round to bf16 on their way on, as they did from that analysis). Folded into the next
            # convolution instead, the bf16 kernel would no longer cancel the block means exactly
            rows = basis if basis is not None else torch.eye(f * f)  # [sub-band, position in the block]
            bands = torch.einsum("bk,cd->bcdk", rows, torch.eye(3)).flatten(0, 1)  # [band·3 + colour, colour, k]
            if basis is None:  # the carrier "all" reads pixel_unshuffle's own order: colour·factor² + position
                bands = bands.unflatten(0, (-1, 3)).transpose(0, 1).flatten(0, 1)
            self.register_buffer("analysis", bands.reshape(-1, 3, f, f).clone())
            self.register_buffer("reveal_weight", model.reveal.inp.weight / 255)

    @staticmethod
    def levels(x: torch.Tensor) -> torch.Tensor:
        """[0, 1] pixels as 8-bit levels less 127.5: the model's ``x − 0.5`` times 255, exact in bf16 for 8-bit
        images (half-integers below 128)."""
        return x.float() * 255 - 127.5

    def _strided(self, x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return F.conv2d(self.levels(x), kernel, bias, stride=self.factor, padding=self.factor)

    def encode(self, cover: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
        return cover + self.residual(cover, secret)

    def residual(self, cover: torch.Tensor, secret: torch.Tensor) -> torch.Tensor:
        """What the hide adds to the cover."""
        m = self.model
        prepared = m.prep.body(m.prep.act(self._strided(secret, self.prep_kernel, m.prep.inp.bias)))
        h = self._strided(cover, self.cover_kernel, None) + F.conv2d(
            prepared, m.hide.inp.weight[:, self.cover_channels:], m.hide.inp.bias, padding=1)
        delta = F.conv2d(m.hide.body(m.hide.act(h)), self.out_weight, self.out_bias, padding=1)
        return F.pixel_shuffle(delta.float(), self.factor)

    def decode(self, stego: torch.Tensor) -> torch.Tensor:
        m = self.model
        bands = F.conv2d(self.levels(stego), self.analysis, stride=self.factor)
        x = F.conv2d(bands, self.reveal_weight, m.reveal.inp.bias, padding=1)
        return F.pixel_shuffle(m.reveal.out(m.reveal.body(m.reveal.act(x))).float(), self.factor) + 0.5


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    return scores.topk(k).indices.sort().values


def _out_norm(w: torch.Tensor) -> torch.Tensor:
    """Σ|w| per output channel of a convolution weight."""
    return w.abs().sum((1, 2, 3))


def _in_norm(w: torch.Tensor) -> torch.Tensor:
    """Σ|w| per input channel of a convolution weight."""
    return w.abs().sum((0, 2, 3))


@torch.no_grad()
def narrowed(model: DSNet, width: int) -> DSNet:
    """A copy of a trained dsnet with ``width`` channels instead of its own: structured pruning that keeps, in each
    of the prep, hide and reveal networks, the residual-stream channels with the largest weights into and out of
    them, and in each residual block the inner channels with the largest weights. A starting point for training a
    faster model (``deepstego train --init``, best with ``--teacher`` the original), not a finished one."""
    c = model.config
    if not 0 < width <= c.width:
        raise ValueError(f"width must be in 1..{c.width}")
    small = DSNet(DSNetConfig(**{**dataclasses.asdict(c), "width": width}))
    src, dst = model.state_dict(), small.state_dict()
    n_cover = 3 * c.factor**2  # hide.inp reads the unshuffled cover, then the prep network's stream
    keep = {}
    for net in ("prep", "hide", "reveal"):
        blocks = range(len(getattr(model, net).body))
        into = _out_norm(src[f"{net}.inp.weight"]) + sum(_out_norm(src[f"{net}.body.{i}.conv2.weight"]) for i in blocks)
        reader = src["hide.inp.weight"][:, n_cover:] if net == "prep" else src[f"{net}.out.weight"]
        out_of = _in_norm(reader) + sum(_in_norm(src[f"{net}.body.{i}.conv1.weight"]) for i in blocks)
        k = keep[net] = _top(into * out_of, width)
        dst[f"{net}.inp.weight"], dst[f"{net}.inp.bias"] = src[f"{net}.inp.weight"][k], src[f"{net}.inp.bias"][k]
        for i in blocks:
            p = f"{net}.body.{i}."
            inner = _top(_out_norm(src[p + "conv1.weight"]) * _in_norm(src[p + "conv2.weight"]), width)
            dst[p + "conv1.weight"] = src[p + "conv1.weight"][inner][:, k]
            dst[p + "conv1.bias"] = src[p + "conv1.bias"][inner]
            dst[p + "conv2.weight"] = src[p + "conv2.weight"][k][:, inner]
            dst[p + "conv2.bias"] = src[p + "conv2.bias"][k]
        if net != "prep":
            dst[f"{net}.out.weight"] = src[f"{net}.out.weight"][:, k]
            dst[f"{net}.out.bias"] = src[f"{net}.out.bias"]
    cols = torch.cat([torch.arange(n_cover), n_cover + keep["prep"]])
    dst["hide.inp.weight"] = src["hide.inp.weight"][keep["hide"]][:, cols]
    small.load_state_dict(dst, strict=True)
    return small.eval()


@torch.no_grad()
def with_blocks(model: DSNet, keep: dict[str, list[int]]) -> DSNet:
    """A copy of a keyless dsnet that keeps only the residual blocks listed per network (``{"prep": [], "hide": [0,
    1], "reveal": [0, 2, 5]}``; a network left out keeps all of its blocks): a shallower starting point for a faster
    model, as :func:`narrowed` gives a narrower one."""
    c = model.config
    if c.keyed:
        raise ValueError("only a keyless dsnet drops blocks")
    blocks = {net: list(range(len(getattr(model, net).body))) for net in ("prep", "hide", "reveal")}
    for net, ks in keep.items():
        if not set(ks) <= set(blocks[net]):
            raise ValueError(f"{net} has blocks 0..{len(blocks[net]) - 1}, not {ks}")
        blocks[net] = sorted(set(ks))
    small = DSNet(DSNetConfig(**{**dataclasses.asdict(c), **{f"{net}_blocks": len(ks) for net, ks in blocks.items()}}))
    state = {}
    for name, value in model.state_dict().items():
        net, part, *rest = name.split(".")
        if part == "body":
            if int(rest[0]) not in blocks[net]:
                continue
            name = ".".join([net, part, str(blocks[net].index(int(rest[0]))), *rest[1:]])
        state[name] = value
    small.load_state_dict(state, strict=True)
    return small.eval()
