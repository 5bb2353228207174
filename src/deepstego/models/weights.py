"""Weights files: ``NAME.safetensors`` (tensors) beside ``NAME.json`` (architecture, config, training recipe,
data manifest hash, metrics and the safetensors file's sha256, checked on every load). Nothing is unpickled."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..data.corpus import sha256_file
from ..errors import DeepStegoError
from ..images import atomic_write
from .base import StegoModel
from .registry import create_model


def sidecar(path: str | Path) -> tuple[Path, Path]:
    """(weights, config) paths for a path given as either file or as the common stem (which may hold dots:
    ``runs/cnn-stealth0.85`` → ``runs/cnn-stealth0.85.safetensors``)."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_weights(model: StegoModel, path: str | Path, **info) -> Path:
    """Write the model's (or detector's) weights and config; ``info`` (recipe, data manifest hash, metrics…) goes in the JSON."""
    wpath, cpath = sidecar(path)
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(wpath, lambda tmp: save_file(state, str(tmp), metadata={"arch": model.arch}))
    meta = {"arch": model.arch, "config": model.config_dict(), **info, "sha256": sha256_file(wpath)}
    atomic_write(cpath, lambda tmp: tmp.write_text(json.dumps(meta, indent=1) + "\n"))
    return wpath


def read_meta(path: str | Path) -> dict:
    _, cpath = sidecar(path)
    if not cpath.exists():
        raise DeepStegoError(f"{cpath}: missing (a weights file needs its JSON config beside it)")
    try:
        meta = json.loads(cpath.read_text())
        meta["arch"], meta["config"], meta["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DeepStegoError(f"{cpath}: not a deepstego weights config ({exc})") from None
    return meta


def load_weights(path: str | Path, factory=create_model):
    """Build the model a weights file describes (``factory(arch, **config)``: stego models by default, detectors
    with theirs) and load its tensors, after checking the sha256."""
    wpath, cpath = sidecar(path)
    if not wpath.exists():
        raise DeepStegoError(f"{wpath}: no such weights file")
    meta = read_meta(path)
    if sha256_file(wpath) != meta["sha256"]:
        raise DeepStegoError(f"{wpath}: sha256 does not match {cpath.name}; the file is corrupted or was replaced")
    model = factory(meta["arch"], **meta["config"])
    try:
        state = load_file(str(wpath))
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DeepStegoError(f"{wpath}: cannot load weights ({first})") from None
    model.meta = meta
    return model.eval()


def shipped_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "weights"


def shipped_weights() -> dict[str, Path]:
    """Name → path of every weights file shipped inside the package."""
    return {p.stem: p for p in sorted(shipped_dir().glob("*.safetensors"))}
