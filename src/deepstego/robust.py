"""Robust mode: stego files that survive sharing — JPEG images and H.264 video.

Images are hidden by default with :data:`ROBUST_CODEC` (:func:`hide_image`): the secret travels as sealed,
error-corrected bits (:mod:`deepstego.payload`, :mod:`deepstego.ecc`) in coefficients JPEG keeps
(:mod:`deepstego.carrier`). A robust *model* is a network trained through the lossy channel (``deepstego train
--channel``, :mod:`deepstego.channel`; its weights JSON says so in its recipe): the route for video, and for images
with ``--model``. Robust hides write ordinary lossy files (a JPEG at ``JPEG_QUALITY`` or a PNG; an H.264 yuv420p
MP4 at ``CRF``), and robust reveals read them, also after someone else re-encoded them.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from . import carrier, ecc, limits, payload
from .errors import DeepStegoError
from .images import atomic_write, save_png

ROBUST_MODEL = "dsnet-robust-v1"
JPEG_QUALITY = 90  # a robust image stego's JPEG quality unless told
CRF = 23  # a robust stego video's libx264 crf unless told
PRESET = "medium"  # libx264's own default: the file sizes a phone or an upload service would give
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LOSSLESS_IMAGE_FORMATS = ("PNG", "BMP", "TIFF", "PPM")


def is_robust(model) -> bool:
    """Whether ``model`` was trained through the lossy channel."""
    return bool(getattr(model, "meta", {}).get("recipe", {}).get("channel"))


def robust_model(model=None):
    """The model a robust hide or reveal uses: ``model`` (default :data:`ROBUST_MODEL`), refused unless it was
    trained for lossy channels."""
    from .core import load_model
    from .models.weights import shipped_weights

    if model is None and ROBUST_MODEL not in shipped_weights():
        raise DeepStegoError(f"robust video needs a network trained through the lossy channel ('deepstego train "
                             f"--channel'); none is shipped yet ({ROBUST_MODEL} is still in training): give its "
                             f"weights with --model")
    net = load_model(model or ROBUST_MODEL)
    if not is_robust(net):
        name = model if isinstance(model, (str, os.PathLike)) else net.arch
        raise DeepStegoError(f"{name} was not trained for lossy channels; robust mode needs a robust model such as "
                             f"{ROBUST_MODEL} (or weights from 'deepstego train --channel')")
    return net


def quality(value) -> int:
    return limits.count("--quality (JPEG quality)", value, 1, 100)


def crf(value) -> int:
    return limits.count("--crf (libx264 constant rate factor)", value, 0, 51)


def check_suffix(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DeepStegoError(f"{path}: a robust stego image is written as JPEG (.jpg, .jpeg) or PNG (.png)")
    return path


def save_stego(arr: np.ndarray, path: str | os.PathLike, jpeg_quality: int = JPEG_QUALITY) -> Path:
    """A robust image stego: a JPEG at ``jpeg_quality`` for .jpg/.jpeg, a PNG for .png; atomic."""
    path = check_suffix(path)
    if path.suffix.lower() == ".png":
        return save_png(arr, path)
    q = quality(jpeg_quality)
    try:
        return atomic_write(path, lambda tmp: Image.fromarray(arr, "RGB").save(tmp, format="JPEG", quality=q))
    except OSError as exc:
        raise DeepStegoError(f"{path}: cannot write ({exc.strerror or exc})") from None


def lossless_note(path: str | os.PathLike) -> str | None:
    """A warning for a robust reveal of a losslessly stored image: such a file is usually a non-robust stego, and
    the robust model reads nothing from those."""
    try:
        with Image.open(path) as im:
            kind = im.format
    except (OSError, ValueError):
        return None  # load_rgb says what is wrong with it
    if kind not in LOSSLESS_IMAGE_FORMATS:
        return None
    return (f"{path} is a lossless {kind} file: if a non-robust model hid it, the robust model reveals nothing of "
            "it (reveal it without --robust)")


# ---- the robust image hider: the secret as sealed, error-corrected bits in the cover's luma ----------------------

ROBUST_CODEC = "avif-qim"
COVER_SSIM = 0.975  # a robust image hide spends the cover down to this SSIM (before any JPEG) on the payload
_C2 = (0.03 * 255) ** 2  # SSIM's contrast constant: the noise a flat block hides is about this much variance
VERIFY_QUALITY = JPEG_QUALITY  # a hide checks that its payload survives two JPEG re-saves at this quality
#: robust image hides take covers up to 1080p: the time grows with the pixels (a 1024² hide took 40 s on 2 cores)
MAX_PIXELS = 1920 * 1080


def uses_codec(model) -> bool:
    """Whether a robust hide or reveal with ``model`` means the robust image hider (the default) rather than a
    network trained through the lossy channel."""
    return model is None or model == ROBUST_CODEC


def _jpeg(image: np.ndarray, *qualities: int) -> np.ndarray:
    """``image`` through Pillow JPEG saves at each of ``qualities`` in turn."""
    from .channel import jpeg_bytes

    for q in qualities:
        with Image.open(io.BytesIO(jpeg_bytes(image, q))) as im:
            image = np.asarray(im.convert("RGB"))
    return image


def _channels(q: int) -> tuple[tuple[int, int], ...]:
    """The re-saves a hide at stego quality ``q`` must survive: at ``q`` again and at 95 (a finer re-save moves a
    q90 JPEG's coefficients differently: with the first alone, 3 of the 9 evaluation photos failed at 95)."""
    return (q, q), (q, max(q, 95))


def _cover_ssim(a: np.ndarray, b: np.ndarray) -> float:
    from .images import to_tensor
    from .metrics import ssim

    return float(ssim(to_tensor(a), to_tensor(b)).mean())


def _strength(cover: np.ndarray, seed: bytes, n: int) -> np.ndarray:
    """Per-block embedding strength: proportional to sqrt(variance + C2) (busy blocks hide more), scaled by
    bisection so the stego keeps :data:`COVER_SSIM`."""
    weight = np.sqrt((carrier.block_variance(cover) + _C2) / _C2)
    bits = np.random.default_rng(0).integers(0, 2, n)
    lo, hi = 0.0, 1.0 / float(weight.min())  # hi: every block at full strength
    if _cover_ssim(cover, carrier.embed(cover, bits, seed, carrier.LAYOUT, np.clip(hi * weight, 0, 1))) >= COVER_SSIM:
        return np.ones_like(weight)
    for _ in range(7):
        mid = (lo + hi) / 2
        stego = carrier.embed(cover, bits, seed, carrier.LAYOUT, np.clip(mid * weight, 0, 1))
        lo, hi = (mid, hi) if _cover_ssim(cover, stego) >= COVER_SSIM else (lo, mid)
    return np.clip(lo * weight, 0, 1)


def _survives(cover: np.ndarray, frame_bits: np.ndarray, n: int, seed: bytes, strength, q: int = VERIFY_QUALITY
              ) -> np.ndarray | None:
    """The stego carrying ``frame_bits`` if its payload decodes after each of :func:`_channels`, else None."""
    stego = carrier.embed(cover, ecc.encode(frame_bits, n), seed, carrier.LAYOUT, strength)
    for qualities in _channels(q):
        bits, conf = carrier.extract(_jpeg(stego, *qualities), seed, carrier.LAYOUT, n)
        got = ecc.decode(bits, conf, len(frame_bits))
        if got is None or not np.array_equal(got, frame_bits):
            return None
    return stego


def _rate_index(cover: np.ndarray, n: int, seed: bytes, strength, q: int) -> int:
    """Where in :data:`deepstego.ecc.RATES` a hide starts: the capacity for the soft decoder of the worst of
    :func:`_channels`, estimated from random bits (a sealed frame looks just as random), times 0.93 — the code
    reached 0.93-0.98 of it on the evaluation photos. -1: not even the lowest rate."""
    sent = np.random.default_rng(1).integers(0, 2, n).astype(np.uint8)
    stego = carrier.embed(cover, sent, seed, carrier.LAYOUT, strength)
    capacity = 1.0
    for qualities in _channels(q):
        got, conf = carrier.extract(_jpeg(stego, *qualities), seed, carrier.LAYOUT, n)
        p = ecc.error_probability(conf)
        llr = np.where(got == sent, 1.0, -1.0) * np.log((1 - p) / p)
        capacity = min(capacity, float(np.mean(1 - np.logaddexp(0, -llr) / np.log(2))))
    return int(np.searchsorted(ecc.RATES, 0.93 * capacity, side="right")) - 1


def hide_image(cover: np.ndarray, secret: np.ndarray, key=None, quality: int = VERIFY_QUALITY) -> np.ndarray:
    """Hide ``secret`` (H×W×3 uint8, the cover's size) in ``cover`` for lossy channels; returns the stego (uint8).

    The cover's luma carries an LDPC-protected, sealed AVIF of the secret (:mod:`deepstego.carrier`,
    :mod:`deepstego.ecc`, :mod:`deepstego.payload`), spread by block texture so the cover keeps SSIM
    :data:`COVER_SSIM`; the code rate is the highest whose payload the hide itself reads back after each re-save of
    :func:`_channels` of a JPEG at ``quality`` (the stego's own, at most :data:`VERIFY_QUALITY`: a higher one loses
    less), and the AVIF the best that fits it."""
    q = min(quality, VERIFY_QUALITY)
    h, w = cover.shape[:2]
    n = carrier.LAYOUT.capacity(h, w)
    if h * w > MAX_PIXELS:
        raise DeepStegoError(f"a robust image hide takes covers up to {MAX_PIXELS / 1e6:.1f} megapixels (1920×1080); "
                             f"this one is {w}×{h}: scale it down first")
    if ecc.info_bits(n, ecc.RATES[0]) // 8 <= payload.OVERHEAD + 64:
        raise DeepStegoError(f"a {w}×{h} cover is too small to carry a secret robustly; use one of at least 128×128")
    seed = (key or payload.PUBLIC).derive(b"carrier")
    strength = _strength(cover, seed, n)
    start = _rate_index(cover, n, seed, strength, q)
    # the estimated rate, then up to two steps more redundant, then the most redundant of all
    tries = sorted({max(start - step, 0) for step in (0, 1, 2)} | {0}, reverse=True) if start >= 0 else []
    for i in tries:
        k = ecc.info_bits(n, ecc.RATES[i])
        frame = payload.seal(payload.compress(secret, k // 8 - payload.OVERHEAD), k // 8, key)
        stego = _survives(cover, np.unpackbits(np.frombuffer(frame, np.uint8)), n, seed, strength, q)
        if stego is not None:
            return stego
    raise DeepStegoError("this cover cannot carry a secret robustly: even the most redundant code does not survive "
                         "a JPEG re-save (a very flat or saturated cover?); choose a more textured cover")


def reveal_image(stego: np.ndarray, key=None) -> np.ndarray:
    """The secret :func:`hide_image` put in ``stego`` (H×W×3 uint8, perhaps re-encoded since), at the stego's size.
    A wrong or missing key, or a file changed too much, is a :class:`DeepStegoError`: the payload's tag tells."""
    h, w = stego.shape[:2]
    n = carrier.LAYOUT.capacity(h, w)
    bits, conf = carrier.extract(stego, (key or payload.PUBLIC).derive(b"carrier"), carrier.LAYOUT, n)
    for rate in ecc.likely_rates(bits):
        info = ecc.decode(bits, conf, ecc.info_bits(n, rate))
        data = None if info is None else payload.open_frame(np.packbits(info).tobytes(), key)
        if data is not None:
            return payload.decompress(data, (w, h))
    raise DeepStegoError("no robust secret found: the key is wrong or missing (a keyed hide needs the same key), or "
                         "the image was changed too much since (resized, cropped, or re-encoded well below JPEG "
                         "quality 90)")
