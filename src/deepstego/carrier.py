"""The robust bit carrier: bits written into an image's luma where JPEG and H.264 keep them.

Each bit sets one low-frequency coefficient of an 8×8 block's orthonormal DCT of the luma (JPEG's own grid and
BT.601 luma) onto one of two interleaved lattices (dither modulation, Chen & Wornell's QIM): ``Δ·ℤ + d`` for 0,
``Δ·ℤ + d + Δ/2`` for 1. A re-encode that moves a coefficient by less than Δ/4 leaves the bit intact; the
error-correcting code of :mod:`deepstego.ecc` mends the rest. The change is added to R, G and B alike, so the
chroma is untouched.

A layout on JPEG's lattice (``jpeg=Q``, :data:`LAYOUT`) makes every Δ and every dither a multiple of the step a
quality-Q JPEG quantises that coefficient with: its lattice points are values such a JPEG stores exactly, so
writing the stego at Q, and re-saving it at Q, leaves them where they are (only 8-bit rounding and clipped colours
move a few), and a finer re-save moves them by at most half its own, smaller step, well inside Δ/4. Off that lattice (:data:`PIXEL_LAYOUT`, the carrier of the robust stego files deepstego
wrote before it moved onto JPEG's) the JPEG's own rounding moves each coefficient by up to half its step, so Δ must
be several times that step, which costs the cover more for each bit.

Which coefficients carry which bit, and every dither, come from a seed (the key's, for keyed hiding): without
it the lattice is unknown, which also keeps the coefficients' histogram free of the two visible lattices a public
dither would leave. A :class:`Layout` (coefficients per block ``k`` and step ``delta``) sets capacity against
visibility.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BLOCK = 8
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class Layout:
    """``k`` coefficients per ``block``×``block`` tile (the first ``k`` from zigzag position ``start``: 1, the first
    after DC, or 0, the DC itself, ``block`` × the tile's mean), lattice step ``delta`` (8-bit luma units,
    orthonormal DCT). Images use JPEG's 8×8 grid; larger tiles reach the low frequencies H.264 keeps."""

    k: int
    delta: float
    start: int = 1
    block: int = BLOCK
    jpeg: int | None = None  # on the lattice of a JPEG at this quality: each step the least even multiple of its
    #                          quantisation step that is at least ``delta``

    def capacity(self, height: int, width: int) -> int:
        """Bits an image of height×width pixels carries (whole tiles only)."""
        return (height // self.block) * (width // self.block) * self.k

    def quant(self) -> np.ndarray:
        """The JPEG quantisation step of each of the ``k`` positions (ones off JPEG's lattice)."""
        if self.jpeg is None:
            return np.ones(self.k)
        table = jpeg_luma_table(self.jpeg)
        return np.array([table[i, j] for i, j in _zigzag(self.block)[self.start:self.start + self.k]], np.float64)

    def steps(self) -> np.ndarray:
        """Each position's lattice step Δ."""
        if self.jpeg is None:
            return np.full(self.k, float(self.delta))
        q = self.quant()
        return q * np.maximum(2, 2 * np.ceil(self.delta / (2 * q)))


_IJG_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]).reshape(8, 8)


