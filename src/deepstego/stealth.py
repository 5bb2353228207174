"""What makes a stego harder for a steganalyser to tell from a clean photo, as the hider's costs.

- :func:`residual_statistics`: what the rich-model steganalyser (``detect --method srm``) counts, made
  differentiable: co-occurrences of neighbouring quantised, truncated high-pass residuals of the luma (SRM's
  features, on soft bins). :func:`residual_statistics_penalty`, the L1 distance between a stego's and its cover's,
  is paid by a network's stealth dial (``--stealth --model NAME``) in its refinement and, with
  ``--residual-stats-weight``, by training.
- :func:`hill_cost`: HILL's embedding cost (Li et al. 2014): a high-pass residual, its local mean magnitude, its
  reciprocal, spread by a wide mean. Smooth regions cost much, textured ones little. Weighting the cover loss by
  it (``train --adaptive-cover``) lets the residual live where the cover is busy, as adaptive steganography does.
- :func:`capped`: the stealth dial's energy cap, the residual scaled down to a share of the network's RMS.
- :func:`hide_image` / :func:`reveal_image`: the stealth image hider (:data:`STEALTH_CODEC`, what ``hide
  --stealth`` uses unless ``--model`` names a network): the secret as a sealed AVIF of :data:`PAYLOAD` bits per
  colour value of the cover, written by ±1 changes where HILL's cost per colour plane is lowest, through
  syndrome-trellis codes (:mod:`deepstego.stc`) — adaptive steganography's classical design, which changes far fewer
  values, by one level each, than a network that carries a whole image.

What each buys against detectors trained afresh is measured in docs/steganalysis.md.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import limits, payload, stc
from .errors import DeepStegoError

STEALTH_ENERGY = 0.7  # a network's dial: the residual's RMS capped at this share of the network's
STEALTH_STATS = 0.3  # a network's dial: weight of the residual-statistics penalty in the refinement
STEALTH_STEPS = 30  # a capped residual needs more steps to find where the reveal network reads it best

HILL_KERNEL = torch.tensor([[-1.0, 2, -1], [2, -4, 2], [-1, 2, -1]]) / 4  # KB high-pass


def _luma(image: torch.Tensor) -> torch.Tensor:
    """N×3×H×W in [0, 1] → N×1×H×W BT.601 luma in 8-bit levels (0–255)."""
    weights = torch.tensor([0.299, 0.587, 0.114], device=image.device).view(1, 3, 1, 1)
    return (image.float() * weights).sum(1, keepdim=True) * 255


def hill_cost(cover: torch.Tensor) -> torch.Tensor:
    """N×1×H×W embedding cost of each pixel, normalised to mean 1 per image (from the cover's luma)."""
    luma = _luma(cover)
    r = F.conv2d(F.pad(luma, (1, 1, 1, 1), mode="reflect"), HILL_KERNEL.view(1, 1, 3, 3))
    r = F.avg_pool2d(F.pad(r.abs(), (1, 1, 1, 1), mode="reflect"), 3, 1)
    cost = F.avg_pool2d(F.pad(1 / (r + 1e-2), (7, 7, 7, 7), mode="reflect"), 15, 1)
    cost = cost.clamp(max=cost.flatten(1).quantile(0.99, dim=1).view(-1, 1, 1, 1))  # flat patches: bounded
    return cost / cost.mean(dim=(1, 2, 3), keepdim=True)


# SRM-style residual filters (first and second order, horizontal and vertical, and KB) and their quantisation steps
RESIDUAL_FILTERS = (
    (torch.tensor([[0.0, 0, 0], [0, -1, 1], [0, 0, 0]]), 1.0),
    (torch.tensor([[0.0, 0, 0], [0, -1, 0], [0, 1, 0]]), 1.0),
    (torch.tensor([[0.0, 0, 0], [1, -2, 1], [0, 0, 0]]), 2.0),
    (torch.tensor([[0.0, 1, 0], [0, -2, 0], [0, 1, 0]]), 2.0),
    (-4 * HILL_KERNEL, 4.0),
)
TRUNCATION = 2  # residuals clipped to -T..T after quantisation: 2T + 1 bins, as in SRM's T = 2 submodels


def residual_statistics(image: torch.Tensor) -> torch.Tensor:
    """N×F×(2T+1)² co-occurrence matrices of horizontally and vertically adjacent residuals of the 8-bit luma, for
    each of :data:`RESIDUAL_FILTERS` (soft, triangular bins: differentiable), each summing to 1."""
    kernels = torch.stack([k / q for k, q in RESIDUAL_FILTERS]).unsqueeze(1).to(image.device)
    r = F.conv2d(_luma(image), kernels)[..., 1:-1, 1:-1]  # N×F×H×W, away from the borders
    centres = torch.arange(-TRUNCATION, TRUNCATION + 1, dtype=r.dtype, device=r.device)
    bins = F.relu(1 - (r.clamp(-TRUNCATION, TRUNCATION).unsqueeze(-1) - centres).abs())  # N×F×H×W×B
    horizontal = torch.einsum("nfhwa,nfhwb->nfab", bins[..., :, :-1, :], bins[..., :, 1:, :])
    vertical = torch.einsum("nfhwa,nfhwb->nfab", bins[..., :-1, :, :], bins[..., 1:, :, :])
    co = (horizontal + vertical).flatten(2)
    return co / co.sum(-1, keepdim=True)


def residual_statistics_penalty(cover: torch.Tensor, stego: torch.Tensor,
                                cover_statistics: torch.Tensor | None = None) -> torch.Tensor:
    """Mean L1 distance (0..2) between the stego's and the cover's :func:`residual_statistics` (the cover's given
    as ``cover_statistics`` where a loop compares many stego images with one cover)."""
    if cover_statistics is None:
        with torch.no_grad():
            cover_statistics = residual_statistics(cover)
    return (residual_statistics(stego) - cover_statistics).abs().sum(-1).mean()


@dataclass(frozen=True)
class Stealth:
    """The stealth dial of a hide: ``energy``, the residual's cap as a share of the network's RMS (None: no cap),
    and ``stats``, the weight of :func:`residual_statistics_penalty` in the refinement."""

    energy: float | None = STEALTH_ENERGY
    stats: float = STEALTH_STATS

    def __post_init__(self):
        if self.energy is not None:
            object.__setattr__(self, "energy", limits.fraction("the stealth energy", self.energy))
        object.__setattr__(self, "stats", limits.share("the residual-statistics weight", self.stats, 1000.0))

    @classmethod
    def of(cls, value: "bool | float | Stealth | None") -> "Stealth | None":
        """``hide``'s ``stealth``: False/None → off, True → the defaults, a number → that energy cap."""
        if value is None or value is False:
            return None
        if isinstance(value, Stealth):
            return value
        return cls() if value is True else cls(energy=value)


def rms(residual: torch.Tensor) -> torch.Tensor:
    """N×1×1×1 root mean square of each image's residual."""
    return residual.float().pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()


def capped(residual: torch.Tensor, cap: torch.Tensor) -> torch.Tensor:
    """``residual`` scaled down (per image) to RMS ``cap`` where it is above it."""
    return residual * (cap / rms(residual).clamp(min=1e-12)).clamp(max=1.0)


# ---- the stealth image hider: a compressed secret in the least significant bits where the cover is busy -----------

STEALTH_CODEC = "avif-stc"
#: bits of sealed payload per colour value of the cover; part of the format (the reveal rebuilds the layout from
#: the stego's size and this share). Chosen by measurement: docs/steganalysis.md
PAYLOAD = 0.15
MAX_PIXELS = 1920 * 1080  # the trellis keeps 16 bytes per colour value: 100 MB at this size
MIN_BYTES = 64  # fewer bytes of AVIF than any secret decodes to something recognisable from
_KB = np.array([[-1.0, 2, -1], [2, -4, 2], [-1, 2, -1]])


def uses_codec(model, stealth) -> bool:
    """Whether a hide or reveal with ``stealth`` and ``model`` means the stealth image hider: ``stealth`` True (not a
    dial's energy or :class:`Stealth`) and no network named."""
    return stealth is True and (model is None or model == STEALTH_CODEC)


def hill_costs(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 → H×W×3 HILL cost of a ±1 change of each colour value (Li et al. 2014, on each colour plane: the
    KB high-pass residual's magnitude, its 3×3 mean, the reciprocal, its 15×15 mean)."""
    from scipy import ndimage

    out = np.empty(image.shape, np.float64)
    for c in range(image.shape[2]):
        r = np.abs(ndimage.convolve(image[..., c].astype(np.float64), _KB, mode="reflect"))
        out[..., c] = ndimage.uniform_filter(1 / (ndimage.uniform_filter(r, 3, mode="reflect") + 1e-3), 15,
                                             mode="reflect")
    return out


def _planes(image: np.ndarray) -> np.ndarray:
    """The colour values a stealth hide writes to: all three planes, or only the first of a grey image (R = G = B),
    whose stego must stay grey (independent changes per plane would colour it)."""
    grey = (image[..., 0] == image[..., 1]).all() and (image[..., 0] == image[..., 2]).all()
    return image[..., :1] if grey else image


def _layout(shape: tuple[int, ...]) -> stc.Layout:
    n = int(np.prod(shape))
    try:
        return stc.Layout.of(n, int(PAYLOAD * n))
    except ValueError:
        raise DeepStegoError(f"a {shape[1]}×{shape[0]} image is too small to hold a stealth-hidden secret") from None


def _order(key, n: int) -> np.ndarray:
    """The key's order of the cover's colour values: the trellis runs along it."""
    seed = (key or payload.PUBLIC).derive(b"stealth|order") + n.to_bytes(8, "big")
    return np.random.Generator(np.random.PCG64(list(hashlib.sha256(seed).digest()))).permutation(n)


def capacity(cover: np.ndarray) -> int:
    """Bytes of secret (AVIF) at most that a stealth hide puts in ``cover`` (H×W×3 uint8)."""
    return _layout(_planes(cover).shape).bits // 8 - payload.OVERHEAD


def hide_image(cover: np.ndarray, secret: np.ndarray, key=None) -> np.ndarray:
    """Hide ``secret`` (H×W×3 uint8, the cover's size) in ``cover``; returns the stego (uint8), to be saved
    losslessly. The secret becomes the best AVIF of at most :func:`capacity` bytes, sealed under ``key``
    (:func:`deepstego.payload.seal`: without a key, whitened with a public constant), and its bits are the
    syndrome of the least significant bits of the cover's colour values (of one plane, for a grey cover) taken in
    the key's order: the trellis changes those whose HILL cost is lowest, each by +1 or −1 at random (away from 0
    and 255)."""
    h, w = cover.shape[:2]
    if h * w > MAX_PIXELS:
        raise DeepStegoError(f"a stealth hide takes covers up to {MAX_PIXELS / 1e6:.1f} megapixels (1920×1080); "
                             f"this one is {w}×{h}: scale it down first")
    planes = _planes(cover)
    layout = _layout(planes.shape)
    room = layout.bits // 8 - payload.OVERHEAD
    too_small = f"a {w}×{h} cover is too small for a stealth hide (room for {max(room, 0)} bytes); use a larger cover"
    if room < MIN_BYTES:
        raise DeepStegoError(too_small)
    try:
        data = payload.compress(secret, room)
    except DeepStegoError:
        raise DeepStegoError(too_small) from None
    message = np.unpackbits(np.frombuffer(payload.seal(data, layout.bits // 8, key), np.uint8))
    flat = planes.reshape(-1)
    order = _order(key, flat.size)
    values = flat[order]
    bits = stc.embed(values & 1, hill_costs(planes).reshape(-1)[order], message, layout)
    changed = bits != (values & 1)
    old = values[changed].astype(np.int16)
    step = np.random.default_rng(secrets.randbits(64)).choice(np.array([-1, 1], np.int16), old.size)
    step = np.where(old == 0, 1, np.where(old == 255, -1, step))
    out = flat.copy()
    out[order[changed]] = (old + step).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(out.reshape(planes.shape), cover.shape))


def reveal_image(stego: np.ndarray, key=None) -> np.ndarray:
    """The secret a stealth hide put in ``stego`` under ``key``, at the stego's size; DeepStegoError when none is
    there (another key, another hider, or a changed file: the payload's tag does not match)."""
    h, w = stego.shape[:2]
    planes = _planes(stego)
    layout = _layout(planes.shape)
    flat = planes.reshape(-1)
    bits = stc.extract(flat[_order(key, flat.size)] & 1, layout)
    data = payload.open_frame(np.packbits(bits).tobytes(), key)
    if data is None:
        raise DeepStegoError("no stealth-hidden secret here under this key (a wrong key, a stego of another kind, or a "
                             "file changed since it was hidden: a stealth stego must stay lossless)")
    return payload.decompress(data, (w, h))
