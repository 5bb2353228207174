"""sealwatch's modules without its package ``__init__``.

``import sealwatch`` imports every part of the package, among them its pretrained XuNet (torchvision, a CUDA build
here), its JPEG tools (jpeglib) and its feature files (h5py), none of which this project installs or needs. The
parts deepstego uses — SPA, the SRM and SPAM features, the FLD ensemble — need only numpy and scipy. ``module``
imports one of them under empty parent packages, so only that module and its own imports run.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types
from functools import cache

from ..errors import DeepStegoError

INSTALL_HINT = "pip install --no-deps sealwatch==2025.9 (make install does this)"
# parents whose __init__ would import the whole toolbox; the modules under them import only what they need
_PARENTS = ("", "tools", "ensemble_classifier")


@cache
def _root() -> str:
    from ..data.evalset import package_file

    try:
        return str(package_file("sealwatch", ""))
    except DeepStegoError:
        raise DeepStegoError(f"this attack needs sealwatch: {INSTALL_HINT}") from None


def module(name: str) -> types.ModuleType:
    """``sealwatch.NAME`` (e.g. ``srm.srmq1``, ``ensemble_classifier.fld_ensemble_trainer``)."""
    root = _root()
    for parent in _PARENTS:
        full = "sealwatch" + (f".{parent}" if parent else "")
        if full not in sys.modules:
            stub = types.ModuleType(full)
            stub.__path__ = [f"{root}/{parent}" if parent else root]
            sys.modules[full] = stub
    # what the ensemble trainer takes from sealwatch.tools: a logger (quiet unless logging is set up) and the
    # MATLAB-compatible random permutations
    tools = sys.modules["sealwatch.tools"]
    if not hasattr(tools, "setup_custom_logger"):
        tools.setup_custom_logger = lambda name: logging.getLogger(f"sealwatch.{name}")
        importlib.import_module("sealwatch.tools.matlab")
    return importlib.import_module(f"sealwatch.{name}")
