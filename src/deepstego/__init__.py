"""deepstego: hide a colour image inside another (and a video inside a video) with small convolutional networks.

The plain API: :func:`load_model`, :func:`hide`, :func:`reveal`, :func:`hide_video`, :func:`reveal_video`; keys:
:class:`Key`; the registry: :func:`list_models`, :func:`create_model`. Names are imported on first use, so
``import deepstego`` (and the command line's start, which installs its signal handlers first) stays light.
"""

from importlib import import_module

from .errors import DeepStegoError

_LAZY = {"hide": "core", "load_model": "core", "reveal": "core", "create_model": "models", "list_models": "models",
         "hide_video": "video", "reveal_video": "video", "Key": "keys"}

__all__ = ["DeepStegoError", "Key", "create_model", "hide", "hide_video", "list_models", "load_model", "reveal",
           "reveal_video"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
