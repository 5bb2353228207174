"""Robust mode: stego files that survive sharing — JPEG images and H.264 video.

Images are hidden by default with :data:`ROBUST_CODEC` (:func:`hide_image`): the secret travels as sealed,
error-corrected bits (:mod:`deepstego.payload`, :mod:`deepstego.ecc`) in coefficients JPEG keeps
(:mod:`deepstego.carrier`). A robust *model* is a network trained through the lossy channel (``deepstego train
--channel``, :mod:`deepstego.channel`; its weights JSON says so in its recipe): the route for video, and for images
with ``--model``. Robust hides write ordinary lossy files (a JPEG at ``JPEG_QUALITY`` or a PNG; an H.264 yuv420p
MP4 at ``CRF``), and robust reveals read them, also after someone else re-encoded them.
"""

from __future__ import annotations

import hashlib
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


def quality(value, lattice: bool = True) -> int:
    """A robust stego JPEG's quality: for the robust image hider (``lattice``) 90 or finer, since its carrier sits
    on quality 90's lattice (a coarser JPEG would move its coefficients off it); for a robust network, 1-100."""
    return limits.count("--quality (a robust stego JPEG's quality)", value, VERIFY_QUALITY if lattice else 1, 100)


_quality = quality  # hide_image's argument of that name hides the function


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
    q = quality(jpeg_quality, lattice=False)  # the hide checked its own quality
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
COVER_SSIM = 0.9725  # a robust image hide spends the cover down to this SSIM (before any JPEG; the bar: 0.97)
_C2 = (0.03 * 255) ** 2  # SSIM's contrast constant: the noise a flat block hides is about this much variance
VERIFY_QUALITY = JPEG_QUALITY  # a hide checks that its payload survives JPEG re-saves at this quality (and 95)
#: robust image hides take covers up to 1080p: the time grows with the pixels (a 1920×1080 hide took 4 minutes on
#: 2 cores: results/robust_carrier.txt)
MAX_PIXELS = 1920 * 1080
#: texture thresholds a hide chooses from: a slot carries a bit when its lattice step is at most the threshold
#: times its block's texture weight (:meth:`_Frame.usable`); the hide writes its choice and its code rate in a header
THRESHOLDS = 2.0 * 1.022 ** np.arange(128)
#: code rates a hide chooses from, as a share of all the codeword's slots (the slots flat blocks leave unused are
#: punctured: the decoder gives them no weight)
CODE_RATES = 0.1 + 0.0125 * np.arange(64)
HEADER_BITS, HEADER_REPEAT = 13, 12  # 7 bits of threshold, 6 of rate, each in 12 slots of the smallest step
RATE_MARGIN = 0.85  # a hide starts at this share of the capacity it estimates, then tries lower rates
RATE_TRIES = 6
MIN_BLOCKS = 168  # fewer whole 8×8 blocks than any robust hide has written to (this carrier's need 128×128)
CLIMB_GAIN = 0.0005  # a hide tries a higher rate than one that decoded only if its AVIF gains this much SSIM


def uses_codec(model) -> bool:
    """Whether a robust hide or reveal with ``model`` means the codec route (the default: the robust image hider
    here, :mod:`deepstego.video.robust` for videos) rather than a network trained through the lossy channel."""
    return model is None or model == ROBUST_CODEC


def _jpeg(image: np.ndarray, *qualities: int) -> np.ndarray:
    """``image`` through Pillow JPEG saves at each of ``qualities`` in turn."""
    from .channel import jpeg_bytes

    for q in qualities:
        with Image.open(io.BytesIO(jpeg_bytes(image, q))) as im:
            image = np.asarray(im.convert("RGB"))
    return image


def _channels(q: int) -> tuple[tuple[int, ...], ...]:
    """What a hide whose stego JPEG has quality ``q`` must survive: re-saves at 95 (a finer re-save moves the
    coefficients off the lattice by up to half its own, smaller step: the hardest, so tried first) and at
    :data:`VERIFY_QUALITY`, and no re-save at all (the stego as hidden, or as a PNG: the re-aiming that makes the
    JPEGs right can leave a few of its own slots wrong)."""
    return (q, 95), (q, VERIFY_QUALITY), ()