def jpeg_luma_table(quality: int) -> np.ndarray:
    """The 8×8 luma quantisation table libjpeg (and so Pillow) writes at ``quality``: the standard table scaled by
    IJG's rule, baseline-clamped."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((_IJG_LUMA * scale + 50) // 100, 1, 255)


#: 40 coefficients on the lattice of quality 90 (steps 8-34: 4× JPEG's step where that is 2 or 3, 2× elsewhere),
#: of which a robust hide uses those its blocks' texture can hide (:mod:`deepstego.robust`); the payload it gives
#: against 32 and 20: ``tools/robust_carrier.py --k 40 32 20`` (results/robust_carrier.txt)
LAYOUT = Layout(40, 8.0, jpeg=90)
#: the carrier of the robust stego files written before :data:`LAYOUT`, still read: 20 coefficients at step 14 off
#: JPEG's lattice
PIXEL_LAYOUT = Layout(20, 14.0)


@lru_cache(maxsize=4)
def _dct(size: int = BLOCK) -> np.ndarray:
    n = np.arange(size)
    m = np.cos(math.pi * (n[None, :] + 0.5) * n[:, None] / size) * math.sqrt(2 / size)
    m[0] /= math.sqrt(2)
    return m


@lru_cache(maxsize=4)
def _zigzag(size: int = BLOCK) -> list[tuple[int, int]]:
    cells = [(i, j) for i in range(size) for j in range(size)]
    return sorted(cells, key=lambda p: (p[0] + p[1], p[1] if (p[0] + p[1]) % 2 else p[0]))


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ LUMA


def _coefficients(y: np.ndarray, layout: Layout) -> np.ndarray:
    """Luma (H×W, whole tiles) → (tiles_y, tiles_x, k) DCT coefficients at the layout's zigzag positions."""
    h, w, n = *y.shape, layout.block
    b = (y - 128.0).reshape(h // n, n, w // n, n).transpose(0, 2, 1, 3)
    d = _dct(n)
    c = d @ b @ d.T  # per tile: D · B · Dᵀ
    idx = _zigzag(n)[layout.start:layout.start + layout.k]
    return c[:, :, [i for i, _ in idx], [j for _, j in idx]]


def _to_pixels(change: np.ndarray, layout: Layout) -> np.ndarray:
    """(tiles_y, tiles_x, k) coefficient changes → H×W luma change."""
    by, bx, n = *change.shape[:2], layout.block
    c = np.zeros((by, bx, n, n))
    idx = _zigzag(n)[layout.start:layout.start + layout.k]
    c[:, :, [i for i, _ in idx], [j for _, j in idx]] = change
    d = _dct(n)
    b = d.T @ c @ d
    return b.transpose(0, 2, 1, 3).reshape(by * n, bx * n)


@dataclass(frozen=True)
class _Plan:
    order: np.ndarray  # slot (flat index into blocks × k) of each bit
    dither: np.ndarray  # (blocks_y, blocks_x, k) in [0, step); on JPEG's lattice, multiples of JPEG's step


def _plan(seed: bytes, layout: Layout, height: int, width: int) -> _Plan:
    by, bx = height // layout.block, width // layout.block
    extra = "" if (layout.start, layout.block) == (1, BLOCK) else f"|{layout.start}|{layout.block}"
    extra += "" if layout.jpeg is None else f"|jpeg{layout.jpeg}"
    tag = f"|carrier|{layout.k}|{layout.delta}|{by}x{bx}{extra}".encode()
    rng = np.random.Generator(np.random.PCG64(list(hashlib.sha256(seed + tag).digest())))
    n = by * bx * layout.k
    order = rng.permutation(n)
    if layout.jpeg is None:
        return _Plan(order=order, dither=rng.random((by, bx, layout.k)) * layout.delta)
    q, steps = layout.quant(), layout.steps()  # dithers on JPEG's lattice too
    return _Plan(order=order, dither=np.floor(rng.random((by, bx, layout.k)) * (steps / q)) * q)


def slot_order(seed: bytes, layout: Layout, height: int, width: int) -> np.ndarray:
    """Bit i of :func:`embed` and :func:`extract` sits in slot ``slot_order(…)[i]`` (a flat index into blocks_y ×
    blocks_x × k)."""
    return _plan(seed, layout, height, width).order


def _read(c: np.ndarray, plan: _Plan, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients → (bits, confidence), both shaped like the plan's dither."""
    r = np.mod(c - plan.dither, layout.steps()) / layout.steps()  # 0 (or 1): a 0 bit; 0.5: a 1 bit
    dist = np.abs(r - 0.5)  # 0 for a 1 bit … 0.5 for a 0 bit
    return (dist < 0.25).astype(np.uint8), np.abs(dist - 0.25) * 4


def embed(image: np.ndarray, bits: np.ndarray, seed: bytes, layout: Layout, strength: np.ndarray | float = 1.0,
          passes: int = 3, channel=None, rounds: int = 0) -> np.ndarray:
    """Write ``bits`` (0/1, at most :meth:`Layout.capacity`; unused slots carry random bits) into an H×W×3 uint8
    image; returns the stego as uint8. ``strength`` (one value, one per block, or one per slot, in [0, 1]) moves each
    coefficient that fraction of the way to its lattice (distortion compensation): a weaker move costs the cover less
    and leaves the bit less certain, which the reveal's soft decoding sees; 0 leaves a slot as the cover has it. A
    few passes re-aim coefficients that 8-bit rounding and clipping moved. With a ``channel`` (an image → image
    function, such as a JPEG re-save), ``rounds`` more embeddings re-aim each fully written slot that the channel
    turned to the wrong bit by the amount it moved it, so that its output carries the bit."""
    h, w = image.shape[:2]
    hb, wb = h - h % layout.block, w - w % layout.block
    plan = _plan(seed, layout, h, w)
    cap = layout.capacity(h, w)
    if len(bits) > cap:
        raise ValueError(f"{len(bits)} bits do not fit in {cap}")
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed + b"|fill").digest()[:8], "little"))
    slots = rng.integers(0, 2, cap)
    slots[plan.order[:len(bits)]] = bits
    slots = slots.reshape(plan.dither.shape)
    steps = layout.steps()
    offset = plan.dither + slots * (steps / 2)

    alpha = np.asarray(strength, np.float64)
    alpha = np.broadcast_to(alpha[..., None] if alpha.ndim == 2 else alpha, plan.dither.shape)
    c0 = _coefficients(_luma(image[:hb, :wb]), layout)
    target = c0 + alpha * (np.round((c0 - offset) / steps) * steps + offset - c0)

    def write(aim: np.ndarray) -> np.ndarray:
        base = image.astype(np.float64)
        out = image
        for _ in range(passes):
            c = c0 if out is image else _coefficients(_luma(out[:hb, :wb]), layout)
            if np.abs(aim - c).max() < 0.5:
                break
            change = _to_pixels(aim - c, layout)
            base[:hb, :wb] = out[:hb, :wb].astype(np.float64) + change[..., None]
            out = np.clip(np.round(base), 0, 255).astype(np.uint8)
        return out

    aim, out = target, write(target)
    for _ in range(rounds if channel is not None else 0):
        c = _coefficients(_luma(channel(out)[:hb, :wb]), layout)
        wrong = (_read(c, plan, layout)[0] != slots) & (alpha >= 1)
        if not wrong.any():
            break
        aim = np.where(wrong, aim + (target - c), aim)
        out = write(aim)
    return out


