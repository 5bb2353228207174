"""The interface every detector shares."""

from __future__ import annotations

import torch
from torch import nn


class Detector(nn.Module):
    """Common interface: ``method``, ``config`` (rebuilds the detector), ``forward(x[, reference]) → logits``.

    ``forward`` is ``classify(frozen(x), reference)``: ``frozen`` holds the parts that are not trained, so training
    computes it once per example instead of once per epoch.
    """

    method = ""
    needs_reference = False

    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def classify(self, z: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        return self.classify(self.frozen(x), reference)

    def config_dict(self) -> dict:
        return dict(self.config)

    @property
    def arch(self) -> str:
        return f"detector-{self.method}"
