"""Keys: a passphrase or key file turned once into key material, and the key-seeded mixing a keyed model applies
to its hidden sub-bands.

Key material is derived with scrypt (``hashlib.scrypt``, memory-hard) from the passphrase or the key file's bytes.
Nothing of the key, and no salt or marker, is written into a stego file: the salt is a fixed project constant,
which also means one precomputed dictionary serves against every deepstego user (a long passphrase or a key file
from ``deepstego keygen`` is the defence). The derived material seeds a SHAKE-256 stream of signs, two per
sub-band channel and carrier position, that define a per-position orthogonal map ``T = D2·M·D1`` (``M`` a fixed
9×9 orthonormal DCT, ``D1``, ``D2`` the key's ±1 diagonals). A keyed hider writes ``T·b`` where a keyless one
writes the code ``b``; the reveal network reads ``Tᵀ`` of the stego's sub-bands. With another key the reveal
network sees the code through a random orthogonal map at every position: nothing it was trained to read.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .errors import DeepStegoError

# scrypt cost: N = 2^17, r = 8 → 128 MiB of memory per guess; about 0.3 s a guess on this project’s 2-core CPU
# (tools/key_attacks.py measures it). Raising N doubles both; the values are part of the key format.
SCRYPT_N = 2**17
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM = 256 << 20
SALT = b"deepstego/key/v1"  # fixed: nothing may be stored in the stego, so there is no per-file salt
KEY_BYTES = 32
MAX_KEY_FILE = 1 << 20
ENV_VAR = "DEEPSTEGO_KEY"
BANDS = 9  # the dsnet carrier's high-pass sub-bands: 3 Haar bands × 3 colours


class Key:
    """Derived key material (never printed). Build with :meth:`from_passphrase`, :meth:`from_file` or
    :func:`resolve_key`."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes):
        if len(material) != KEY_BYTES:
            raise ValueError("key material must be 32 bytes")
        self._material = material

    @classmethod
    def from_passphrase(cls, secret: str | bytes) -> Key:
        data = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if not data:
            raise DeepStegoError("the key is empty")
        return cls(_derive(data))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Key:
        path = Path(path)
        try:
            size = path.stat().st_size
            if path.is_dir():
                raise DeepStegoError(f"{path}: is a folder, not a key file")
            if size > MAX_KEY_FILE:
                raise DeepStegoError(f"{path}: key file is {size / 1e6:.1f} MB; the limit is 1 MB")
            data = path.read_bytes()
        except FileNotFoundError:
            raise DeepStegoError(f"{path}: no such key file") from None
        except OSError as exc:
            raise DeepStegoError(f"{path}: cannot read the key file ({exc.strerror or exc})") from None
        data = data.rstrip(b"\r\n")  # the line end an editor or echo adds is not part of the key
        if not data.strip():
            raise DeepStegoError(f"{path}: the key file is empty")
        return cls(_derive(data))

    @classmethod
    def for_seed(cls, seed: int) -> Key:
        """A reproducible key for measurements (evaluation, benchmarks, detector data): never for real secrets."""
        return cls(hashlib.sha256(f"deepstego/measurement-key/{seed}".encode()).digest())

    def __repr__(self) -> str:
        return "Key(…)"

    def __eq__(self, other) -> bool:
        return isinstance(other, Key) and secrets.compare_digest(self._material, other._material)

    def __hash__(self) -> int:
        return hash(self._material)

    def derive(self, label: bytes) -> bytes:
        """32 bytes of key material for one purpose (``label``), independent of every other label's."""
        return hashlib.shake_256(self._material + b"|derive|" + label).digest(KEY_BYTES)

    def signs(self, height: int, width: int, rounds: int = 1) -> torch.Tensor:
        """1×(9·(rounds + 1))×height×width float ±1: the sign diagonals of :func:`mix` at every carrier position
        (a function of the key and the carrier grid's size only; the first 18 channels are the same for any
        ``rounds``)."""
        return _signs(self._material, height, width, rounds).clone()


