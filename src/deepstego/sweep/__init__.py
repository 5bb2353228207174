"""Hyper-parameter sweeps on Optuna (optional ``[sweep]`` extra) and their report."""

from .report import sweep_report
from .study import DEFAULT_SPACE, run_sweep

__all__ = ["DEFAULT_SPACE", "run_sweep", "sweep_report"]