def block_variance(image: np.ndarray) -> np.ndarray:
    """Each whole 8×8 block's luma variance (blocks_y × blocks_x): how much change the block hides."""
    h, w = image.shape[:2]
    y = _luma(image[:h - h % BLOCK, :w - w % BLOCK])
    return y.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).var(axis=(1, 3))


def extract(image: np.ndarray, seed: bytes, layout: Layout, n: int | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` bits a stego carries under ``layout`` (all of its capacity by default), and each bit's
    confidence in [0, 1] (0: the coefficient sits on the boundary between the two lattices)."""
    h, w = image.shape[:2]
    plan = _plan(seed, layout, h, w)
    c = _coefficients(_luma(image[:h - h % layout.block, :w - w % layout.block]), layout)
    bits, conf = _read(c, plan, layout)
    pick = plan.order[:layout.capacity(h, w) if n is None else n]
    return bits.ravel()[pick], conf.ravel()[pick]


# ---- video: smooth cells of the luma plane ----------------------------------------------------------------------

@dataclass(frozen=True)
class Cells:
    """The robust video carrier's layout: one bit per ``size``×``size`` cell of a frame's luma (Y) plane, on the
    cell's mean, lattice step ``step`` (8-bit Y levels). The change is spread over the cell and its neighbours by
    bilinear interpolation, so it has no edges for H.264's transform, its deblocking or SSIM to see (the figures
    through someone else's re-encode: ``tools/robust_figures.py --videos-only``)."""

    size: int = 12
    step: float = 8.0

    def shape(self, height: int, width: int) -> tuple[int, int]:
        return height // self.size, width // self.size


def cell_means(y: np.ndarray, size: int) -> np.ndarray:
    """Each whole size×size cell's mean of a 2-D plane."""
    by, bx = y.shape[0] // size, y.shape[1] // size
    return y[:by * size, :bx * size].reshape(by, size, bx, size).mean(axis=(1, 3), dtype=np.float64)


def _spread(change: np.ndarray, size: int, height: int, width: int) -> np.ndarray:
    """Per-cell changes → a smooth height×width change (bilinear between cell centres, held at the edges)."""
    import torch
    import torch.nn.functional as F

    up = F.interpolate(torch.from_numpy(change)[None, None], scale_factor=size, mode="bilinear",
                       align_corners=False)[0, 0].numpy()
    out = np.zeros((height, width))
    out[:up.shape[0], :up.shape[1]] = up
    if up.shape[0] < height:  # the strip below and right of the last whole cells follows its neighbour
        out[up.shape[0]:, :up.shape[1]] = up[-1:]
    if up.shape[1] < width:
        out[:, up.shape[1]:] = out[:, up.shape[1] - 1:up.shape[1]]
    return out


def embed_cells(y: np.ndarray, bits: np.ndarray, dither: np.ndarray, layout: Cells, passes: int = 8) -> np.ndarray:
    """Write one bit per cell (``bits`` and ``dither`` shaped like :meth:`Cells.shape`) into a uint8 Y plane: each
    cell's mean moves to the nearest point of its bit's lattice. The smooth change of one cell touches its
    neighbours' means, so a few passes re-aim all of them together."""
    offset = dither + bits * (layout.step / 2)
    c = cell_means(y, layout.size)
    target = np.round((c - offset) / layout.step) * layout.step + offset
    out = y
    for _ in range(passes):
        miss = target - c
        if np.abs(miss).max() < 0.05:
            break
        out = np.clip(np.round(out + _spread(miss, layout.size, *y.shape)), 0, 255).astype(np.uint8)
        c = cell_means(out, layout.size)
    return out


KAPPA_GAIN = 1.5


def read_cells(y: np.ndarray, dither: np.ndarray, layout: Cells) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's bit and its chance of being wrong, after removing the plane's common shift of level: a re-encode
    through RGB moves every cell alike (PyAV's direct yuv420p → RGB conversion darkens colourful frames by over a level),
    which the two lattices, folded onto one of half the step, show; a shift of more than a quarter step reads as its
    opposite. The chance comes from a von Mises model of where a cell's mean lands around its lattice point, its
    concentration κ fitted to the plane's own spread: a bit read at phase θ is wrong with odds exp(-2κ|cos θ|). The
    spread H.264 leaves has heavier tails than that model, which makes the fit too low: :data:`KAPPA_GAIN` brings
    the predicted error rates close to those seen on the bikes video through two crf-23 encodes (a factor chosen
    while building this carrier, not a measurement the repo repeats)."""
    phase = 2 * np.pi * (cell_means(y, layout.size) - dither) / layout.step
    folded = np.exp(2j * phase).mean()
    soft = np.cos(phase - np.angle(folded) / 2)
    kappa = KAPPA_GAIN * _concentration(min(abs(folded), 0.999))
    return (soft < 0).astype(np.uint8), np.clip(1 / (1 + np.exp(2 * kappa * np.abs(soft))), 1e-4, 0.5)


@lru_cache(maxsize=1)
def _von_mises_table() -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import ive

    kappa = np.linspace(0.01, 400, 40000)
    return ive(2, kappa) / ive(0, kappa), kappa  # E[cos 2θ] for each concentration, increasing


def _concentration(r2: float) -> float:
    """The von Mises concentration whose E[cos 2θ] is ``r2``."""
    r, kappa = _von_mises_table()
    return float(np.interp(r2, r, kappa))
