"""The pair sampler: crops of the asked size on the 8-bit grid, cover and secret from different photos,
validation held out by photo."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from deepstego.data import manifest_hash, PairSampler, PhotoBank, list_images, split_by_photo
from deepstego.errors import DeepStegoError


def test_split_is_by_photo(train_folder):
    paths = list_images(train_folder)
    train, val = split_by_photo(paths, 0.25, seed=0)
    assert set(train).isdisjoint(val) and len(train) + len(val) == len(paths) and len(val) >= 1


def test_pairs_come_from_different_photos(train_folder):
    bank = PhotoBank(list_images(train_folder), max_side=256)
    # tag each photo by a unique constant colour so a crop tells which photo it came from
    bank.images = [Image.new("RGB", im.size, (40 * (i + 1),) * 3) for i, im in enumerate(bank.images)]
    sampler = PairSampler(bank, 32, seed=0, brightness=0, contrast=0)
    cover, secret = sampler.sample(64)
    assert cover.shape == (64, 3, 32, 32) and secret.shape == cover.shape
    assert torch.equal(torch.round(cover * 255), cover * 255)
    cid, sid = cover.mean(dim=(1, 2, 3)), secret.mean(dim=(1, 2, 3))
    assert (cid != sid).all()
    assert len(set(cid.tolist())) == len(bank)  # every photo gets used


def test_sampler_is_reproducible(train_folder):
    bank = PhotoBank(list_images(train_folder), max_side=256)
    a = PairSampler(bank, 48, seed=3).sample(4)
    b = PairSampler(bank, 48, seed=3).sample(4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_max_zoom_sets_the_crop_scale(train_folder):
    """A 1-px checkerboard keeps its full contrast only in 1:1 crops; zoomed-out crops average it towards grey."""
    bank = PhotoBank(list_images(train_folder), max_side=256)
    checker = Image.fromarray(((np.indices((512, 512)).sum(0) % 2) * 255).astype(np.uint8)).convert("RGB")
    bank.images = [checker, checker.copy()]
    flat = dict(brightness=0, contrast=0)
    one = PairSampler(bank, 32, seed=0, max_zoom=1, **flat).sample(32)[0]
    assert torch.allclose(one.std(dim=(1, 2, 3)), torch.full((32,), 0.5), atol=0.01)
    eight = PairSampler(bank, 32, seed=0, max_zoom=8, **flat).sample(64)[0]
    assert (eight.std(dim=(1, 2, 3)) < 0.4).float().mean() > 0.6
    with pytest.raises(DeepStegoError):
        PairSampler(bank, 32, max_zoom=0.5)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs Debian's apt-get")
def test_data_prepare_keeps_only_photos(tmp_path):
    """Download one wallpaper package from Debian and check the corpus and its manifest."""
    from .conftest import run_cli

    out = tmp_path / "photos"
    proc = run_cli("data", "prepare", "--out", out, "--package", "lomiri-wallpapers-16.04")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    names = [e["file"] for e in manifest["files"]]
    assert len(names) == 13
    assert not any("umang" in n or "analogpattern" in n for n in names)  # the synthetic wallpapers
    for e in manifest["files"]:
        assert hashlib.sha256((out / e["file"]).read_bytes()).hexdigest() == e["sha256"]
        assert min(e["width"], e["height"]) >= 1000
    assert manifest["sha256"] == manifest_hash(manifest)
