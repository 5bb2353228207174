"""Syndrome-trellis codes (Filler, Judas & Fridrich, "Minimizing additive distortion in steganography using
syndrome-trellis codes", IEEE TIFS 2011): a message embedded in the least significant bits of a cover at the least
total cost of the bits it changes.

The receiver computes the syndrome ``H·y`` of the stego's bits; ``H`` is banded, built from one ``h × w`` submatrix
``Ĥ`` repeated down its diagonal, so each message bit depends on ``w`` new cover bits and the ``h − 1`` blocks before
them. The sender's Viterbi search over the ``2^h`` partial syndromes finds the stego bits with that syndrome that
differ from the cover's where it costs least. Here the message is cut into equal segments, each with its own
trellis over its own run of cover bits, and all segments run side by side in NumPy: one pass of the Python loop per
cover bit of a segment, not per cover bit. No Python library for this is kept on PyPI (``pystcstego`` does not
build), so it is written out here; :func:`extract` is the whole receiver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HEIGHT = 7  # constraint height h: 128 trellis states; each extra row costs twice the time for about 1 % less cost
SEGMENT_BITS = 1024  # message bits per segment at most: a segment's trellis starts afresh (a small loss)


def submatrix(width: int, height: int = HEIGHT) -> np.ndarray:
    """``Ĥ``'s ``width`` columns, each an ``height``-bit integer with its first and last bits set (so every cover bit
    touches the message bit of its own block and the one ``h − 1`` blocks on), the rest from a fixed seed."""
    rng = np.random.default_rng(1000 * height + width)
    inner = rng.integers(0, 1 << max(height - 2, 0), width) << 1 if height > 2 else np.zeros(width, np.int64)
    return (inner | 1 | (1 << (height - 1))).astype(np.int64)


@dataclass(frozen=True)
class Layout:
    """How ``bits`` message bits sit in ``n`` cover bits: ``segments`` trellises of ``per_segment`` message bits, each
    over ``per_segment × width`` consecutive cover bits (the last ``n − used`` cover bits carry nothing)."""

    segments: int
    per_segment: int
    width: int

    @property
    def bits(self) -> int:
        return self.segments * self.per_segment

    @property
    def used(self) -> int:
        return self.bits * self.width

    @classmethod
    def of(cls, n: int, bits: int) -> Layout:
        """The layout of at most ``bits`` message bits (a multiple of 8) in ``n`` cover bits, one cover bit in two at
        least; a fixed function of ``n`` and ``bits``, so the receiver rebuilds it from the stego's size."""
        bits = min(bits, n // 2) // 8 * 8
        if bits < 8:
            raise ValueError(f"{n} cover bits cannot carry a message")
        segments = -(-bits // SEGMENT_BITS)
        per_segment = bits // segments // 8 * 8
        return cls(segments, per_segment, n // (segments * per_segment))


def embed(cover: np.ndarray, costs: np.ndarray, message: np.ndarray, layout: Layout) -> np.ndarray:
    """The stego bits (uint8, like ``cover``'s ``n`` bits) whose :func:`extract` is ``message`` (``layout.bits`` bits)
    at the least total ``costs`` (≥ 0, per cover bit) of the bits that differ from ``cover``. An infinite cost
    forbids a change; a message that cannot avoid one raises ValueError."""
    k, mb, w = layout.segments, layout.per_segment, layout.width
    x = cover[:layout.used].reshape(k, mb * w).astype(bool)
    rho = np.asarray(costs[:layout.used], np.float64).reshape(k, mb * w)
    msg = message.reshape(k, mb).astype(np.int64)
    cols = submatrix(w)
    states = 1 << HEIGHT
    idx = np.arange(states)
    cost = np.full((k, states), np.inf)
    cost[:, 0] = 0.0
    path = np.empty((mb * w, k, states // 8), np.uint8)  # each state's choice, packed: 16 bytes per cover bit
    half = 2 * np.arange(states // 2)
    segment = np.arange(k)
    rows = segment[:, None]
    for j in range(mb):
        for c in range(w):
            t = j * w + c
            keep = cost + np.where(x[:, t], rho[:, t], 0.0)[:, None]  # stego bit 0
            flip = cost[:, idx ^ cols[c]] + np.where(x[:, t], 0.0, rho[:, t])[:, None]  # stego bit 1
            choose = flip < keep
            path[t] = np.packbits(choose, axis=1)
            cost = np.where(choose, flip, keep)
        shifted = np.full_like(cost, np.inf)  # the block's message bit leaves the register
        shifted[:, :states // 2] = cost[rows, half[None, :] + msg[:, j:j + 1]]
        cost = shifted
    state = cost.argmin(1)
    if not np.isfinite(cost[segment, state]).all():
        raise ValueError("the message cannot be embedded without a forbidden change")
    y = np.empty((k, mb * w), np.uint8)
    for j in range(mb - 1, -1, -1):
        state = (state << 1) | msg[:, j]
        for c in range(w - 1, -1, -1):
            t = j * w + c
            bit = (path[t, segment, state >> 3] >> (7 - (state & 7)).astype(np.uint8)) & 1
            y[:, t] = bit
            state = np.where(bit, state ^ cols[c], state)
    out = np.asarray(cover, np.uint8).copy()
    out[:layout.used] = y.ravel()
    return out


def extract(stego: np.ndarray, layout: Layout) -> np.ndarray:
    """The message bits (uint8, ``layout.bits``) that the stego bits carry: their syndrome."""
    k, mb, w = layout.segments, layout.per_segment, layout.width
    y = stego[:layout.used].reshape(k, mb, w).astype(np.int64)
    cols = submatrix(w)
    out = np.zeros((k, mb), np.int64)
    for r in range(HEIGHT):  # a cover bit in block j' reaches message bit j' + r through row r of Ĥ
        row = (cols >> r) & 1
        out[:, r:] ^= (y[:, :mb - r] * row).sum(-1) & 1
    return out.ravel().astype(np.uint8)
