"""Hiding architectures (prep + hide + reveal networks), their registry and their weights files."""

from . import baluja, dsnet, lsb  # noqa: F401  (registration)
from .base import StegoModel, StegoOutput
from .registry import create_model, list_models, model_entry, register_model

__all__ = ["StegoModel", "StegoOutput", "create_model", "list_models", "model_entry", "register_model"]
