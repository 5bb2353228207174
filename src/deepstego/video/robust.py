"""Robust video: the secret video as a sealed, error-corrected AV1 stream in the cover's luma, stored as H.264.

The video side of the robust mode's codec route (:data:`deepstego.robust.ROBUST_CODEC`). The secret, sampled at
the cover's frame times, is compressed as an AV1 stream (:func:`deepstego.payload.compress_video`), sealed under
the key (:mod:`deepstego.payload`), cut into LDPC codewords (:mod:`deepstego.ecc`) and written one bit per 12×12
cell of every cover frame's Y plane (:class:`deepstego.carrier.Cells`), the codewords' bits spread over the whole
clip by a keyed permutation. The stego is an H.264 yuv420p MP4 whose frames the hide writes as Y, U and V planes,
so no RGB conversion moves the cells; the cover's audio is copied.

A hide first sends random bits through its own encode and a crf-23 re-encode to measure the cover's capacity,
then tries code rates from there down, keeping the first whose payload it reads back from the file it wrote and
after such a re-encode, of its frames as decoded and of PyAV's RGB conversion of them. A reveal reads the cells with each bit's chance of error
(:func:`deepstego.carrier.read_cells`), finds the code rate from the first codeword's checks and decodes; a wrong
key fails the payload's tag.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from .. import carrier, channel, ecc, payload
from ..errors import DeepStegoError
from ..robust import PRESET
from .io import VideoInfo, VideoWriter, _open, decode, probe, to_rgb

CELLS = carrier.Cells(12, 8.0)
CODEWORD = 1 << 16  # the most channel bits in one LDPC codeword: a clip's bits are cut into equal codewords
VERIFY_CRF = 23  # a hide checks that its payload survives someone else's libx264 re-encode at this crf
RATE_MARGIN = 0.85  # a hide starts at this share of the capacity its probe measured, then tries lower rates
RATE_TRIES = 5
#: the cover frames a robust video hide holds (and re-reads for each code rate it tries), in luma pixels: 300
#: frames of 1280×720
MAX_LUMA = 1280 * 720 * 300


class _Plan:
    """Where each channel bit goes in a clip of ``frames`` frames of height×width under one seed: a keyed dither
    per cell and frame, and a keyed order of all the clip's cells."""

    def __init__(self, seed: bytes, frames: int, height: int, width: int):
        self.seed, self.frames = seed, frames
        self.shape = CELLS.shape(height, width)
        self.per_frame = self.shape[0] * self.shape[1]
        total = frames * self.per_frame
        self.codewords = -(-total // CODEWORD)
        self.n = total // self.codewords if total else 0  # each codeword's length
        rng = np.random.Generator(np.random.PCG64(list(hashlib.sha256(seed + f"|order|{total}".encode()).digest())))
        self.order = rng.permutation(total)
        self._dithers: dict[int, np.ndarray] = {}

    def dither(self, i: int) -> np.ndarray:
        """Frame i's dither, drawn once: a hide reads its frames several times (the checks of each rate it tries)."""
        if i not in self._dithers:
            rng = np.random.Generator(np.random.PCG64(list(hashlib.sha256(self.seed + f"|cells|{i}".encode())
                                                           .digest())))
            self._dithers[i] = rng.random(self.shape) * CELLS.step
        return self._dithers[i]

    def slots(self, word: np.ndarray) -> np.ndarray:
        """A channel word (the codewords' bits, one after another) → every cell's bit, frames × cells (unused cells
        carry random bits)."""
        rng = np.random.default_rng(list(hashlib.sha256(self.seed + b"|fill").digest()))
        out = rng.integers(0, 2, len(self.order)).astype(np.uint8)
        out[self.order[:len(word)]] = word
        return out.reshape(self.frames, *self.shape)

    def word(self, cells: np.ndarray) -> np.ndarray:
        """Every cell's value (frames × cells) → the channel word's."""
        return cells.reshape(-1)[self.order[:self.codewords * self.n]]


def _seed(key) -> bytes:
    return (key or payload.PUBLIC).derive(b"video-carrier")


def read_planes(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """Every frame of a video as yuv420p planes ((H·3/2)×W uint8, as stored: no rotation) and its time from the
    first frame."""
    times, planes, size = [], [], None
    for t, frame in decode(path, convert=lambda f: f):
        if frame.width % 2 or frame.height % 2:
            raise DeepStegoError(f"{path}: a robust video needs even frame sides; this one is "
                                 f"{frame.width}×{frame.height}")
        if size not in (None, (frame.width, frame.height)):
            raise DeepStegoError(f"{path}: the frame size changes mid-stream ({size[0]}×{size[1]} to "
                                 f"{frame.width}×{frame.height}); a robust video needs one size")
        size = (frame.width, frame.height)
        planes.append(frame.to_ndarray() if frame.format.name == "yuv420p"
                      else frame.reformat(format="yuv420p").to_ndarray())
        times.append(t)
    return planes, times


def _luma(planes: np.ndarray) -> np.ndarray:
    return planes[:planes.shape[0] * 2 // 3]


def _embed(planes: list[np.ndarray], plan: _Plan, slots: np.ndarray) -> list[np.ndarray]:
    out = []
    for i, p in enumerate(planes):
        q = p.copy()
        q[:len(q) * 2 // 3] = carrier.embed_cells(_luma(p), slots[i], plan.dither(i), CELLS)
        out.append(q)
    return out


def _received(planes: list[np.ndarray], plan: _Plan) -> tuple[np.ndarray, np.ndarray]:
    """The channel word a clip carries and each bit's chance of error."""
    bits, error = zip(*(carrier.read_cells(_luma(p), plan.dither(i), CELLS) for i, p in enumerate(planes)))
    return plan.word(np.stack(bits)), plan.word(np.stack(error))


def _payload(planes: list[np.ndarray], plan: _Plan, key, rates=None) -> bytes | None:
    """The sealed payload a clip carries (trying ``rates``, or those its first codeword's checks allow), or None."""
    if plan.n < 8 * payload.OVERHEAD * 4:
        return None
    bits, error = _received(planes, plan)
    n = plan.n
    for rate in rates or ecc.likely_rates(bits[:n]):
        k = ecc.info_bits(n, rate)
        info = []
        for j in range(plan.codewords):
            got = ecc.decode(bits[j * n:(j + 1) * n], error[j * n:(j + 1) * n], k)
            if got is None:
                break
            info.append(got)
        else:
            data = payload.open_frame(np.packbits(np.concatenate(info)).tobytes(), key)
            if data is not None:
                return data
    return None


def _shared(planes: list[np.ndarray], crf: int, via_rgb: bool = False) -> list[np.ndarray]:
    """What someone else's libx264 re-encode of the planes at ``crf`` decodes to (``via_rgb``: of the frames PyAV's
    own RGB conversion makes of them, a shift of level the reveal must take out)."""
    return channel.decoded_frames(channel.h264_file(planes, crf, PRESET, "mp4", via_rgb), planes=True)


def _capacity(planes: list[np.ndarray], plan: _Plan, crf: int) -> float:
    """The share of a channel bit the clip carries through its own encode at ``crf`` and a re-encode at
    :data:`VERIFY_CRF`, measured with random bits: the mean of 1 − H(p) over the bits' chances of error p."""
    rng = np.random.default_rng(0)
    slots = rng.integers(0, 2, (plan.frames, *plan.shape)).astype(np.uint8)
    seen = _shared(_shared(_embed(planes, plan, slots), crf), VERIFY_CRF)
    _, p = _received(seen, plan)
    p = np.clip(p, 1e-9, 0.5)
    return float(np.mean(1 + p * np.log2(p) + (1 - p) * np.log2(1 - p)))


def _secret_frames(info: VideoInfo, times: list[float]) -> list[np.ndarray]:
    from .pipeline import SecretTimeline

    timeline = SecretTimeline(info, info.width, info.height)
    out = []
    for t in times:
        frame = timeline.at(t)
        if frame is None:
            break
        out.append(frame)
    return out


def hide(ci: VideoInfo, si: VideoInfo, out: Path, *, key=None, crf: int, progress: bool = True):
    """Hide the secret video ``si`` in the cover ``ci`` (both probed) as the H.264 file ``out`` (checked by the
    caller); returns a :class:`~deepstego.video.pipeline.VideoResult`."""
    from .pipeline import VideoResult

    start = time.perf_counter()
    say = (lambda msg: print(f"deepstego: {msg}", file=sys.stderr)) if progress else (lambda msg: None)
    if ci.width * ci.height * ci.frames > MAX_LUMA:
        raise DeepStegoError(f"a robust video hide holds the whole cover: it takes up to {MAX_LUMA // 10**6} million "
                             f"luma pixels (300 frames of 1280×720); this cover has {ci.frames} of "
                             f"{ci.width}×{ci.height}: trim or scale it first")
    if si.width * si.height * min(si.frames, ci.frames) > MAX_LUMA:
        raise DeepStegoError(f"a robust video hide holds the whole secret too: it takes up to {MAX_LUMA // 10**6} "
                             f"million pixels of it; this one has {si.frames} frames of {si.width}×{si.height}: trim "
                             "or scale it first")
    planes, times = read_planes(ci.path)
    secret = _secret_frames(si, times)
    if not secret:
        raise DeepStegoError(f"{si.path}: no secret frame fell inside the cover's timeline")
    height, width = planes[0].shape[0] * 2 // 3, planes[0].shape[1]  # as stored (a rotation is kept as a flag)
    plan = _Plan(_seed(key), len(planes), height, width)
    if plan.n < 8 * payload.OVERHEAD * 4:
        raise DeepStegoError(f"a {width}×{height} cover of {len(planes)} frames is too small to carry a video "
                             "robustly")
    say(f"measuring what {len(planes)} frames carry through H.264 ...")
    share = RATE_MARGIN * _capacity(planes, plan, crf)
    rates = [r for r in ecc.RATES if r <= share][::-1][:RATE_TRIES]
    rates += [ecc.RATES[0]] if ecc.RATES[0] not in rates else []  # and the most redundant, last
    for rate in rates:
        k = ecc.info_bits(plan.n, rate)
        room = plan.codewords * k // 8
        data = payload.compress_video(secret, room - payload.OVERHEAD)
        say(f"code rate {rate:g}: {len(data) / 1000:.1f} kB of AV1 for {len(secret)} secret frames; writing ...")
        info = np.unpackbits(np.frombuffer(payload.seal(data, room, key), np.uint8)).reshape(plan.codewords, k)
        word = np.concatenate([ecc.encode(bits, plan.n) for bits in info])
        stego = _embed(planes, plan, plan.slots(word))
        with _open(ci.path) as src:
            audio = src.streams.audio[0] if src.streams.audio else None
            with VideoWriter(out, "h264", width, height, ci.rate, audio_from=audio, rotation=ci.rotation,
                             options={"crf": str(crf), "preset": PRESET}) as writer:
                for p, t in zip(stego, times):
                    writer.write_yuv(p, t)
                if audio is not None:
                    for packet in src.demux(audio):
                        writer.mux_audio(packet)
                written = read_planes(writer.finish())[0]
                if all(_payload(seen, plan, key, [rate]) == data for seen in
                       (written, *(_shared(written, VERIFY_CRF, via) for via in (False, True)))):
                    writer.commit()
                    return VideoResult(out, len(planes), len(secret), time.perf_counter() - start)
                writer.abort()
        say(f"code rate {rate:g} did not survive the re-encode; trying a lower one")
    raise DeepStegoError("this cover cannot carry the secret robustly: even the most redundant code does not "
                         "survive an H.264 re-encode (a very flat or dark cover?); choose a more textured cover")


def reveal(info: VideoInfo, out: Path, *, key=None, codec: str = "h264"):
    """The secret video :func:`hide` put in the stego ``info`` (probed; perhaps re-encoded since), written to
    ``out`` (checked by the caller) with ``codec`` at the stego's frame times."""
    from .pipeline import VideoResult

    start = time.perf_counter()
    if info.width * info.height * info.frames > MAX_LUMA:
        raise DeepStegoError(f"{info.path} is larger than any robust video hide writes ({info.frames} frames of "
                             f"{info.width}×{info.height})")
    planes, times = read_planes(info.path)
    data = _payload(planes, _Plan(_seed(key), len(planes), planes[0].shape[0] * 2 // 3, planes[0].shape[1]), key)
    if data is None:
        raise DeepStegoError("no robust secret found: the key is wrong or missing (a keyed hide needs the same key), "
                             "or the video was changed too much since (resized, cropped, cut, or re-encoded well "
                             "below crf 23's quality)")
    frames = payload.decompress_video(data)
    h, w = frames[0].shape[:2]
    with VideoWriter(out, codec, w, h, info.rate) as writer:
        for rgb, t in zip(frames, times):
            writer.write(rgb, t)
        writer.commit()
    return VideoResult(out, len(frames), len(frames), time.perf_counter() - start)
