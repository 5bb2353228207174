"""Clean and stego examples for training and evaluating detectors, from any registered hider.

The photos are split by photo into two groups: clean examples are crops of the first group, stego examples hide
a secret (another photo of the second group) in a cover crop of the second group, so no photo is ever both a
clean example and a stego cover. Training uses the training photos, evaluation the development evaluation photos (never
trained on), so train and test never share a photo either. Stego images are rounded to the 8-bit grid: exactly
what a saved PNG holds.

A hider is a model name or weights path (see ``deepstego models``), optionally with ``+refine:STEPS`` (its stego
refined for that many steps, as ``deepstego hide`` does by default: ``dsnet-v4+refine:14``) and ``+stealth:ENERGY``
(the residual capped at that share of the network's) and ``+stats:WEIGHT`` (the residual-statistics penalty in the
refinement) — ``deepstego hide --stealth --model NAME`` is ``+stealth:0.7+stats:0.3`` — or ``lsb-random:RATE``:
LSB replacement of a random message at RATE bits per pixel and channel (the classical setting, e.g.
``lsb-random:0.5``), or ``avif-qim``: the robust image hider (each stego under its own key, as many users would
make it). Its users share JPEGs, so with it every example, clean or stego, is what a Pillow JPEG at quality 90
decodes to: a detector must tell the hider from the JPEG, not the JPEG from a PNG. ``avif-stc`` is the stealth
image hider (``hide --stealth``), each stego under its own key as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import PairSampler, PhotoBank
from ..errors import DeepStegoError
from ..images import to_tensor, to_uint8
from ..stealth import STEALTH_STEPS, Stealth
from .classical import lsb_embed

RANDOM_LSB = "lsb-random:"
ROBUST_CODEC = "avif-qim"  # deepstego.robust.ROBUST_CODEC (imported lazily: the robust hider pulls in the codecs)
STEALTH_CODEC = "avif-stc"  # deepstego.stealth.STEALTH_CODEC
REFINED = "+refine:"
STEALTH = "+stealth:"
STATS = "+stats:"


@dataclass(frozen=True)
class Hider:
    """A hider string taken apart: ``NAME[+refine:STEPS][+stealth:ENERGY][+stats:WEIGHT]``."""

    name: str
    refine: int = 0
    stealth: Stealth | None = None

    @property
    def suffix(self) -> str:
        dial = self.stealth
        return ((f"{REFINED}{self.refine}" if self.refine else "")
                + (f"{STEALTH}{dial.energy:g}" if dial and dial.energy is not None else "")
                + (f"{STATS}{dial.stats:g}" if dial and dial.stats else ""))


def hider_model(hider: str) -> Hider:
    """``NAME+refine:STEPS`` → Hider(NAME, STEPS); ``+stealth:ENERGY`` adds the stealth dial's cap and
    ``+stats:WEIGHT`` its residual-statistics penalty (each with :data:`~deepstego.stealth.STEALTH_STEPS` steps
    unless ``+refine`` says otherwise); a plain name → Hider(it). ``hide --stealth --model NAME`` is
    ``+stealth:0.7+stats:0.3``."""
    name, options = hider, {}
    while True:
        head, sep, value = name.rpartition("+")
        option, colon, number = value.partition(":")
        if not sep or not colon or f"+{option}:" not in (REFINED, STEALTH, STATS) or option in options:
            break
        try:
            options[option] = int(number) if option == "refine" else float(number)
        except ValueError:
            raise DeepStegoError(f"{hider!r}: expected NAME{REFINED}STEPS or NAME{STEALTH}ENERGY, e.g. "
                                 f"dsnet-v2{REFINED}50 or dsnet-v2{STEALTH}0.7") from None
        name = head
    if "stealth" not in options and "stats" not in options:
        return Hider(name, options.get("refine", 0))
    return Hider(name, options.get("refine", STEALTH_STEPS),
                 Stealth(energy=options.get("stealth"), stats=options.get("stats", 0.0)))


def split_groups(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Alternate photos (in name order) into the clean group and the cover group."""
    paths = sorted(paths, key=lambda p: p.name)
    if len(paths) < 4:
        raise DeepStegoError(f"detectors need at least 4 photos (2 clean, 2 covers); got {len(paths)}")
    return paths[0::2], paths[1::2]


