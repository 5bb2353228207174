"""The robust mode's payload: a secret image as a few kilobytes of sealed bytes, and back.

The secret is compressed as an AVIF (AV1 intra, the densest still-image codec Pillow writes), at the highest
quality that fits the carrier's room, halved in size as often as needed when even the lowest quality does not fit.
The AVIF's fixed-layout header is deflated against a preset dictionary (about 250 of its ~270 bytes go), which
matters when the whole file is two or three kilobytes.

A frame is ``nonce (8) ‖ E(length (3) ‖ data ‖ padding) ‖ tag (8)``: E is a SHAKE-256 keystream seeded by the key
and the random nonce (a fresh nonce per hide, so one key never reuses a keystream), the tag a keyed BLAKE2b over
nonce and ciphertext. Without a key the same is done with a public constant, so a keyless payload is only
whitened, not protected. Every byte of a frame looks random; nothing in it names the tool or the key. A wrong
key fails the tag: :func:`open_frame` returns None rather than noise.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import zlib

import numpy as np
from PIL import Image

from .errors import DeepStegoError
from .keys import Key

NONCE = 8
TAG = 8
LENGTH = 3
OVERHEAD = NONCE + TAG + LENGTH
AVIF_SPEED = 4  # libavif: 1 % larger files than its slowest setting 0 at a seventh of the time (0.5 s for 512²)
MIN_SIDE = 16
PUBLIC = Key(hashlib.sha256(b"deepstego/robust/public").digest())
# the header Pillow's AVIF writer puts before the AV1 data (ftyp … mdat), as a deflate preset dictionary
_AVIF_HEADER = bytes.fromhex(
    "00000020667479706176696600000000617669666d6966316d6961664d413142000000eb6d657461000000000000002168646c72"
    "000000000000000070696374000000000000000000000000000000000e7069746d0000000000010000001e696c6f630000000044"
    "00000100010000000100000113000000240000002869696e660000000000010000001a696e666502000000000100006176303143"
    "6f6c6f72000000006a697072700000004b6970636f0000001469737065000000000000010000000100000000107069786900000000"
    "030808080000000c6176314381000c0000000013636f6c726e636c780001000d0006800000001769706d61000000000000000100"
    "0104010283040000002c6d646174")


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15, zdict=_AVIF_HEADER)
    return c.compress(data) + c.flush()


def _inflate(data: bytes) -> bytes:
    d = zlib.decompressobj(-15, zdict=_AVIF_HEADER)
    return d.decompress(data) + d.flush()


#: AVIF encoder settings a hide tries, keeping the one whose decoded secret has the highest SSIM: 4:4:4 tuned for
#: SSIM gains 0.006 mean SSIM on the evaluation photos at 1.9 kB, but not on every photo
SETTINGS = ({"subsampling": "4:2:0"}, {"subsampling": "4:4:4", "advanced": [("tune", "ssim")]})


def _avif(image: np.ndarray, quality: int, settings: dict, speed: int = AVIF_SPEED) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="AVIF", quality=quality, speed=speed, **settings)
    return _deflate(buf.getvalue())


def _largest(fits, lo: int, hi: int) -> int:
    """The largest quality in lo…hi for which ``fits`` holds, given that it holds at lo - 1 and fails at hi + 1."""
    while lo <= hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if fits(mid) else (lo, mid - 1)
    return hi


def _fit(encode, room: int) -> bytes | None:
    """The highest-quality AVIF ``encode(quality, speed)`` gives in at most ``room`` bytes, or None. The quality is
    bracketed with the encoder's fastest setting (files a few percent larger, so its answer fits at
    :data:`AVIF_SPEED` too) and settled within 8 steps above that at :data:`AVIF_SPEED`."""
    if len(encode(0, AVIF_SPEED)) > room:
        return None
    quick = _largest(lambda q: len(encode(q, 10)) <= room, 1, 100)
    q = _largest(lambda q: len(encode(q, AVIF_SPEED)) <= room, quick + 1, min(100, quick + 8))
    while len(data := encode(q, AVIF_SPEED)) > room:  # the fast setting's answer did not fit after all
        q -= 1
    return data


def compress(secret: np.ndarray, room: int, cache: dict | None = None) -> bytes:
    """The H×W×3 uint8 ``secret`` as at most ``room`` bytes: the highest AVIF quality that fits (of
    :data:`SETTINGS`, the one that decodes closest to the secret in SSIM), at the secret's size or, failing that,
    at half, a quarter… of it (down to 16 px a side). A ``cache`` kept across calls for one secret saves the
    encodes that several rooms have in common."""
    from .images import to_tensor
    from .metrics import ssim

    cache = {} if cache is None else cache

    def score(data: bytes) -> float:
        return float(ssim(to_tensor(secret), to_tensor(decompress(data, size))).mean())

    def encoder(image: np.ndarray, i: int):
        def encode(q: int, speed: int) -> bytes:
            key = (image.shape, i, q, speed)
            if key not in cache:
                cache[key] = _avif(image, q, SETTINGS[i], speed)
            return cache[key]
        return encode

    image, size = secret, (secret.shape[1], secret.shape[0])
    while min(image.shape[:2]) >= MIN_SIDE:
        fits = [d for d in (_fit(encoder(image, i), room) for i in range(len(SETTINGS))) if d is not None]
        if fits:
            return max(fits, key=score)
        h, w = image.shape[:2]
        image = np.asarray(Image.fromarray(image).resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS))
    raise DeepStegoError(f"the cover is too small to carry a secret robustly (room for {room} bytes); use a larger "
                         f"cover")


def decompress(data: bytes, size: tuple[int, int]) -> np.ndarray:
    """The secret from :func:`compress`'s bytes, resized to ``size`` (width, height) when it was sent smaller."""
    with Image.open(io.BytesIO(_inflate(data))) as im:
        im = im.convert("RGB")
        if im.size != size:
            im = im.resize(size, Image.Resampling.BICUBIC)
        return np.array(im)  # writable: callers hand it to torch


