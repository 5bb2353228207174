"""Network arithmetic and the CPU it runs on. ``bf16`` is autocast, ``fp32`` plain, and ``auto`` picks bf16 only
where the CPU does bf16 natively (AMX or AVX512-BF16). Elsewhere oneDNN emulates bf16 and it is slower than fp32,
not faster: on a 2-core Cascade Lake, ``deepstego bench`` trains dsnet at 3.4 pairs/s in bf16 against 11.3 in fp32."""

from __future__ import annotations

import ctypes
import os
import sys
from functools import cache

from .errors import DeepStegoError

PRECISIONS = ("auto", "bf16", "fp32")
DEVICES = ("cpu", "cuda")  # where training runs; inference is CPU-only
# torch is imported where it is used: the command line reads PRECISIONS before it starts any work


@cache
def native_bf16() -> bool:
    """True when this CPU has bf16 matrix or vector instructions."""
    import torch

    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision: str = "auto", device: str = "cpu") -> str:
    """``auto`` → ``bf16`` or ``fp32`` for this CPU, and ``bf16`` on a CUDA device (every GPU that training here
    targets does it natively); ``bf16`` and ``fp32`` stay as they are."""
    if precision not in PRECISIONS:
        raise DeepStegoError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return "bf16" if device == "cuda" or native_bf16() else "fp32"
    return precision


def autocast(precision: str = "auto", device: str = "cpu"):
    """The autocast context for ``precision`` on ``device`` (a no-op context for fp32)."""
    import torch

    return torch.autocast(device, dtype=torch.bfloat16, enabled=resolve_precision(precision, device) == "bf16")


def machine(precision: str = "auto", device: str = "cpu") -> dict:
    """What a run ran on: the CPU's name, PyTorch's threads, native bf16, and the arithmetic
    ``precision`` resolves to there (and the GPU's name when ``device`` is cuda)."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    if device == "cuda":
        return {"cpu": cpu, "gpu": torch.cuda.get_device_name(), "precision": resolve_precision(precision, device)}
    return {"cpu": cpu, "threads": torch.get_num_threads(), "native_bf16": native_bf16(),
            "precision": resolve_precision(precision)}


@cache
def keep_freed_memory() -> bool:
    """Let glibc keep large freed blocks for reuse instead of handing each back to the kernel.

    PyTorch allocates every activation afresh at each call and frees it after; with glibc's defaults a block of
    tens of MB (one 32-channel activation of a 720p frame is 30 MB) is a fresh ``mmap`` whose pages all fault in
    again, every call. Raising the mmap and trim thresholds keeps them in the heap: 720p hide + reveal with dsnet-v2
    takes about a quarter less time here (``tools/frame_speed.py``). The price is that up to 1 GiB of freed memory
    stays with the process. Applied once, by :func:`deepstego.load_model`, the benchmark and training; off with
    ``DEEPSTEGO_KEEP_FREED_MEMORY=0``; False where it is off or the C library is not glibc."""
    if not sys.platform.startswith("linux") or os.environ.get("DEEPSTEGO_KEEP_FREED_MEMORY") == "0":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    # glibc before 2.35 refuses mmap thresholds above 32 MiB: fall back to that, which still covers a 720p activation
    kept = bool(mallopt(m_mmap_threshold, 512 << 20) or mallopt(m_mmap_threshold, 32 << 20))
    return bool(mallopt(m_trim_threshold, 1 << 30)) and kept
