"""Bounds on every size, count and duration a user can ask for, checked before any work starts.

Without them a typo (``--size 100000x100000``, ``--batch 100000``) allocates until the kernel kills the process
with no message. Each bound is far above what the two-core CPU this project targets would finish in reasonable
time, and low enough that the request fits in its memory; a request over a bound gets the same one-line error as
the 64-megapixel image guard.
"""

from __future__ import annotations

import operator

from .errors import DeepStegoError

MAX_PIXELS = 64_000_000  # images, revealed sizes and video frames
MAX_SIDE = 32_768
MAX_BATCH = 64  # video frames per network call (a 720p frame's activations are about 30 MB each)
MAX_REFINE_STEPS = 1000
MAX_REFINE_SECONDS = 24 * 3600
MAX_REFINE_BUDGET = 100.0  # video refinement's time as a multiple of the network pass's
MAX_TRAIN_SIZE = 1024  # training and detector crops, evaluation crops
MAX_TRAIN_BATCH = 1024
MAX_STEPS = 10_000_000  # epochs, steps per epoch, detector pairs, sweep trials
MAX_VIDEO_FRAMES = 1_000_000  # frames a video's metadata may claim


def count(name: str, value, low: int, high: int) -> int:
    """``value`` as a whole number in low..high, or a one-line error naming ``name``."""
    try:
        value = operator.index(value)
    except TypeError:
        raise DeepStegoError(f"{name} must be a whole number, got {value!r}") from None
    if not low <= value <= high:
        raise DeepStegoError(f"{name} must be {low} or more and at most {high:,}, got {value:,}")
    return value


def share(name: str, value, high: float) -> float:
    """``value`` as a non-negative multiple, at most ``high``, or a one-line error naming ``name``."""
    return _real(name, value, high, zero=True, unit="")


def fraction(name: str, value) -> float:
    """``value`` as a share more than 0 and at most 1, or a one-line error naming ``name``."""
    return _real(name, value, 1.0, zero=False, unit="")


def seconds(name: str, value, high: float) -> float:
    """``value`` as a duration in seconds, more than 0 and at most ``high``, or a one-line error naming ``name``."""
    return _real(name, value, high, zero=False, unit=" seconds")


def _real(name: str, value, high: float, *, zero: bool, unit: str) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise DeepStegoError(f"{name} must be a number{' of' + unit if unit else ''}, got {value!r}") from None
    if not (0 <= value if zero else 0 < value) or not value <= high:  # also refuses NaN
        low = "0 or more" if zero else "more than 0"
        top = f"{high:g}" if not unit else f"{high:,.0f}{unit}"
        raise DeepStegoError(f"{name} must be {low} and at most {top}, got {value:g}")
    return value


def picture(name: str, width, height) -> tuple[int, int]:
    """A width×height the program will allocate: positive sides, at most MAX_SIDE each and MAX_PIXELS in all."""
    width, height = count(f"{name} width", width, 1, 2**62), count(f"{name} height", height, 1, 2**62)
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise DeepStegoError(f"{name} {width}×{height} is too large; the limit is {MAX_PIXELS // 1_000_000} "
                             f"megapixels and {MAX_SIDE:,} px a side")
    return width, height
