"""Video files through PyAV (FFmpeg): probing and checking inputs, decoding to upright RGB frames, and writing
lossless or lossy outputs atomically."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import DeepStegoError
from ..images import temp_beside

VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv", ".wmv"}


@dataclass(frozen=True)
class Codec:
    name: str  # FFmpeg encoder
    pix_fmt: str
    lossless: bool
    suffixes: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()


CODECS = {
    "ffv1": Codec("ffv1", "bgr0", True, (".mkv", ".avi")),
    "x264rgb": Codec("libx264rgb", "rgb24", True, (".mkv", ".mp4", ".mov"), (("qp", "0"), ("preset", "veryfast"))),
    "png": Codec("png", "rgb24", True, (".avi", ".mov")),
    "h264": Codec("libx264", "yuv420p", False, (".mp4", ".mkv", ".mov"), (("crf", "18"), ("preset", "veryfast"))),
}
LOSSLESS_DECODERS = {"ffv1", "png", "huffyuv", "utvideo", "rawvideo", "ffvhuff"}


def is_video_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass
class VideoInfo:
    path: Path
    width: int  # as displayed (after rotation)
    height: int
    rate: Fraction  # average frames per second
    frames: int
    duration: float  # seconds from the first frame's start to the last frame's end
    rotation: int
    codec: str
    pix_fmt: str
    has_audio: bool
    metadata: dict

    @property
    def lossless(self) -> bool:
        return self.codec in LOSSLESS_DECODERS or (self.codec == "h264" and self.pix_fmt in ("gbrp", "rgb24", "bgr0"))


def _open(path: Path):
    if not path.exists():
        raise DeepStegoError(f"{path}: no such file")
    if path.is_dir():
        raise DeepStegoError(f"{path}: is a folder, not a video")
    try:
        return av.open(str(path))
    except av.error.EOFError:
        raise DeepStegoError(f"{path}: the video is empty (no frames)") from None
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise DeepStegoError(f"{path}: not a readable video ({_reason(exc)})") from None


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def probe(path: str | os.PathLike) -> VideoInfo:
    """Check a video file and describe it; counts frames by demuxing (no decoding) when the header does not say."""
    path = Path(path)
    with _open(path) as c:
        if not c.streams.video:
            raise DeepStegoError(f"{path}: has no video stream")
        vs = c.streams.video[0]
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate or Fraction(25)
        rotation = _stream_rotation(path)
        first = last = None
        frames = 0
        try:
            for pkt in c.demux(vs):
                if pkt.size == 0 or pkt.pts is None:
                    continue
                frames += 1
                t = float(pkt.pts * pkt.time_base)
                first = t if first is None else min(first, t)
                last = t if last is None else max(last, t)
        except av.error.FFmpegError as exc:
            raise DeepStegoError(f"{path}: truncated or corrupt video ({_reason(exc)})") from None
        if frames == 0:
            raise DeepStegoError(f"{path}: the video stream has no frames")
        w, h = vs.codec_context.width, vs.codec_context.height
        if not w or not h:
            raise DeepStegoError(f"{path}: the video stream has no picture size (unsupported or corrupt)")
        if rotation % 180:
            w, h = h, w
        duration = (last - first) + 1 / float(rate)
        return VideoInfo(path, w, h, Fraction(rate), frames, duration, rotation, vs.codec_context.name,
                         vs.codec_context.format.name if vs.codec_context.format else "unknown",
                         bool(c.streams.audio), dict(c.metadata))


def _stream_rotation(path: Path) -> int:
    """Rotation of the first decoded frame (the display matrix FFmpeg attaches), 0 if none."""
    with _open(path) as c:
        try:
            for frame in c.decode(c.streams.video[0]):
                return int(round(frame.rotation or 0)) % 360
        except av.error.FFmpegError:
            return 0
    return 0


_SUBSAMPLED = {**dict.fromkeys(("yuv420p", "yuv422p", "yuv440p", "yuv411p", "nv12", "nv21"), "yuv444p"),
               **dict.fromkeys(("yuvj420p", "yuvj422p", "yuvj440p", "yuvj411p"), "yuvj444p")}


def to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """One frame as an H×W×3 uint8 RGB array, as stored. 4:2:0 frames go through 4:4:4 first: FFmpeg's direct
    yuv420p → RGB conversion darkens colourful pictures by over a level (``test_yuv420p_frames_decode_without_a_shift``),
    the one via 4:4:4 does not (likewise the other 8-bit subsampled formats: 4:2:2, NV12, full-range 4:2:0)."""
    if frame.format.name in _SUBSAMPLED:
        frame = frame.reformat(format=_SUBSAMPLED[frame.format.name])
    return frame.to_ndarray(format="rgb24")


def upright(frame: av.VideoFrame) -> np.ndarray:
    """Decode one frame to an H×W×3 uint8 RGB array, turned the way players show it."""
    try:
        arr = to_rgb(frame)
    except (av.error.FFmpegError, ValueError) as exc:
        raise DeepStegoError(f"unsupported pixel format {frame.format.name} ({_reason(exc)})") from None
    rot = int(round(frame.rotation or 0)) % 360
    if rot:
        # FFmpeg's rotation is counter-clockwise in degrees; np.rot90 turns counter-clockwise by k quarter turns
        arr = np.ascontiguousarray(np.rot90(arr, k=rot // 90))
    return arr


def decode(path: str | os.PathLike, convert=None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (seconds from the first frame, frame) for every frame, streaming: the upright RGB frame, or what
    ``convert`` makes of each PyAV frame."""
    path = Path(path)
    with _open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        t0, n = None, 0
        try:
            for frame in c.decode(vs):
                t = float(frame.time) if frame.time is not None else n / float(vs.average_rate or 25)
                t0, n = t if t0 is None else t0, n + 1
                yield t - t0, (convert or upright)(frame)
        except av.error.FFmpegError as exc:
            raise DeepStegoError(f"{path}: truncated or corrupt video ({_reason(exc)})") from None


