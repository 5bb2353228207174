"""Training pairs from any folder of photos: random crops, cover and secret from different photos, the seed's
augmentations (rotations, flips, brightness and contrast), and a validation split held out by photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DeepStegoError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def list_images(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DeepStegoError(f"{folder}: no such folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
    if len(paths) < 2:
        raise DeepStegoError(f"{folder}: needs at least 2 photos, found {len(paths)}")
    return paths


def split_by_photo(paths: list[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """Hold out whole photos for validation (at least one when there are 4 or more photos)."""
    order = np.random.default_rng(seed).permutation(len(paths))
    n_val = int(round(len(paths) * val_fraction))
    if val_fraction > 0 and len(paths) >= 4:
        n_val = max(n_val, 2)
    n_val = min(n_val, len(paths) - 2)
    val = sorted(paths[i] for i in order[:n_val])
    train = sorted(paths[i] for i in order[n_val:])
    return train, val


class PhotoBank:
    """Photos held in memory as RGB PIL images, downscaled so the longer side is at most ``max_side``.

    Downscaling keeps training crops at the scale of everyday photos rather than 5K close-ups.
    """

    def __init__(self, paths: list[Path], max_side: int = 1024, min_side: int = 64):
        self.paths = list(paths)
        self.images: list[Image.Image] = []
        for p in self.paths:
            try:
                with Image.open(p) as im:
                    im = im.convert("RGB")
                    s = max_side / max(im.size)
                    if s < 1:
                        im = im.resize((round(im.width * s), round(im.height * s)), Image.Resampling.LANCZOS)
                    im.load()
            except OSError as exc:
                raise DeepStegoError(f"{p}: unreadable image ({exc})") from None
            if min(im.size) < min_side:
                raise DeepStegoError(f"{p}: too small for training ({im.width}×{im.height})")
            self.images.append(im)

    def __len__(self) -> int:
        return len(self.images)


class PairSampler:
    """Draws batches of (cover, secret) pairs: N×3×size×size float tensors in [0, 1] on the 8-bit grid.

    Each crop has a random side between ``size`` and ``size·max_zoom`` (capped by the photo; log-uniform, so each
    octave of scale is equally likely: with a large ``max_zoom`` a crop can hold most of a downscaled photo, the
    scale of the evaluation crops), is resized to ``size``, rotated by a multiple of 90°, maybe flipped, and gets a
    brightness shift (±``brightness``) and a contrast factor (1 ± ``contrast``). Cover and secret always come from different photos. Work is done with
    PIL and NumPy on one thread, leaving PyTorch's threads to the network.
    """

    def __init__(self, bank: PhotoBank, size: int, *, seed: int = 0, max_zoom: float = 2.0,
                 brightness: float = 0.1, contrast: float = 0.2, augment: bool = True):
        if len(bank) < 2:
            raise DeepStegoError("training needs at least 2 photos")
        if max_zoom < 1:
            raise DeepStegoError(f"max zoom must be at least 1 (crops no smaller than the training size), not {max_zoom}")
        self.bank, self.size, self.max_zoom = bank, size, max_zoom
        self.brightness, self.contrast, self.augment = brightness, contrast, augment
        self.rng = np.random.default_rng(seed)

    def _crop(self, img: Image.Image) -> np.ndarray:
        rng, size = self.rng, self.size
        w, h = img.size
        hi = min(h, w, int(size * self.max_zoom)) if self.augment else min(h, w, size)
        lo = min(size, hi)
        # no draw when there is no choice, so fixed (validation, evaluation) crops keep their positions
        side = lo if hi <= lo else int(round(lo * (hi / lo) ** rng.random()))
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = img.crop((x, y, x + side, y + side))
        if side != size:
            crop = crop.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
        arr = np.asarray(crop, dtype=np.float32) / 255.0
        if self.augment:
            arr = np.rot90(arr, int(rng.integers(0, 4)))
            if rng.random() < 0.5:
                arr = arr[:, ::-1]
            mean = arr.mean()
            arr = (arr - mean) * (1 + rng.uniform(-self.contrast, self.contrast)) + mean
            arr = arr + rng.uniform(-self.brightness, self.brightness)
        # real covers and secrets are 8-bit images
        return np.round(np.clip(arr, 0, 1) * 255) / 255

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        covers, secrets = [], []
        n = len(self.bank)
        for _ in range(batch):
            i, j = self.rng.choice(n, size=2, replace=False)
            covers.append(self._crop(self.bank.images[i]))
            secrets.append(self._crop(self.bank.images[j]))
        to = lambda xs: torch.from_numpy(np.ascontiguousarray(np.stack(xs), dtype=np.float32)).permute(0, 3, 1, 2)
        return to(covers), to(secrets)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def fixed_pairs(bank: PhotoBank, size: int, n: int, seed: int = 1234) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic set of pairs (no augmentation) for validation and sample grids."""
    return PairSampler(bank, size, seed=seed, augment=False).sample(n)
