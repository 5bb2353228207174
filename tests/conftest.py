"""Shared fixtures: real photos from installed wheels, never synthetic stand-ins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deepstego.data.evalset import eval_photos, package_file

ROOT = Path(__file__).resolve().parent.parent


def skimage_photo(name: str) -> Path:
    return package_file("skimage", f"data/{name}")


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    """The evaluation photos (scikit-image, scikit-learn, matplotlib)."""
    return eval_photos()


@pytest.fixture(scope="session")
def train_folder(tmp_path_factory) -> Path:
    """A small training folder of colour photos that are not in the evaluation set."""
    folder = tmp_path_factory.mktemp("train_photos")
    for name in ("hubble_deep_field.jpg", "ihc.png", "retina.jpg", "coffee.png"):
        Image.open(skimage_photo(name)).convert("RGB").save(folder / (Path(name).stem + ".png"))
    return folder


def square(path: Path, size: int) -> np.ndarray:
    from deepstego.evaluate import centre_square

    return centre_square(path, size)


def run_cli(*args: str, check: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed console script as a user would; ``env`` adds environment variables."""
    exe = Path(sys.executable).parent / "deepstego"
    proc = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, timeout=600,
                          env=None if env is None else {**os.environ, **env})
    if check and proc.returncode != 0:
        raise AssertionError(f"deepstego {' '.join(map(str, args))} failed: {proc.stderr}")
    return proc
