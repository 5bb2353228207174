"""Lossy channels between hide and reveal: what sharing does to a stego, for training robust models.

Three kinds of step, each on N×3×H×W float batches in [0, 1]:

- ``jpeg_proxy``: a differentiable JPEG — full-range BT.601 YCbCr, 4:2:0 chroma, 8×8 orthonormal DCT, the
  standard tables scaled for a quality as libjpeg scales them, rounding with a straight-through gradient;
- ``real_jpeg`` (Pillow) and ``real_h264`` (PyAV libx264, yuv420p): the real codecs, passed straight through in
  the backward pass (``stego + (codec(stego) − stego).detach()``), which close the gap the proxy leaves;
- mild distortions: Gaussian blur, Gaussian noise and a down-and-up rescale.

:class:`Channel` draws one step (or none) per batch, MBRS-style, so the hider meets the proxy's gradients and the
real codecs' outputs in one run.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# ITU T.81 Annex K tables
_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
         14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
         49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
_CHROMA = [17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
           47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32

_TO_YCC = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_TO_RGB = torch.linalg.inv(_TO_YCC)


def quant_table(quality: int, chroma: bool = False) -> torch.Tensor:
    """The 8×8 table libjpeg uses at ``quality`` (1–100)."""
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    base = torch.tensor(_CHROMA if chroma else _LUMA, dtype=torch.float32)
    return ((base * scale + 50) // 100).clamp(1, 255).view(8, 8)


def _dct_matrix() -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64)
    d = torch.cos((2 * k[None, :] + 1) * k[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    d[0] /= math.sqrt(2)
    return d.float()


_DCT = _dct_matrix()


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _quantise_blocks(plane: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """plane N×1×H×W (H, W multiples of 8, values centred on 0) → the same after DCT quantisation by the
    per-example tables (N×8×8)."""
    n, _, h, w = plane.shape
    blocks = plane.view(n, h // 8, 8, w // 8, 8).permute(0, 1, 3, 2, 4)
    d = _DCT.to(plane.device)
    coeff = d @ blocks @ d.T
    q = tables.to(plane.device)[:, None, None]
    coeff = _round_ste(coeff / q) * q
    return (d.T @ coeff @ d).permute(0, 1, 3, 2, 4).reshape(n, 1, h, w)


def jpeg_proxy(x: torch.Tensor, quality: int | list[int]) -> torch.Tensor:
    """Differentiable JPEG at ``quality`` (one value, or one per example), 4:2:0 chroma as Pillow saves it."""
    n, _, h, w = x.shape
    qs = [quality] * n if isinstance(quality, int) else list(quality)
    ph, pw = -h % 16, -w % 16
    y = F.pad(x.float() * 255, (0, pw, 0, ph), mode="replicate")
    ycc = torch.einsum("ij,njhw->nihw", _TO_YCC.to(x.device), y)
    luma = _quantise_blocks(ycc[:, :1] - 128, torch.stack([quant_table(q) for q in qs])) + 128
    chroma_tables = torch.stack([quant_table(q, chroma=True) for q in qs])
    chroma = F.avg_pool2d(ycc[:, 1:], 2)
    chroma = torch.cat([_quantise_blocks(chroma[:, i:i + 1], chroma_tables) for i in range(2)], 1)
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False)
    rgb = torch.einsum("ij,njhw->nihw", _TO_RGB.to(x.device), torch.cat([luma, chroma], 1))
    return (rgb[:, :, :h, :w] / 255).clamp(0, 1)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x.detach().float().clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def _from_uint8(frames: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255
    return t.to(like.device)


def straight_through(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``y`` forward, the identity's gradient backward."""
    return x + (y.to(x.dtype) - x).detach()


def jpeg_bytes(rgb: np.ndarray, quality: int) -> bytes:
    """One H×W×3 uint8 image as Pillow saves it at ``quality`` (its default 4:2:0 chroma)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=int(quality))
    return buf.getvalue()


def jpeg_round_trip(x: torch.Tensor, quality: int | list[int]) -> torch.Tensor:
    """Each image as what Pillow's JPEG at its quality decodes to."""
    from PIL import Image

    frames = _to_uint8(x)
    qs = [quality] * len(frames) if isinstance(quality, int) else list(quality)
    out = np.stack([np.asarray(Image.open(io.BytesIO(jpeg_bytes(f, q))).convert("RGB")) for f, q in zip(frames, qs)])
    return _from_uint8(out, x)


