"""Network arithmetic and the CPU it runs on. ``bf16`` is autocast, ``fp32`` plain, and ``auto`` picks bf16 only
where the CPU does bf16 natively (AMX or AVX512-BF16). Elsewhere oneDNN emulates bf16 and it is slower than fp32,
not faster: on a 2-core Cascade Lake, ``deepstego bench`` trains dsnet at 3.4 pairs/s in bf16 against 11.3 in fp32."""

from __future__ import annotations

from functools import cache

import torch

from .errors import DeepStegoError

PRECISIONS = ("auto", "bf16", "fp32")


@cache
def native_bf16() -> bool:
    """True when this CPU has bf16 matrix or vector instructions."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def resolve_precision(precision: str = "auto") -> str:
    """``auto`` → ``bf16`` or ``fp32`` for this CPU; ``bf16`` and ``fp32`` stay as they are."""
    if precision not in PRECISIONS:
        raise DeepStegoError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision


def autocast(precision: str = "auto"):
    """The autocast context for ``precision`` (a no-op context for fp32)."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=resolve_precision(precision) == "bf16")


def machine(precision: str = "auto") -> dict:
    """What a run ran on: the CPU's name, PyTorch's threads, native bf16, and the arithmetic
    ``precision`` resolves to there."""
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "threads": torch.get_num_threads(), "native_bf16": native_bf16(),
            "precision": resolve_precision(precision)}