def _cover_ssim(a: np.ndarray, b: np.ndarray) -> float:
    from .images import to_tensor
    from .metrics import ssim

    return float(ssim(to_tensor(a), to_tensor(b)).mean())


def error_probability(confidence: np.ndarray) -> np.ndarray:
    """A used slot's chance of reading the wrong bit given its confidence (0 on the lattice boundary, 1 on the
    lattice), for the decoder: 0.39 near 0, 0.037 at 0.45, 0.0024 at 0.85. Measured on the evaluation photos at
    256 px after a q90 and a q95 re-save (``python tools/robust_carrier.py``): 0.45, 0.056 and 0.0025, so it is a
    little hopeful below 0.5, where few slots sit (5 % of them)."""
    return np.clip(1 / (1 + np.exp(0.1 + 7.0 * confidence)), 0.001, 0.49)


class _Frame:
    """Where a robust hide's bits go in an image of one size under one seed: the header's bits, the codeword's
    bits, and which slots an image's texture lets carry a bit."""

    def __init__(self, seed: bytes, height: int, width: int):
        self.seed, self.layout = seed, carrier.LAYOUT
        self.shape = (height // carrier.BLOCK, width // carrier.BLOCK, self.layout.k)
        self.order = carrier.slot_order(seed, self.layout, height, width)
        steps = self.layout.steps()
        self.steps = steps[self.order % self.layout.k]  # each bit's lattice step
        # each slot's own jitter on the threshold: flat blocks all have weight 1, and without it every one of them
        # would take its slots of one step at the same threshold, a jump in the cover's SSIM no threshold could meet
        rng = np.random.default_rng(list(hashlib.sha256(seed + b"|jitter").digest()))
        self.steps_jittered = self.steps * np.exp(0.15 * (rng.random(len(self.order)) - 0.5))
        header = np.flatnonzero(self.steps == steps.min())[:HEADER_BITS * HEADER_REPEAT]
        self.header = np.zeros(len(self.order), bool)
        self.header[header] = True
        self.n = int((~self.header).sum())  # the codeword's length

    def usable(self, image: np.ndarray, threshold: float) -> np.ndarray:
        """Per bit: whether its slot carries one in ``image`` at ``threshold``: its step at most the threshold times
        its block's weight sqrt((variance + C2) / C2), so busy blocks carry more. The header always does."""
        weight = np.sqrt((carrier.block_variance(image) + _C2) / _C2).ravel()
        return self.header | (self.steps_jittered <= threshold * weight[self.order // self.layout.k])

    def bits(self, codeword: np.ndarray, threshold_i: int, rate_i: int) -> np.ndarray:
        out = np.zeros(len(self.order), np.uint8)
        value = (threshold_i << 6) | rate_i
        out[self.header] = np.tile((value >> np.arange(HEADER_BITS)[::-1]) & 1, HEADER_REPEAT)
        out[~self.header] = codeword
        return out

    def read_header(self, bits: np.ndarray, conf: np.ndarray) -> tuple[int, int]:
        votes = ((2.0 * bits[self.header] - 1) * conf[self.header]).reshape(HEADER_REPEAT, HEADER_BITS).sum(0)
        value = int(((votes > 0) << np.arange(HEADER_BITS)[::-1]).sum())
        return value >> 6, value & 63

    def write(self, cover: np.ndarray, bits: np.ndarray, threshold: float, q: int) -> np.ndarray:
        """The stego carrying ``bits`` in the slots :meth:`usable` allows, chosen as a reveal will see them: the
        selection is recomputed twice from the stego after a re-save, and the slots a re-save turns wrong are
        re-aimed twice (:func:`deepstego.carrier.embed`'s rounds)."""
        def resave(image: np.ndarray) -> np.ndarray:
            return _jpeg(image, q, VERIFY_QUALITY)

        use = self.usable(cover, threshold)
        for _ in range(2):
            stego = carrier.embed(cover, bits, self.seed, self.layout, self._strength(use))
            use = self.usable(resave(stego), threshold)
        return carrier.embed(cover, bits, self.seed, self.layout, self._strength(use), channel=resave, rounds=2)

    def _strength(self, use: np.ndarray) -> np.ndarray:
        out = np.zeros(len(self.order))
        out[self.order] = use
        return out.reshape(self.shape)

    def received(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """What a reveal reads: the codeword's bits, each one's chance of having flipped (1/2 for the slots the
        image's texture leaves unused: punctured) and the code's information length, from the header."""
        bits, conf = carrier.extract(image, self.seed, self.layout)
        threshold_i, rate_i = self.read_header(bits, conf)
        error = np.where(self.usable(image, THRESHOLDS[threshold_i]), error_probability(conf), 0.5)
        return bits[~self.header], error[~self.header], ecc.info_bits(self.n, CODE_RATES[rate_i])


def _threshold_index(frame: _Frame, cover: np.ndarray, q: int) -> int:
    """The largest of :data:`THRESHOLDS` whose stego (random bits) keeps :data:`COVER_SSIM`: by bisection, then up
    the next few while they still keep it (the cover's SSIM does not fall quite monotonically)."""
    bits = np.random.default_rng(0).integers(0, 2, len(frame.order)).astype(np.uint8)

    def keeps(i: int) -> bool:
        return _cover_ssim(cover, frame.write(cover, bits, THRESHOLDS[i], q)) >= COVER_SSIM

    lo, hi = 0, len(THRESHOLDS) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if keeps(mid) else (lo, mid - 1)
    for i in range(lo + 1, min(lo + 4, len(THRESHOLDS))):
        if keeps(i):
            lo = i
    return lo


def _decodes(frame: _Frame, stego: np.ndarray, frame_bits: np.ndarray, q: int) -> bool:
    for qualities in _channels(q):
        bits, error, k = frame.received(_jpeg(stego, *qualities))
        got = ecc.decode(bits, error, k) if k == len(frame_bits) else None
        if got is None or not np.array_equal(got, frame_bits):
            return False
    return True


def _rate_index(frame: _Frame, cover: np.ndarray, threshold_i: int, q: int) -> int:
    """Where in :data:`CODE_RATES` a hide starts: :data:`RATE_MARGIN` times the capacity for the soft decoder of the
    worst of :func:`_channels`, estimated from random bits (a sealed frame looks just as random)."""
    sent = np.random.default_rng(1).integers(0, 2, frame.n).astype(np.uint8)
    stego = frame.write(cover, frame.bits(sent, threshold_i, 0), THRESHOLDS[threshold_i], q)
    capacity = 1.0
    for qualities in _channels(q):
        got, p, _ = frame.received(_jpeg(stego, *qualities))
        llr = np.where(got == sent, 1.0, -1.0) * np.log((1 - p) / p)
        capacity = min(capacity, float(np.mean(1 - np.logaddexp(0, -llr) / np.log(2))))
    return int(np.searchsorted(CODE_RATES, RATE_MARGIN * capacity, side="right")) - 1


def hide_image(cover: np.ndarray, secret: np.ndarray, key=None, quality: int = VERIFY_QUALITY) -> np.ndarray:
    """Hide ``secret`` (H×W×3 uint8, the cover's size) in ``cover`` for lossy channels; returns the stego (uint8),
    to be saved as a JPEG at ``quality`` (at least 90) or a PNG.

    The cover's luma carries an LDPC-protected, sealed AVIF of the secret (:mod:`deepstego.carrier` on JPEG's
    lattice, :mod:`deepstego.ecc`, :mod:`deepstego.payload`) in the slots its blocks' texture hides, as many as keep
    the cover at SSIM :data:`COVER_SSIM`; the code rate is found by a local search from the capacity the hide
    estimates (down until one decodes, then up while the next decodes and its AVIF gains :data:`CLIMB_GAIN` SSIM):
    one whose payload the hide itself reads back after each of :func:`_channels`; the AVIF is the best that fits
    it."""
    q = _quality(quality)
    h, w = cover.shape[:2]
    if h * w > MAX_PIXELS:
        raise DeepStegoError(f"a robust image hide takes covers up to {MAX_PIXELS / 1e6:.1f} megapixels (1920×1080); "
                             f"this one is {w}×{h}: scale it down first")
    if min(h, w) < 128:
        raise DeepStegoError(f"a {w}×{h} cover is too small to carry a secret robustly; use one of at least 128×128")
    frame = _Frame((key or payload.PUBLIC).derive(b"carrier"), h, w)
    threshold_i = _threshold_index(frame, cover, q)
    start = _rate_index(frame, cover, threshold_i, q)
    avif_cache: dict = {}

    def secret_bytes(rate_i: int) -> bytes | None:
        k = ecc.info_bits(frame.n, CODE_RATES[rate_i])
        if k // 8 <= payload.OVERHEAD + 64:
            return None
        return payload.compress(secret, k // 8 - payload.OVERHEAD, avif_cache)

    def attempt(rate_i: int, data: bytes | None) -> np.ndarray | None:
        if data is None:
            return None
        k = ecc.info_bits(frame.n, CODE_RATES[rate_i])
        info = np.unpackbits(np.frombuffer(payload.seal(data, k // 8, key), np.uint8))
        stego = frame.write(cover, frame.bits(ecc.encode(info, frame.n), threshold_i, rate_i),
                            THRESHOLDS[threshold_i], q)
        return stego if _decodes(frame, stego, info, q) else None

    def gain(a: bytes, b: bytes) -> float:  # how much closer to the secret b decodes than a
        size = (w, h)
        return float(np.subtract(*(_cover_ssim(secret, payload.decompress(d, size)) for d in (b, a))))

    # the estimated rate, then lower ones, then the lowest; from the first that decodes, higher ones while they
    # decode and their AVIF is worth it (a large cover soon carries more than the secret needs, and each try
    # decodes the whole cover's code three times)
    for rate_i in sorted({*range(max(start, 0), max(start - RATE_TRIES, 0), -1), 0}, reverse=True):
        data = secret_bytes(rate_i)
        if (stego := attempt(rate_i, data)) is not None:
            up = rate_i + 1
            while up < len(CODE_RATES) and (more := secret_bytes(up)) is not None:
                if len(more) == len(data):  # the same AVIF: a higher rate would only add padding
                    up += 1
                    continue
                if gain(data, more) < CLIMB_GAIN or (better := attempt(up, more)) is None:
                    break
                rate_i, data, stego, up = up, more, better, up + 1
            return stego
    raise DeepStegoError("this cover cannot carry a secret robustly: even the most redundant code does not survive "
                         "a JPEG re-save (a very flat or saturated cover?); choose a more textured cover")


def _pixel_lattice_error(confidence: np.ndarray) -> np.ndarray:
    """:func:`error_probability` for :data:`deepstego.carrier.PIXEL_LAYOUT`: measured on the evaluation photos after
    two JPEG q90 re-saves, ≈ 0.4 at 0.05, 0.04 at 0.35 and 0.004 from 0.8 up."""
    return np.clip(0.5 * np.exp(-confidence / 0.2), 0.004, 0.49)


def _reveal_pixel_lattice(stego: np.ndarray, key) -> bytes | None:
    """The payload of a robust stego made before the carrier moved onto JPEG's lattice, or None."""
    n = carrier.PIXEL_LAYOUT.capacity(*stego.shape[:2])
    bits, conf = carrier.extract(stego, (key or payload.PUBLIC).derive(b"carrier"), carrier.PIXEL_LAYOUT, n)
    for rate in ecc.likely_rates(bits):
        info = ecc.decode(bits, _pixel_lattice_error(conf), ecc.info_bits(n, rate))
        data = None if info is None else payload.open_frame(np.packbits(info).tobytes(), key)
        if data is not None:
            return data
    return None


def reveal_image(stego: np.ndarray, key=None) -> np.ndarray:
    """The secret :func:`hide_image` put in ``stego`` (H×W×3 uint8, perhaps re-encoded since), at the stego's size.
    A wrong or missing key, or a file changed too much, is a :class:`DeepStegoError`: the payload's tag tells."""
    h, w = stego.shape[:2]
    data = None
    if (h // carrier.BLOCK) * (w // carrier.BLOCK) >= MIN_BLOCKS:
        bits, error, k = _Frame((key or payload.PUBLIC).derive(b"carrier"), h, w).received(stego)
        info = ecc.decode(bits, error, k) if k > 8 * payload.OVERHEAD else None
        data = None if info is None else payload.open_frame(np.packbits(info).tobytes(), key)
        if data is None:
            data = _reveal_pixel_lattice(stego, key)
    if data is not None:
        return payload.decompress(data, (w, h))
    raise DeepStegoError("no robust secret found: the key is wrong or missing (a keyed hide needs the same key), or "
                         "the image was changed too much since (resized, cropped, or re-encoded well below JPEG "
                         "quality 90)")