@lru_cache(maxsize=8)
def _derive(data: bytes) -> bytes:
    return hashlib.scrypt(data, salt=SALT, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=SCRYPT_MAXMEM,
                          dklen=KEY_BYTES)


@lru_cache(maxsize=4)
def _signs(material: bytes, height: int, width: int, rounds: int) -> torch.Tensor:
    n = (rounds + 1) * BANDS * height * width
    stream = hashlib.shake_256(material + f"|signs|{height}x{width}".encode()).digest(math.ceil(n / 8))
    bits = np.unpackbits(np.frombuffer(stream, np.uint8))[:n].reshape(1, (rounds + 1) * BANDS, height, width)
    with torch.inference_mode(False):  # cached: usable later by refinement's autograd as well
        return torch.from_numpy(bits.astype(np.float32) * 2 - 1)


def random_signs(n: int, height: int, width: int, generator: torch.Generator | None = None,
                 rounds: int = 1) -> torch.Tensor:
    """n×(9·(rounds + 1))×height×width random ±1 signs: a fresh random key per example, for training and for
    attackers."""
    bits = torch.randint(0, 2, (n, (rounds + 1) * BANDS, height, width), generator=generator)
    return bits.float() * 2 - 1


def resolve_key(key=None, key_file: str | os.PathLike | None = None, *, env: bool = True) -> Key | None:
    """The key a command uses: ``key_file`` or ``key`` (a passphrase, raw bytes or a :class:`Key`), else the
    ``DEEPSTEGO_KEY`` environment variable (when ``env``); None when none is given. A key file's or the variable's
    final line end is not part of the key, so a file holding ``pass``, ``DEEPSTEGO_KEY=pass`` and ``--key pass``
    are one key."""
    if key_file is not None and key is not None:
        raise DeepStegoError("give either a key or a key file, not both")
    if key_file is not None:
        return Key.from_file(key_file)
    if isinstance(key, Key):
        return key
    if key is not None:
        if not isinstance(key, (str, bytes, bytearray)):
            raise DeepStegoError(f"a key is a passphrase (str), bytes or a deepstego Key, not {type(key).__name__}")
        return Key.from_passphrase(key)
    text = os.environ.get(ENV_VAR, "").rstrip("\r\n") if env else ""
    return Key.from_passphrase(text) if text else None  # set but empty counts as unset


def new_key_text() -> str:
    """A random 256-bit key as 64 hex digits, for a key file."""
    return secrets.token_hex(KEY_BYTES)


@lru_cache(maxsize=1)
def _mixing_matrix() -> torch.Tensor:
    """The orthonormal DCT-II of size 9: every mixed channel draws on all nine sub-band channels."""
    with torch.inference_mode(False):  # cached: a plain tensor, usable under autograd and inference alike
        k = torch.arange(BANDS, dtype=torch.float64)
        m = torch.cos(math.pi * (k[None, :] + 0.5) * k[:, None] / BANDS)
        m[0] /= math.sqrt(2)
        return (m * math.sqrt(2 / BANDS)).float()


def mix(bands: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """``T·b`` at every position: N×9×h×w sub-bands, N(or 1)×9(r + 1)×h×w signs → N×9×h×w, where
    ``T = D_r·M·…·D_1·M·D_0`` (an orthogonal map; r = 1: ``D2·M·D1``; more rounds bring the map at each position
    nearer a uniformly random rotation)."""
    m = _mixing_matrix().to(bands.device)
    x = signs[:, :BANDS] * bands
    for r in range(1, signs.shape[1] // BANDS):
        x = signs[:, r * BANDS:(r + 1) * BANDS] * torch.einsum("ij,njhw->nihw", m, x)
    return x


def unmix(bands: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """``Tᵀ·a``, the inverse of :func:`mix` with the same signs."""
    m = _mixing_matrix().to(bands.device)
    rounds = signs.shape[1] // BANDS - 1
    x = signs[:, rounds * BANDS:] * bands
    for r in range(rounds - 1, -1, -1):
        x = signs[:, r * BANDS:(r + 1) * BANDS] * torch.einsum("ji,njhw->nihw", m, x)
    return x
