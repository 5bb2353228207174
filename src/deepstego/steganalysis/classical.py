"""Classical attacks on LSB replacement: chi-square (Westfeld & Pfitzmann), Sample Pairs Analysis (from
``sealwatch``), RS analysis (which ``sealwatch`` lacks: written here after Fridrich, Goljan & Du 2001) and a fused
score. The chi-square test is written here too: ``sealwatch``'s uses 255 degrees of freedom whatever the number of
histogram pairs it keeps, which pushes images with narrow histograms towards "looks embedded".

Each attack runs on every colour channel and the estimates are averaged. SPA and RS estimate the embedding rate
(the fraction of pixels whose least significant bit carries message bits); the chi-square test gives the p-value
that the histogram matches a fully embedded image. The fused score is the median of the three, so a single attack
fooled by an image's content (chi-square on smooth images, for instance) cannot carry the verdict alone.

``sealwatch``'s SPA module is imported without the package's ``__init__`` (see ``sealwatch_parts``).
"""

from __future__ import annotations

import numpy as np

from ..errors import DeepStegoError
from . import sealwatch_parts

MIN_SIDE = 16
SUBTESTS = ("chi2_p", "spa_rate", "rs_rate")


def _sealwatch(attack: str):
    return sealwatch_parts.module(f"{attack}._attack")


def _channels(img: np.ndarray) -> list[np.ndarray]:
    if img.dtype != np.uint8:
        raise DeepStegoError("classical attacks need 8-bit images")
    if min(img.shape[:2]) < MIN_SIDE:
        raise DeepStegoError(f"the image is {img.shape[1]}x{img.shape[0]}; classical attacks need at least "
                             f"{MIN_SIDE} px a side")
    return [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]


def _chi_square_channel(ch: np.ndarray) -> float:
    from scipy.stats import chi2

    h = np.bincount(ch.ravel(), minlength=256).astype(np.float64)
    even, odd = h[0::2], h[1::2]
    expected = (even + odd) / 2  # LSB replacement of every pixel evens out each pair of values
    keep = expected > 4  # the usual validity rule for a chi-square cell
    if keep.sum() < 2:
        return 0.0
    stat = np.sum((even[keep] - expected[keep]) ** 2 / expected[keep])
    return float(chi2.sf(stat, int(keep.sum()) - 1))


def chi_square(img: np.ndarray) -> float:
    """Westfeld–Pfitzmann histogram attack: p-value of a fully LSB-embedded histogram (1 = looks embedded)."""
    return float(np.mean([_chi_square_channel(ch) for ch in _channels(img)]))


def spa(img: np.ndarray) -> float:
    """Sample Pairs Analysis (Dumitrescu, Wu & Memon): estimated embedding rate."""
    return float(np.clip(np.mean([_sealwatch("spa").attack(ch) for ch in _channels(img)]), 0.0, 1.0))


def _smoothness(groups: np.ndarray) -> np.ndarray:
    return np.abs(np.diff(groups, axis=-1)).sum(axis=-1)


def _rs_counts(x: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float]:
    """(R_M, S_M, R_-M, S_-M): fractions of regular and singular pixel groups under the flips F1 and F-1."""
    g = x[:, : x.shape[1] // 4 * 4].reshape(x.shape[0], -1, 4)
    f0 = _smoothness(g)
    pos = g ^ mask  # F1 on the masked pixels: 0↔1, 2↔3, …
    neg = np.where(mask.astype(bool), ((g + 1) ^ 1) - 1, g)  # F-1: -1↔0, 1↔2, …
    fp, fn = _smoothness(pos), _smoothness(neg)
    n = f0.size
    return (fp > f0).sum() / n, (fp < f0).sum() / n, (fn > f0).sum() / n, (fn < f0).sum() / n


def _rs_channel(ch: np.ndarray) -> float:
    x = ch.astype(np.int32)
    mask = np.array([0, 1, 1, 0], dtype=np.int32)
    r, s, rn, sn = _rs_counts(x, mask)
    r1, s1, rn1, sn1 = _rs_counts(x ^ 1, mask)  # the same counts with every LSB flipped
    d0, d1, dn0, dn1 = r - s, r1 - s1, rn - sn, rn1 - sn1
    a, b, c = 2 * (d1 + d0), dn0 - dn1 - d1 - 3 * d0, d0 - dn0
    if abs(a) < 1e-12:
        z = -c / b if abs(b) > 1e-12 else 0.0
    else:
        roots = np.roots([a, b, c])
        roots = roots[np.isreal(roots)].real
        if roots.size == 0:
            return 0.0
        z = roots[np.argmin(np.abs(roots))]
    rate = z / (z - 0.5) if abs(z - 0.5) > 1e-12 else 1.0
    return float(np.clip(rate, 0.0, 1.0))


def rs(img: np.ndarray) -> float:
    """RS analysis (Fridrich, Goljan & Du): estimated embedding rate from regular/singular group counts."""
    return float(np.mean([_rs_channel(ch) for ch in _channels(img)]))


def analyse(img: np.ndarray) -> dict:
    """All three attacks and the fused score (0–1, higher = more likely LSB stego)."""
    row = {"chi2_p": chi_square(img), "spa_rate": spa(img), "rs_rate": rs(img)}
    row["score"] = float(np.clip(np.median(list(row.values())), 0.0, 1.0))
    return row


def lsb_embed(img: np.ndarray, rate: float, seed: int = 0) -> np.ndarray:
    """LSB replacement of a random message at ``rate`` bits per pixel and channel (known-answer test data)."""
    rng = np.random.default_rng(seed)
    out = img.copy()
    chosen = rng.random(img.shape) < rate
    out[chosen] = (out[chosen] & 0xFE) | rng.integers(0, 2, int(chosen.sum()), dtype=np.uint8)
    return out
