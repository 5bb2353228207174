"""Robust mode: stego files that survive sharing — JPEG images and H.264 video.

A robust model is one trained through the lossy channel (``deepstego train --channel``, :mod:`deepstego.channel`);
its weights JSON says so in its recipe. Robust hides write ordinary lossy files (a JPEG at ``JPEG_QUALITY`` or a
PNG; an H.264 yuv420p MP4 at ``CRF``), and robust reveals read them, also after someone else re-encoded them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from . import limits
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