def _keystream(key: Key, nonce: bytes, n: int) -> np.ndarray:
    return np.frombuffer(hashlib.shake_256(key.derive(b"payload") + nonce).digest(n), np.uint8)


def _tag(key: Key, body: bytes) -> bytes:
    return hashlib.blake2b(body, key=key.derive(b"tag"), digest_size=TAG).digest()


def seal(data: bytes, size: int, key: Key | None) -> bytes:
    """``data`` in a frame of exactly ``size`` bytes (see the module docstring)."""
    key = key or PUBLIC
    room = size - OVERHEAD
    if len(data) > room:
        raise ValueError(f"{len(data)} bytes do not fit a {size}-byte frame")
    nonce = secrets.token_bytes(NONCE)
    plain = len(data).to_bytes(LENGTH, "big") + data + secrets.token_bytes(room - len(data))
    body = nonce + (np.frombuffer(plain, np.uint8) ^ _keystream(key, nonce, len(plain))).tobytes()
    return body + _tag(key, body)


def open_frame(frame: bytes, key: Key | None) -> bytes | None:
    """The data :func:`seal` framed, or None when the tag does not match (another key, or no frame at all)."""
    key = key or PUBLIC
    body, tag = frame[:-TAG], frame[-TAG:]
    if len(frame) < OVERHEAD or not secrets.compare_digest(_tag(key, body), tag):
        return None
    nonce = body[:NONCE]
    plain = (np.frombuffer(body[NONCE:], np.uint8) ^ _keystream(key, nonce, len(body) - NONCE)).tobytes()
    n = int.from_bytes(plain[:LENGTH], "big")
    return plain[LENGTH:LENGTH + n] if n <= len(plain) - LENGTH else None


# ---- a secret video: an AV1 stream ------------------------------------------------------------------------------

AV1_PRESET = 8  # SVT-AV1's speed (0 slowest … 13)
AV1_MIN_SIDE = 64  # SVT-AV1 takes pictures from 64×64 up: a smaller secret is padded
AV1_CRFS = range(10, 64)  # SVT-AV1's constant rate factors, best first


