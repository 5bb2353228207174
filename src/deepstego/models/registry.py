"""The one table of hiding architectures: name → builder and config dataclass.

CLI choices, the app's dropdown, the benchmarks and the parametrised tests are all generated from
:func:`list_models`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from ..errors import DeepStegoError
from .base import StegoModel


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., StegoModel]
    config_cls: type
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str, config_cls: type, description: str):
    """Class decorator registering a :class:`StegoModel` subclass under ``name``."""

    def wrap(cls):
        cls.arch = name
        _REGISTRY[name] = ModelEntry(name, cls, config_cls, description)
        return cls

    return wrap


def list_models() -> list[str]:
    """Names of every registered architecture, in registration order."""
    return list(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DeepStegoError(f"unknown architecture {name!r}; choose from {', '.join(_REGISTRY)}") from None


def create_model(name: str, **cfg) -> StegoModel:
    """Build architecture ``name`` with untrained weights; ``cfg`` overrides fields of its config dataclass."""
    entry = model_entry(name)
    fields = {f.name for f in dataclasses.fields(entry.config_cls)}
    unknown = set(cfg) - fields
    if unknown:
        raise DeepStegoError(f"{name} has no option(s) {', '.join(sorted(unknown))}; it takes {', '.join(sorted(fields))}")
    try:
        return entry.builder(entry.config_cls(**cfg))
    except (ValueError, TypeError) as exc:
        raise DeepStegoError(f"cannot build {name}: {exc}") from None
