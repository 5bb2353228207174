"""Error correction for the robust carrier: an irregular repeat-accumulate LDPC code, decoded by belief
propagation with each bit's own reliability.

The code is systematic: ``k`` information bits, then ``n - k`` parity bits from an accumulator over a sparse random
combination of them, so encoding is a sparse product and a running XOR. A fifth of the information bits enter eight
checks and the rest three (more at low rates): the irregular degrees carried 3 % more payload through two JPEG q90
re-saves than three checks for every bit.
Decoding hands the received bits and each bit's error probability (the carrier's: from how far its coefficient sat
from the lattice boundary) to the ``ldpc`` package's belief-propagation decoder; a bit of probability 1/2 is
punctured (it weighs nothing). The matrix is a
fixed function of (n, k): public, like the code of any modem; the key protects the payload, not the code.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import sparse

#: code rates a hide chooses from and a reveal tries, most redundant first
RATES = tuple(round(0.2 + 0.025 * i, 3) for i in range(31))  # 0.2 … 0.95
HIGH_DEGREE, HIGH_SHARE = 8, 0.2
#: a word of another code fails each check with probability 1/2: a rate is tried when its code's failed checks
#: fall this many standard deviations below that
MIN_CHECK_SCORE = 5.0


def info_bits(n: int, rate: float) -> int:
    """Information bits of a length-``n`` codeword at ``rate``, a whole number of bytes."""
    return int(n * rate) // 8 * 8


@lru_cache(maxsize=64)
def _matrices(n: int, k: int) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    m = n - k
    per_bit = max(3, round(2 * m / k))  # low rates need more checks per bit to give each check some information
    degree = max(per_bit, HIGH_DEGREE)
    rng = np.random.default_rng([n, k, 0x1DC])
    rows = rng.integers(0, m, (k, degree))
    while True:  # each bit's checks distinct: redraw the few rows that repeat a check
        s = np.sort(rows, axis=1)
        bad = (s[:, 1:] == s[:, :-1]).any(axis=1)
        if not bad.any():
            break
        rows[bad] = rng.integers(0, m, (int(bad.sum()), degree))
    used = np.arange(degree)[None, :] < np.where(np.arange(k) < int(k * HIGH_SHARE), degree, per_bit)[:, None]
    cols = np.broadcast_to(np.arange(k)[:, None], rows.shape)
    h1 = sparse.csr_matrix((np.ones(int(used.sum()), np.uint8), (rows[used], cols[used])), shape=(m, k))
    acc = sparse.diags([np.ones(m), np.ones(m - 1)], [0, -1], shape=(m, m), dtype=np.uint8)
    return h1, sparse.hstack([h1, acc]).tocsr()


def encode(bits: np.ndarray, n: int) -> np.ndarray:
    """``k`` information bits (0/1) → the length-``n`` codeword (the bits, then n - k parity bits)."""
    h1, _ = _matrices(n, len(bits))
    parity = np.cumsum((h1 @ bits.astype(np.int64)) % 2) % 2
    return np.concatenate([bits, parity]).astype(np.uint8)


def likely_rates(received: np.ndarray) -> list[float]:
    """The rates of :data:`RATES` whose code the received word may be of, likeliest first: a word of another
    code (or none) fails about half of a code's checks, one with a few percent of errors far fewer."""
    n = len(received)
    score = {}
    for rate in RATES:
        _, h = _matrices(n, info_bits(n, rate))
        failed = float(((h @ received.astype(np.int64)) % 2).mean())
        score[rate] = (0.5 - failed) * 2 * np.sqrt(h.shape[0])
    return sorted((r for r in RATES if score[r] > MIN_CHECK_SCORE), key=score.get, reverse=True)


def decode(received: np.ndarray, error: np.ndarray, k: int) -> np.ndarray | None:
    """The ``k`` information bits of a received codeword given each bit's chance of having flipped (at most 1/2),
    or None when belief propagation does not converge on a codeword (too many errors for this rate, or no codeword
    of this shape at all)."""
    from ldpc import BpDecoder

    n = len(received)
    _, h = _matrices(n, k)
    dec = BpDecoder(h, error_channel=np.asarray(error, np.float64).tolist(), max_iter=100, bp_method="product_sum",
                    input_vector_type="received_vector")
    out = dec.decode(received.astype(np.uint8))
    if not dec.converge:
        return None
    return np.asarray(out[:k], dtype=np.uint8)