def _av1(frames: list[np.ndarray], crf: int) -> bytes:
    """Frames (H×W×3 uint8, even sides of at least :data:`AV1_MIN_SIDE`) as a low-overhead AV1 bitstream (OBUs,
    no container)."""
    import os

    import av

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its configuration to stderr unless told: errors only
    h, w = frames[0].shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format="obu") as out:
        try:
            stream = out.add_stream("libsvtav1", rate=25)
        except (av.error.FFmpegError, ValueError) as exc:  # a PyAV built without SVT-AV1
            raise DeepStegoError(f"this PyAV's FFmpeg has no SVT-AV1 encoder ({exc}); install the PyAV wheel from "
                                 "PyPI") from None
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": str(AV1_PRESET)}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(stream.encode())
    return buf.getvalue()


def _coded(frames: list[np.ndarray], scale: float) -> list[np.ndarray]:
    """The frames as the AV1 encoder gets them: scaled, then padded by their edge to even sides of at least
    :data:`AV1_MIN_SIDE`."""
    h, w = frames[0].shape[:2]
    sw, sh = max(2, round(w * scale)), max(2, round(h * scale))
    out = []
    for f in frames:
        if (sw, sh) != (w, h):
            f = np.asarray(Image.fromarray(f).resize((sw, sh), Image.Resampling.LANCZOS))
        ph, pw = max(AV1_MIN_SIDE, sh + sh % 2) - sh, max(AV1_MIN_SIDE, sw + sw % 2) - sw
        out.append(np.ascontiguousarray(np.pad(f, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else f))
    return out


def compress_video(frames: list[np.ndarray], room: int) -> bytes:
    """Secret frames (H×W×3 uint8, one size) as at most ``room`` bytes: ``width ‖ height ‖ (scaled width ‖ scaled
    height)`` (2 bytes each) and an AV1 stream at the lowest constant rate factor that fits, at the frames' size or,
    failing that, at 3/4, 1/2, 3/8… of it."""
    h, w = frames[0].shape[:2]
    for scale in (1, 3 / 4, 1 / 2, 3 / 8, 1 / 4, 3 / 16, 1 / 8):
        if scale < 1 and min(h, w) * scale < MIN_SIDE:
            break
        coded = _coded(frames, scale)
        sw, sh = max(2, round(w * scale)), max(2, round(h * scale))
        head = b"".join(v.to_bytes(2, "big") for v in (w, h, sw, sh))
        sizes: dict[int, bytes] = {}

        def fits(i: int) -> bool:  # i: index into AV1_CRFS from the worst (coarsest) end
            crf = AV1_CRFS[-1 - i]
            sizes[crf] = _av1(coded, crf)
            return len(head) + len(sizes[crf]) <= room

        if fits(0):
            best = _largest(fits, 1, len(AV1_CRFS) - 1)
            return head + sizes[AV1_CRFS[-1 - best]]
    raise DeepStegoError(f"the cover is too small or too short to carry this secret video robustly (room for {room} "
                         "bytes); use a larger or longer cover, or a shorter secret")


def decompress_video(data: bytes) -> list[np.ndarray]:
    """The secret frames from :func:`compress_video`'s bytes, at the secret's own size."""
    import av

    from .video.io import to_rgb

    if len(data) < 8:
        raise DeepStegoError("the robust payload holds no video")
    w, h, sw, sh = (int.from_bytes(data[i:i + 2], "big") for i in range(0, 8, 2))
    out = []
    try:
        with av.open(io.BytesIO(data[8:]), format="obu") as c:
            for frame in c.decode(video=0):
                rgb = to_rgb(frame)[:sh, :sw]
                if (sw, sh) != (w, h):
                    rgb = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BICUBIC))
                out.append(rgb)
    except (av.error.FFmpegError, ValueError) as exc:
        raise DeepStegoError(f"the robust payload's video does not decode ({exc})") from None
    return out