def make_stego(hider: str, covers: torch.Tensor, secrets: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """N×3×H×W covers/secrets in [0, 1] → stego on the 8-bit grid, by ``hider``."""
    if hider.startswith(RANDOM_LSB):
        try:
            rate = float(hider[len(RANDOM_LSB):])
        except ValueError:
            raise DeepStegoError(f"{hider!r}: expected {RANDOM_LSB}RATE, e.g. {RANDOM_LSB}0.5") from None
        u8 = (covers * 255).round().to(torch.uint8).numpy()  # covers are on the 8-bit grid already
        return torch.from_numpy(lsb_embed(u8, rate, seed)).float() / 255
    from ..core import hide_tensor, load_model

    if hider == ROBUST_CODEC:
        return _robust_stego(covers, secrets, seed)
    if hider == STEALTH_CODEC:
        from ..stealth import hide_image

        return torch.cat([to_tensor(hide_image(to_uint8(c), to_uint8(s), key=example_key(seed, i)))
                          for i, (c, s) in enumerate(zip(covers, secrets))])

    h = hider_model(hider)
    model = load_model(h.name)
    # a keyed hider's stego under many keys, as many users would make it (the detector never learns one key)
    key = (lambda i: example_key(seed, i)) if model.keyed else (lambda i: None)
    out = [hide_tensor(model, c, s, key=key(i), refine=h.refine, stealth=h.stealth)
           for i, (c, s) in enumerate(zip(covers.split(16), secrets.split(16)))]
    return torch.cat(out).clone()  # a normal tensor, usable in training outside inference mode


def example_key(seed: int, i: int):
    """The measurement key of stego example ``i`` of a keyed hider's set ``seed``: every example its own key."""
    from ..keys import Key

    return Key.for_seed(seed * 100_000 + i)


def _robust_stego(covers: torch.Tensor, secrets: torch.Tensor, seed: int) -> torch.Tensor:
    """The robust hider's stego of each pair. A cover it refuses (too flat to carry anything) is replaced by the
    next one that carries, as a user would choose another cover: its stego exists only in covers with texture."""
    from ..robust import hide_image

    cs, ss = [to_uint8(c) for c in covers], [to_uint8(s) for s in secrets]
    out = []
    for i, s in enumerate(ss):
        for j in range(len(cs)):
            try:
                out.append(hide_image(cs[(i + j) % len(cs)], s, key=example_key(seed, i)))
                break
            except DeepStegoError:
                continue
        else:
            raise DeepStegoError("the robust image hider refused every cover crop: the photos are too flat")
    return torch.cat([to_tensor(a) for a in out])


def labelled_examples(hider: str, paths: list[Path], n: int, size: int, seed: int,
                      augment: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images, references, labels): n clean and n stego images (label 1), shuffled, each with a clean reference
    crop for the siamese detector. A reference comes from the same group as its image but another photo, so it
    says nothing about the label; a stego image's secret is another photo of the cover group."""
    clean_group, cover_group = split_groups(paths)
    sampler = PairSampler(PhotoBank(clean_group + cover_group), size, seed=seed, augment=augment)
    rng = np.random.default_rng(seed)
    a = len(clean_group)
    groups = (np.arange(a), np.arange(a, a + len(cover_group)))

    def crop(i: int) -> np.ndarray:
        return sampler._crop(sampler.bank.images[i])

    images, refs, secrets = [], [], []
    for label in (0, 1):
        for _ in range(n):
            i, j, k = rng.choice(groups[label], size=3, replace=len(groups[label]) < 3)
            if j == i:  # groups of two photos: the reference (and secret) are the other one
                j = k = groups[label][groups[label] != i][0]
            images.append(crop(i))
            refs.append(crop(j))
            if label:
                secrets.append(crop(k if k != i else j))
    to = lambda xs: torch.from_numpy(np.ascontiguousarray(np.stack(xs), dtype=np.float32)).permute(0, 3, 1, 2)
    x, r = to(images), to(refs)
    x[n:] = make_stego(hider, x[n:], to(secrets), seed)
    if hider == ROBUST_CODEC:  # shared as JPEGs: the clean photos too
        from ..channel import jpeg_round_trip
        from ..robust import JPEG_QUALITY

        x = jpeg_round_trip(x, JPEG_QUALITY)
    labels = torch.cat([torch.zeros(n), torch.ones(n)])
    order = torch.from_numpy(rng.permutation(2 * n))
    return x[order], r[order], labels[order]
