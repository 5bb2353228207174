"""Video in video, streaming: decode both inputs frame by frame, hide in batches, encode as frames come.

The secret follows the cover's timeline (nearest secret frame for each cover frame), is fitted to the cover's size
(aspect kept), and stops when it runs out: later cover frames are copied through unchanged. The cover's audio
packets are copied as they are. Memory holds one batch of frames, whatever the video's length.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import av
import numpy as np
import torch
from tqdm import tqdm

from .. import limits
from ..backend import resolve_backend
from ..core import hide_tensor, leak_readers, network_and_key, reveal_tensor
from ..refine import VIDEO_REFINE_BUDGET, FrameRefiner
from ..robust import CRF, PRESET, crf as check_crf, uses_codec
from ..errors import DeepStegoError
from ..images import check_output, fit_letterbox, unletterbox
from . import robust as robust_video
from .io import CODECS, VideoInfo, VideoWriter, _open, _reason, decode, probe, upright

META_KEY = "deepstego"


@dataclass
class VideoResult:
    path: Path
    frames: int  # frames written
    hidden: int  # frames that carry a secret frame
    seconds: float
    timings: dict = field(default_factory=dict)  # seconds spent in decode / network / encode
    secret_size: tuple[int, int] | None = None  # hiding: the secret's (width, height), before it was fitted
    frame_size: tuple[int, int] | None = None  # hiding: the cover's (width, height)
    refined: int = 0  # hiding: frames that got a refinement step

    @property
    def fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


class SecretTimeline:
    """The secret's frames, looked up by cover time: the nearest secret frame, or None once the secret is over."""

    def __init__(self, info: VideoInfo, width: int, height: int):
        self.frames = decode(info.path)
        self.half = 0.5 / float(info.rate)
        self.size = (width, height)
        self.prev = self._next()
        self.next = self._next()

    def _next(self):
        item = next(self.frames, None)
        if item is None:
            return None
        t, rgb = item
        if rgb.shape[1] != self.size[0] or rgb.shape[0] != self.size[1]:
            rgb = fit_letterbox(rgb, *self.size)
        return t, rgb

    def at(self, t: float) -> np.ndarray | None:
        while self.next is not None and self.next[0] <= t:
            self.prev, self.next = self.next, self._next()
        if self.prev is None:
            return None
        if self.next is None and t > self.prev[0] + self.half + 1e-6:
            return None
        # nearest frame; a tie (within a microsecond) goes to the earlier one
        if self.next is not None and abs(self.next[0] - t) < abs(t - self.prev[0]) - 1e-6:
            return self.next[1]
        return self.prev[1]


def _advance(bar: tqdm, frames: int) -> None:
    """Count frames on a progress bar; the last ones without drawing, so that close() draws the 100% line once
    (an update that reaches the total draws it too, and close() draws it again with the average rate)."""
    if bar.total is not None and bar.n + frames >= bar.total:
        bar.n += frames
    else:
        bar.update(frames)


