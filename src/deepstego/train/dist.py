"""Distributed data parallel training: ``deepstego train`` run under ``torchrun`` uses every process.

gloo on CPUs, NCCL on GPUs. Rank 0 alone writes checkpoints, weights, metrics and grids; every rank draws its own
pairs (its own sampler seed), and the global batch is split across ranks.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def broadcast_float(value: float, world: int) -> float:
    """Rank 0's value on every rank (keeps time budgets and stop decisions identical)."""
    if world <= 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(t, 0)
    return float(t.item())


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def shutdown(world: int) -> None:
    if world > 1 and dist.is_initialized():
        dist.destroy_process_group()