class VideoWriter:
    """Writes RGB frames (and optionally copied audio packets) to a temporary file beside ``path``; renamed into
    place by :meth:`commit`, deleted by :meth:`abort`, so no partial file is ever left under the final name."""

    def __init__(self, path: str | os.PathLike, codec: str, width: int, height: int, rate: Fraction, *,
                 audio_from=None, metadata: dict | None = None, options: dict | None = None, rotation: int = 0):
        self.path = Path(path)
        spec = CODECS[codec]
        if self.path.suffix.lower() not in spec.suffixes:
            raise DeepStegoError(f"{self.path}: {codec} is written to {' or '.join(spec.suffixes)} files")
        self.spec = spec
        self.tmp = temp_beside(self.path)
        try:  # an interruption while the file is set up (before any with-block holds it) removes it too
            self.even = spec.pix_fmt == "yuv420p"
            if self.even:  # 4:2:0 chroma needs even sizes; pad by one edge pixel
                width, height = width + width % 2, height + height % 2
            self.size = (width, height)
            self.container = av.open(str(self.tmp), "w", format=_format_for(self.path))
            self.stream = self.container.add_stream(spec.name, rate=rate, options={**dict(spec.options), **(options or {})})
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, spec.pix_fmt
            # frame timestamps in 1/1000 s follow the cover's timing (variable frame rates included); the muxer may
            # change the stream's own time base when it writes the header, so keep ours
            self.time_base = Fraction(1, 1000)
            self.stream.time_base = self.time_base
            self.stream.codec_context.time_base = self.time_base
            if rotation:  # frames written as stored, shown turned (a robust stego keeps its cover's planes)
                self.stream.set_display_rotation(rotation)
            self.audio = self.container.add_stream_from_template(audio_from) if audio_from is not None else None
            for k, v in (metadata or {}).items():
                self.container.metadata[k] = v
        except (av.error.FFmpegError, ValueError) as exc:
            self.abort()
            raise DeepStegoError(f"{self.path}: cannot write {codec} video ({_reason(exc)})") from None
        except BaseException:
            self.abort()
            raise
        self.count = 0
        self.finished = False

    def write(self, rgb: np.ndarray, seconds: float) -> None:
        if self.even and (rgb.shape[0] % 2 or rgb.shape[1] % 2):
            rgb = np.pad(rgb, ((0, rgb.shape[0] % 2), (0, rgb.shape[1] % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if self.spec.pix_fmt != "rgb24":
            frame = frame.reformat(format=self.spec.pix_fmt)
        frame.pts = int(round(seconds / self.time_base))
        frame.time_base = self.time_base
        self._mux(self.stream.encode(frame))
        self.count += 1

    def write_yuv(self, planes: np.ndarray, seconds: float) -> None:
        """One yuv420p frame given as its planes ((H·3/2)×W uint8: Y, then U and V), for a yuv420p codec: no RGB
        conversion on the way."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format="yuv420p")
        frame.pts = int(round(seconds / self.time_base))
        frame.time_base = self.time_base
        self._mux(self.stream.encode(frame))
        self.count += 1

    def mux_audio(self, packet) -> None:
        if self.audio is None or packet.dts is None:
            return
        packet.stream = self.audio
        self._mux(packet)

    def _mux(self, packets) -> None:
        try:
            self.container.mux(packets)
        except (av.error.FFmpegError, OSError) as exc:
            self.abort()
            raise DeepStegoError(f"{self.path}: write failed ({_reason(exc)})") from None

    def finish(self) -> Path:
        """Flush the encoder and close the temporary file (to read it back before :meth:`commit` or :meth:`abort`)."""
        if not self.finished:
            try:
                packets = self.stream.encode(None)
            except (av.error.FFmpegError, ValueError) as exc:
                self.abort()
                raise DeepStegoError(f"{self.path}: write failed ({_reason(exc)})") from None
            self._mux(packets)
            try:
                self.container.close()
            except (av.error.FFmpegError, OSError) as exc:
                self.abort()
                raise DeepStegoError(f"{self.path}: write failed ({_reason(exc)})") from None
            self.finished = True
        return self.tmp

    def commit(self) -> Path:
        self.finish()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        try:
            if getattr(self, "container", None) is not None:
                self.container.close()
        except Exception:  # closing a half-written file may fail again; the file is deleted either way
            pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        return False


def _format_for(path: Path) -> str | None:
    return {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov", ".avi": "avi"}.get(path.suffix.lower())
