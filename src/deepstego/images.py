"""Reading, checking, converting and atomically writing images; every problem becomes a one-line error."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .errors import DeepStegoError
from .limits import MAX_PIXELS

MIN_SIDE = 16


def describe_mode(im: Image.Image) -> str:
    return {"L": "grayscale", "LA": "grayscale with alpha", "RGBA": "RGBA (with alpha)", "I;16": "16-bit grayscale",
            "I;16B": "16-bit grayscale", "I": "32-bit integer", "F": "floating point", "1": "1-bit", "P": "palette",
            "CMYK": "CMYK"}.get(im.mode, im.mode)


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open an image file fully (so later errors cannot surface lazily), or raise a one-line error."""
    path = Path(path)
    if not path.exists():
        raise DeepStegoError(f"{path}: no such file")
    if path.is_dir():
        raise DeepStegoError(f"{path}: is a folder, not an image")
    try:
        im = Image.open(path)
        if im.width * im.height > MAX_PIXELS:  # checked from the header, before decoding
            raise DeepStegoError(f"{path}: image is too large ({im.width}×{im.height}); "
                                 f"the limit is {MAX_PIXELS // 1_000_000} megapixels")
        im.load()
    except Image.DecompressionBombError:
        raise DeepStegoError(f"{path}: image is too large (more than {MAX_PIXELS // 1_000_000} megapixels)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        kind = "not a recognised image file" if isinstance(exc, UnidentifiedImageError) else f"unreadable image ({exc})"
        raise DeepStegoError(f"{path}: {kind}") from None
    return im


def as_rgb(im: Image.Image, *, name: str, strict: bool) -> np.ndarray:
    """Check size and convert a PIL image to an H×W×3 uint8 array.

    With ``strict`` (covers and stegos) only 8-bit RGB is accepted: a grayscale or 16-bit cover would come back as
    8-bit colour, and a dropped alpha channel would change the picture — each a visible give-away. Secrets are
    converted (alpha composited on white, 16 bits scaled to 8).
    """
    w, h = im.size
    if min(w, h) < MIN_SIDE:
        raise DeepStegoError(f"{name}: image is too small ({w}×{h}); each side must be at least {MIN_SIDE} px")
    if w * h > MAX_PIXELS:
        raise DeepStegoError(f"{name}: image is too large ({w}×{h}); the limit is {MAX_PIXELS // 1_000_000} megapixels")
    if im.mode == "RGB":
        return np.asarray(im, dtype=np.uint8).copy()
    if strict:
        raise DeepStegoError(f"{name}: {describe_mode(im)} image; the cover and the stego must be 8-bit RGB "
                             "(convert it first, or use it as the secret, which is converted)")
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        arr = arr / (65535.0 if arr.max() > 255 else 255.0) * 255.0
        im = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "P", "PA"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def load_rgb(src, *, name: str = "image", strict: bool = True) -> np.ndarray:
    """A path, PIL image or H×W×3 uint8 array → checked H×W×3 uint8 array."""
    if isinstance(src, (str, os.PathLike)):
        return as_rgb(open_image(src), name=str(src), strict=strict)
    if isinstance(src, Image.Image):
        return as_rgb(src, name=name, strict=strict)
    if isinstance(src, np.ndarray):
        if src.dtype != np.uint8 or src.ndim != 3 or src.shape[2] != 3:
            raise DeepStegoError(f"{name}: expected an H×W×3 uint8 array, got {src.dtype} {tuple(src.shape)}")
        return as_rgb(Image.fromarray(src, "RGB"), name=name, strict=strict)
    raise DeepStegoError(f"{name}: expected a path, a PIL image or an H×W×3 uint8 array, got {type(src).__name__}")


def to_tensor(arr: np.ndarray) -> torch.Tensor:
    """H×W×3 uint8 → 1×3×H×W float32 in [0, 1]."""
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def on_8bit_grid(x: torch.Tensor) -> torch.Tensor:
    """``x`` clamped to [0, 1] and rounded to the 256 levels of an 8-bit image, as a new tensor (in place after the
    clamp's copy: a third less time than four fresh tensors on a 720p frame)."""
    return x.float().clamp(0, 1).mul_(255).round_().div_(255)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """1×3×H×W (or 3×H×W) float in [0, 1] → H×W×3 uint8, rounded to nearest."""
    if t.dim() == 4:
        t = t[0]
    return t.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def check_output(path: str | os.PathLike, *, overwrite: bool = False, inputs=()) -> Path:
    """Refuse an output path that would destroy an input, lands in a missing folder, or exists (unless
    ``overwrite``)."""
    path = Path(path)
    if not path.parent.exists() and str(path.parent) not in ("", "."):
        raise DeepStegoError(f"{path}: the output folder {path.parent} does not exist")
    for src in inputs:
        if isinstance(src, (str, os.PathLike)) and Path(src).exists() and path.exists() and path.samefile(src):
            raise DeepStegoError(f"{path}: the output would overwrite an input file")
    if path.is_dir():
        raise DeepStegoError(f"{path}: is a folder; give a file name")
    if path.exists() and not overwrite:
        raise DeepStegoError(f"{path}: already exists (pass --overwrite to replace it)")
    return path


def atomic_write(path: str | os.PathLike, write, *, mode: int | None = None) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path`` and rename it into place only on success, so a
    failure or interruption never leaves a partial file under the final name. The file gets ``mode``, or the
    permissions a plain open() would give (0666 less the umask), whatever the writer did."""
    path = Path(path)
    tmp = temp_beside(path)
    try:
        write(tmp)
        os.chmod(tmp, _umask_mode() if mode is None else mode)  # some writers (safetensors) re-create the file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def temp_beside(path: Path) -> Path:
    """A new hidden temporary file in ``path``'s folder, with the permissions a plain open() would give (the
    umask's), since it becomes the output by a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent or ".")
    try:
        os.close(fd)
        os.chmod(tmp, _umask_mode())  # mkstemp creates 0600
    except BaseException:  # an interruption here must not leave the file behind
        os.unlink(tmp)
        raise
    return Path(tmp)


def _umask_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_png(arr: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an H×W×3 uint8 array as a PNG, atomically."""
    if Path(path).suffix.lower() != ".png":
        raise DeepStegoError(f"{path}: outputs are written as PNG (lossless); name the file .png")
    try:
        return atomic_write(path, lambda tmp: Image.fromarray(arr, "RGB").save(tmp, format="PNG"))
    except OSError as exc:
        raise DeepStegoError(f"{path}: cannot write ({exc.strerror or exc})") from None


# The bars around a fitted secret are mid-grey: the hiding networks add almost nothing to the cover where the secret
# is 0.5, while black bars, the farthest value from 0.5, cost as much cover quality as the picture itself
# (tests/test_api.py; README, "Video").
LETTERBOX_FILL = 128


def fit_letterbox(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize ``arr`` to fit inside width×height keeping its aspect, centred on a mid-grey canvas of that size."""
    h, w = arr.shape[:2]
    scale = min(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    im = Image.fromarray(arr, "RGB")
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.Resampling.LANCZOS)
    canvas = np.full((height, width, 3), LETTERBOX_FILL, np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    canvas[y0:y0 + nh, x0:x0 + nw] = np.asarray(im)
    return canvas


def unletterbox(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of :func:`fit_letterbox`: cut the region a width×height original occupies and resize it back."""
    H, W = arr.shape[:2]
    scale = min(W / width, H / height)
    nw, nh = max(1, round(width * scale)), max(1, round(height * scale))
    x0, y0 = (W - nw) // 2, (H - nh) // 2
    im = Image.fromarray(np.ascontiguousarray(arr[y0:y0 + nh, x0:x0 + nw]), "RGB")
    if (nw, nh) != (width, height):
        im = im.resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(im).copy()


def fit_note(secret: tuple[int, int], frame: tuple[int, int]) -> str | None:
    """What :func:`fit_letterbox` does to a secret of size ``secret`` (width, height) in a ``frame``, and the
    ``--size`` that undoes it; None when the sizes are equal."""
    (sw, sh), (fw, fh) = secret, frame
    if (sw, sh) == (fw, fh):
        return None
    scale = min(fw / sw, fh / sh)
    nw, nh = max(1, round(sw * scale)), max(1, round(sh * scale))
    if scale < 1:
        change = f"reduced to {nw}×{nh} ({100 * nw * nh / (sw * sh):.1f}% of its pixels; detail is lost)"
    elif scale > 1:
        change = f"enlarged to {nw}×{nh}"
    else:
        change = f"kept at {nw}×{nh}"
    return (f"the secret ({sw}×{sh}) was {change} to fit the {fw}×{fh} cover; reveal with --size {sw}x{sh} to "
            "restore its shape")
