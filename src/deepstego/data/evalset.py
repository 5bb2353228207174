"""The development evaluation photos: photographs shipped inside PyPI wheels, never trained on."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import DeepStegoError

# (package, path inside the package)
EVAL_PHOTOS = (
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/chelsea.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/rocket.jpg"),
    ("skimage", "data/motorcycle_left.png"),
    ("skimage", "data/motorcycle_right.png"),
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
)


def package_file(package: str, rel: str) -> Path:
    """Path of a data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DeepStegoError(f"this needs the photos and videos shipped in the '{package}' package: "
                             "pip install 'deepstego[eval]'")
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.exists():
        raise DeepStegoError(f"{path} is missing from the installed {package}")
    return path


def eval_photos() -> list[Path]:
    return [package_file(pkg, rel) for pkg, rel in EVAL_PHOTOS]
