"""The rich-model steganalyser: SRM and SPAM features (``sealwatch``) and the FLD ensemble classifier (Kodovský,
Fridrich & Holub 2012, ``sealwatch.ensemble_classifier``), the classical machine-learning detector that the
published invertible hiders are tested against.

Features are computed on the 8-bit luma (BT.601) of each image:

- ``srmq1+spam`` (the default): the spatial rich model with quantisation step 1 (12,753 co-occurrence features of
  high-pass residuals, 0.8 s per 128² crop on one core here) and SPAM (686, second-order Markov transitions);
- ``srm``: the full spatial rich model (34,671 features, about 3× the time of ``srmq1``);
- ``srmq1`` or ``spam`` alone (``spam`` takes 0.02 s a crop: the quick choice).

The ensemble is stored as tensors in the detector's safetensors file: each FLD learner's feature subspace, weights
and threshold. Its score is the share of learners that vote "stego", as a logit.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from functools import cache

import numpy as np
import torch

from ..errors import DeepStegoError
from . import sealwatch_parts
from .base import Detector

FEATURE_SETS = {
    "spam": ("spam",),
    "srmq1": ("srmq1",),
    "srm": ("srm",),
    "srmq1+spam": ("srmq1", "spam"),
}
_EXTRACTORS = {"spam": "spam.spam", "srmq1": "srm.srmq1", "srm": "srm.srm"}
LUMA = np.array([0.299, 0.587, 0.114])


def _vector(kind: str, luma: np.ndarray) -> np.ndarray:
    values = sealwatch_parts.module(_EXTRACTORS[kind]).extract(luma).values()
    return np.concatenate([np.ravel(v) for v in values])


def image_features(img: np.ndarray, features: str = "srmq1+spam") -> np.ndarray:
    """One 8-bit H×W×3 image → its feature vector (float64)."""
    luma = np.clip(np.round(img.astype(np.float64) @ LUMA), 0, 255).astype(np.uint8)
    return np.concatenate([_vector(kind, luma) for kind in FEATURE_SETS[features]])


def _one(args: tuple[np.ndarray, str]) -> np.ndarray:
    return image_features(*args)


@cache
def _pool(workers: int):
    """Worker processes for the features, started once per process. Spawned, not forked: a child forked while
    torch's threads hold a lock can wait on it forever (it did here, after the refined hider's stego)."""
    import atexit
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    atexit.register(pool.shutdown)  # before the interpreter tears modules down (else a warning at exit)
    return pool


@contextmanager
def _main_left_out():
    """Spawned workers need deepstego's functions only, yet multiprocessing re-runs the parent's main script in
    each of them, which fails in a user's script without an ``if __name__ == "__main__"`` guard; with the main
    module's file and spec hidden while the workers start, it leaves the script alone."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if main is not None and k in main.__dict__}
    try:
        for k in saved:
            setattr(main, k, None)
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


def batch_features(images: torch.Tensor, features: str) -> torch.Tensor:
    """N×3×H×W in [0, 1] → N×F features, one worker process per core (each image on the 8-bit grid first)."""
    u8 = (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    jobs = [(img, features) for img in u8]
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        rows = [_one(j) for j in jobs]
    else:
        with _main_left_out():  # the pool starts its workers as the jobs are submitted
            rows = list(_pool(os.cpu_count()).map(_one, jobs))
    return torch.from_numpy(np.stack(rows))


class RichDetector(Detector):
    """SRM/SPAM features → FLD ensemble. ``fit`` trains it; it has no gradient-trained parameters."""

    method = "srm"

    def __init__(self, features: str = "srmq1+spam", hider: str | None = None, learners: int = 0,
                 subspace: int = 0):
        super().__init__()
        if features not in FEATURE_SETS:
            raise DeepStegoError(f"unknown feature set {features!r}; choose from {', '.join(FEATURE_SETS)}")
        self.config = {"features": features, "hider": hider, "learners": learners, "subspace": subspace}
        self.register_buffer("subspaces", torch.zeros(learners, subspace, dtype=torch.int64))
        self.register_buffer("weights", torch.zeros(learners, subspace, dtype=torch.float64))
        self.register_buffer("thresholds", torch.zeros(learners, dtype=torch.float64))

    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        return batch_features(x, self.config["features"])

    def votes(self, z: torch.Tensor) -> torch.Tensor:
        """Share of learners voting stego, −1…1 (sealwatch's ``predict_confidence``)."""
        if not self.config["learners"]:
            raise DeepStegoError("this srm detector is not trained (deepstego detect train --method srm)")
        z = z.to(torch.float64)
        proj = (z[:, self.subspaces] * self.weights).sum(-1) - self.thresholds  # N×L
        return torch.sign(proj).mean(1)

    def classify(self, z: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
        p = ((self.votes(z) + 1) / 2).clamp(1e-3, 1 - 1e-3)
        return torch.log(p / (1 - p)).float()

    def fit(self, z: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> dict:
        """Train the ensemble (sealwatch's automatic choice of subspace size and number of learners); returns the
        training record."""
        trainer_mod = sealwatch_parts.module("ensemble_classifier.fld_ensemble_trainer")
        x = np.ascontiguousarray(z.numpy(), dtype=np.float64)
        y = labels.numpy().astype(bool)
        n = min(int((~y).sum()), int(y.sum()))  # sealwatch pairs covers with stego: equal counts
        if n < 2:
            raise DeepStegoError("the srm detector needs at least 2 clean and 2 stego examples")
        trainer = trainer_mod.FldEnsembleTrainer(x[~y][:n], x[y][:n], seed=seed + 1, verbose=0)
        ensemble, records = trainer.train()
        learners = ensemble.base_learners
        d = len(learners[0].subspace)
        self.config.update(learners=len(learners), subspace=d)
        self.subspaces = torch.from_numpy(np.stack([np.asarray(b.subspace, dtype=np.int64) for b in learners]))
        self.weights = torch.from_numpy(np.stack([np.ravel(b.learner.w).astype(np.float64) for b in learners]))
        self.thresholds = torch.tensor([float(np.ravel(b.learner.b)[0]) for b in learners], dtype=torch.float64)
        oob = [r["oob_error"] for r in records if isinstance(r, dict) and "oob_error" in r]
        return {"learners": len(learners), "subspace": d, "features": x.shape[1],
                **({"oob_error": float(min(oob))} if oob else {})}