def _batches(items: Iterator, size: int):
    batch = []
    for it in items:
        batch.append(it)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stack(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float().div_(255.0)


def _frames_of(t: torch.Tensor) -> np.ndarray:
    return t.mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _check_length(ci: VideoInfo, si: VideoInfo, trim: bool) -> None:
    if si.duration > ci.duration + 0.5 / float(ci.rate) and not trim:
        raise DeepStegoError(f"the secret ({si.duration:.2f} s) is longer than the cover ({ci.duration:.2f} s); "
                             "pass --trim to hide only its first part")


def hide_video(cover, secret, output, *, model=None, key=None, codec: str | None = None, lossy: bool = False,
               batch: int = 4, trim: bool = False, embed_meta: bool = False, overwrite: bool = False,
               progress: bool = True, precision: str = "auto", backend: str = "auto",
               refine_budget: float = VIDEO_REFINE_BUDGET, robust: bool = False, crf: int | None = None) -> VideoResult:
    """Hide every frame of ``secret`` in the matching frame of ``cover`` and write ``output``.

    ``codec`` is ``ffv1`` (default; ``h264`` with ``robust``), ``x264rgb`` or ``png`` — all bit-exact — or ``h264`` (lossy, only with
    ``lossy=True``: the secret degrades). ``embed_meta`` stores the secret's size, rate and length in the file's
    metadata so reveal can restore them — convenient, but a give-away to anyone who reads the metadata. ``key``:
    as for :func:`deepstego.hide` (every frame is mixed under the same key). ``refine_budget``: the refinement
    (:class:`~deepstego.refine.FrameRefiner`) may take this multiple of the network pass's time (0, the default:
    the network pass alone). Which frames get a step depends on the time things take, so two refined hides of one
    video may differ in the last bit.

    ``robust``: the stego is an H.264 yuv420p file at ``crf`` (default :data:`deepstego.robust.CRF`; ``codec`` must
    be ``h264``) that survives a re-encode: by default the secret video travels as a sealed, error-corrected AV1
    stream in the cover's luma (:mod:`deepstego.video.robust`; the batch, refinement and backend do not apply),
    or, with a robust ``model``, a network trained for lossy channels hides it.
    """
    codec = codec or ("h264" if robust else "ffv1")
    if codec not in CODECS:
        raise DeepStegoError(f"unknown codec {codec!r}; choose from {', '.join(CODECS)}")
    if robust and codec != "h264":
        raise DeepStegoError(f"a robust stego video is H.264 (yuv420p) for sharing; {codec} is lossless: drop "
                             "--codec or --robust")
    if crf is not None and codec != "h264":
        raise DeepStegoError("--crf sets H.264's quality: it applies to --robust (or --codec h264 --lossy)")
    if not CODECS[codec].lossless and not (lossy or robust):
        raise DeepStegoError(f"{codec} is lossy and destroys most of the hidden video; pass --lossy to use it anyway")
    options = {} if crf is None else {"crf": str(check_crf(crf))}  # else the codec's own (h264: crf 18)
    if robust:
        options = {"crf": str(CRF), "preset": PRESET, **options}
    batch = limits.count("--batch (frames per network call)", batch, 1, limits.MAX_BATCH)
    if robust and uses_codec(model):
        if embed_meta or refine_budget:
            raise DeepStegoError("--embed-meta and --refine-budget apply to network hides; the robust video hider "
                                 "takes neither (its payload carries the secret's size)")
        ci, si = probe(cover), probe(secret)
        out = check_output(output, overwrite=overwrite, inputs=(cover, secret))
        _check_length(ci, si, trim)
        return robust_video.hide(ci, si, out, key=key, crf=int(options["crf"]), progress=progress)
    net, key = network_and_key(model, key, robust=robust)
    refine_budget = limits.share("the refinement budget", refine_budget, limits.MAX_REFINE_BUDGET)
    if refine_budget and not net.trainable:
        raise DeepStegoError(f"{net.arch} has no differentiable reveal network to refine against: the refinement "
                             "budget must be 0")
    refiner = FrameRefiner(net, refine_budget, precision, leak_readers(net)) if refine_budget else None
    backend = resolve_backend(backend, repeated=True)  # every frame the same size: compiling once pays
    ci, si = probe(cover), probe(secret)
    out = check_output(output, overwrite=overwrite, inputs=(cover, secret))
    _check_length(ci, si, trim)
    meta = {}
    if embed_meta:
        meta[META_KEY] = json.dumps({"width": si.width, "height": si.height, "rate": str(si.rate),
                                     "frames": min(si.frames, int(np.ceil(ci.duration * float(si.rate))))})
    timings: dict[str, float] = defaultdict(float)
    start = time.perf_counter()
    timeline = SecretTimeline(si, ci.width, ci.height)
    written = hidden = 0
    with _open(ci.path) as src:
        vs = src.streams.video[0]
        vs.thread_type = "AUTO"
        audio = src.streams.audio[0] if src.streams.audio else None
        with VideoWriter(out, codec, ci.width, ci.height, ci.rate, audio_from=audio, metadata=meta,
                         options=options) as writer, \
                tqdm(total=ci.frames, unit="frame", desc="hiding", disable=not progress, file=sys.stderr) as bar:
            pending: list[tuple[float, np.ndarray, np.ndarray | None]] = []
            t0 = None

            def flush():
                nonlocal written, hidden
                tick = time.perf_counter()
                with_secret = [p for p in pending if p[2] is not None]
                stegos = iter(())
                if with_secret:
                    c = _stack([p[1] for p in with_secret])
                    s = _stack([p[2] for p in with_secret])
                    stegos = iter(_frames_of(hide_tensor(net, c, s, key=key, precision=precision, backend=backend,
                                                         refiner=refiner)))
                timings["network"] += time.perf_counter() - tick
                tick = time.perf_counter()
                for t, rgb, sec in pending:
                    writer.write(next(stegos) if sec is not None else rgb, t)
                    hidden += sec is not None
                written += len(pending)
                timings["encode"] += time.perf_counter() - tick
                _advance(bar, len(pending))
                pending.clear()

            streams = [vs] + ([audio] if audio is not None else [])
            tick = time.perf_counter()
            try:
                for packet in src.demux(*streams):
                    if packet.stream.type == "audio":
                        writer.mux_audio(packet)
                        continue
                    for frame in packet.decode():
                        t = float(frame.time) if frame.time is not None else written / float(ci.rate)
                        t0 = t if t0 is None else t0
                        rgb = upright(frame)
                        sec = timeline.at(t - t0)
                        timings["decode"] += time.perf_counter() - tick
                        pending.append((t - t0, rgb, sec))
                        if len(pending) >= batch:
                            flush()
                        tick = time.perf_counter()
            except av.error.FFmpegError as exc:
                raise DeepStegoError(f"{ci.path}: truncated or corrupt video ({_reason(exc)})") from None
            flush()
            writer.commit()
    if hidden == 0:
        out.unlink(missing_ok=True)
        raise DeepStegoError(f"{secret}: no secret frame fell inside the cover's timeline")
    return VideoResult(out, written, hidden, time.perf_counter() - start, dict(timings),
                       secret_size=(si.width, si.height), frame_size=(ci.width, ci.height),
                       refined=refiner.steps if refiner else 0)


def _reveal_codec(out: Path, lossless: bool) -> str:
    codec = "ffv1" if lossless else "h264"
    if out.suffix.lower() not in CODECS[codec].suffixes:
        raise DeepStegoError(f"{out}: the revealed video is written as "
                             f"{'FFV1 in .mkv' if lossless else 'H.264 in .mp4 (or .mkv/.mov)'}")
    return codec


def reveal_video(stego, output, *, model=None, key=None, lossless: bool = False,
                 size: tuple[int, int] | None = None, batch: int = 4, overwrite: bool = False, progress: bool = True,
                 precision: str = "auto", backend: str = "auto", warn=None, robust: bool = False) -> VideoResult:
    """Recover the hidden video from ``stego`` into ``output`` (H.264 MP4 by default, FFV1 MKV with
    ``lossless``). ``size=(w, h)`` restores the secret's original size; metadata embedded at hiding time, if
    any, supplies the size and the length. ``robust``: read a robust stego (an H.264 file, perhaps re-encoded
    since): by default the robust video hider's payload, at the secret's own size (a wrong or missing key, or a file
    changed too much, is a :class:`DeepStegoError`), or, with a robust ``model``, that network's reveal."""
    batch = limits.count("--batch (frames per network call)", batch, 1, limits.MAX_BATCH)
    if size is not None:
        size = limits.picture("the revealed size", *size)
    warn = warn or (lambda msg: print(f"deepstego: warning: {msg}", file=sys.stderr))
    if robust and uses_codec(model):
        if size is not None:
            raise DeepStegoError("--size applies to network reveals; the robust video hider's secret comes back at "
                                 "its own size")
        info = probe(stego)
        out = check_output(output, overwrite=overwrite, inputs=(stego,))
        if info.lossless:
            warn(f"{info.path} is stored losslessly ({info.codec} {info.pix_fmt}): a robust stego is H.264 "
                 "(yuv420p); if a network hid this one, reveal it without --robust")
        return robust_video.reveal(info, out, key=key, codec=_reveal_codec(out, lossless))
    net, key = network_and_key(model, key, robust=robust)
    backend = resolve_backend(backend, repeated=True)  # every frame the same size: compiling once pays
    info = probe(stego)
    out = check_output(output, overwrite=overwrite, inputs=(stego,))
    if robust and info.lossless:
        warn(f"{info.path} is stored losslessly ({info.codec} {info.pix_fmt}): if a non-robust model hid it, the "
             "robust model reveals nothing of it (reveal it without --robust)")
    elif not info.lossless and not robust:
        warn(f"{info.path} is stored with a lossy codec ({info.codec} {info.pix_fmt}); the revealed video will be "
             "degraded")
    meta = _read_meta(info)
    if size is None and meta:
        size = (meta["width"], meta["height"])
    limit = meta["frames"] if meta else None
    codec = _reveal_codec(out, lossless)
    w, h = size if size else (info.width, info.height)
    timings: dict[str, float] = defaultdict(float)
    start = time.perf_counter()
    frames = decode(info.path)
    total = min(info.frames, limit) if limit else info.frames
    written = 0
    with VideoWriter(out, codec, w, h, info.rate) as writer, \
            tqdm(total=total, unit="frame", desc="revealing", disable=not progress, file=sys.stderr) as bar:
        while written < total:
            tick = time.perf_counter()
            chunk = []
            for item in frames:
                chunk.append(item)
                if len(chunk) == batch or written + len(chunk) >= total:
                    break
            timings["decode"] += time.perf_counter() - tick
            if not chunk:
                break
            tick = time.perf_counter()
            revealed = _frames_of(reveal_tensor(net, _stack([c[1] for c in chunk]), key=key, precision=precision,
                                                 backend=backend))
            timings["network"] += time.perf_counter() - tick
            tick = time.perf_counter()
            for (t, _), rgb in zip(chunk, revealed):
                writer.write(unletterbox(rgb, w, h) if size else rgb, t)
            timings["encode"] += time.perf_counter() - tick
            written += len(chunk)
            _advance(bar, len(chunk))
        writer.commit()
    return VideoResult(out, written, written, time.perf_counter() - start, dict(timings))


def _read_meta(info: VideoInfo) -> dict | None:
    raw = info.metadata.get(META_KEY) or info.metadata.get(META_KEY.upper())
    if not raw:
        return None
    try:
        meta = json.loads(raw)
        width, height = limits.picture("the size in the stego's metadata", int(meta["width"]), int(meta["height"]))
        frames = limits.count("the length in the stego's metadata", int(meta["frames"]), 1, limits.MAX_VIDEO_FRAMES)
    except (ValueError, KeyError, TypeError, DeepStegoError):  # not ours, or not believable: ignored
        return None
    return {"width": width, "height": height, "frames": frames}