def real_jpeg(x: torch.Tensor, quality: int | list[int]) -> torch.Tensor:
    """Each image through Pillow's JPEG at its quality; straight through in the backward pass."""
    return straight_through(x, jpeg_round_trip(x, quality))


def h264_file(frames, crf: int, preset: str = "medium", container: str = "matroska", via_rgb: bool = False) -> bytes:
    """Frames (a sequence of H×W×3 uint8 RGB, or of yuv420p planes: (H·3/2)×W uint8; even H and W) as one libx264
    yuv420p stream at ``crf``, in a file's bytes. ``via_rgb``: planes go through PyAV's own RGB conversion first, as
    a user's tool that works in RGB would send them."""
    import av

    planes = frames[0].ndim == 2
    h, w = (frames[0].shape[0] * 2 // 3, frames[0].shape[1]) if planes else frames[0].shape[:2]
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(int(crf)), "preset": preset}
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="yuv420p" if planes else "rgb24")
            if planes and via_rgb:
                frame = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return buf.getvalue()


def decoded_frames(data: bytes, planes: bool = False) -> list[np.ndarray]:
    """Every frame of a video file's bytes, as H×W×3 uint8 RGB (through 4:4:4, see ``video.io.to_rgb``), or with
    ``planes`` as the stream's yuv420p planes."""
    import av

    from .video.io import to_rgb

    with av.open(io.BytesIO(data)) as inp:
        return [fr.to_ndarray() if planes else to_rgb(fr) for fr in inp.decode(video=0)]


def h264_frames(frames: np.ndarray, crf: int, preset: str = "medium") -> np.ndarray:
    """Frames (N×H×W×3 uint8, even H and W) encoded as one libx264 yuv420p stream at ``crf`` and decoded."""
    return np.stack(decoded_frames(h264_file(frames, crf, preset))[:len(frames)])


def real_h264(x: torch.Tensor, crf: int) -> torch.Tensor:
    """The batch as consecutive frames of one H.264 stream; straight through in the backward pass."""
    return straight_through(x, _from_uint8(h264_frames(_to_uint8(x), crf), x))


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(2 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=x.device)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = (k / k.sum()).to(x.dtype)
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def rescale(x: torch.Tensor, factor: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(8, round(h * factor)), max(8, round(w * factor))), mode="bilinear",
                          align_corners=False, antialias=True)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)


@dataclass
class ChannelConfig:
    """Probabilities of each step per batch (the rest of the time: the 8-bit stego unchanged) and their ranges."""

    proxy: float = 0.35
    jpeg: float = 0.2
    h264: float = 0.2
    mild: float = 0.15
    quality: tuple[int, int] = (70, 95)
    crf: tuple[int, int] = (18, 30)
    sigma: tuple[float, float] = (0.3, 0.8)
    noise: tuple[float, float] = (0.5 / 255, 2 / 255)
    scale: tuple[float, float] = (0.75, 1.0)


class Channel:
    """Draws one lossy step per batch (``__call__``), with a seeded generator of its own."""

    def __init__(self, config: ChannelConfig | None = None, seed: int = 0):
        self.config = config or ChannelConfig()
        self.rng = random.Random(seed)

    def __call__(self, stego: torch.Tensor) -> torch.Tensor:
        c, r = self.config, self.rng
        u = r.random()
        qualities = [r.randint(*c.quality) for _ in range(len(stego))]
        if u < c.proxy:
            return jpeg_proxy(stego, qualities).to(stego.dtype)
        u -= c.proxy
        if u < c.jpeg:
            return real_jpeg(stego, qualities)
        u -= c.jpeg
        if u < c.h264:
            return real_h264(stego, r.randint(*c.crf))
        u -= c.h264
        if u < c.mild:
            kind = r.choice(("blur", "noise", "rescale"))
            if kind == "blur":
                return blur(stego, r.uniform(*c.sigma))
            if kind == "noise":
                return (stego + torch.randn_like(stego) * r.uniform(*c.noise)).clamp(0, 1)
            return rescale(stego, r.uniform(*c.scale))
        return stego
