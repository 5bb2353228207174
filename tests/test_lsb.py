"""The classical LSB baseline reaches its known fidelity through real PNG files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import deepstego
from deepstego.metrics import image_metrics

from .conftest import square


@pytest.mark.parametrize("bits,lo,hi", [(4, 33.5, 35.5), (3, 28.5, 30.5)])
def test_lsb_secret_psnr(photos, tmp_path, bits, lo, hi):
    psnrs = []
    for i in range(len(photos)):
        cover, secret = square(photos[i], 256), square(photos[(i + 1) % len(photos)], 256)
        stego = deepstego.hide(cover, secret, model=f"lsb:{bits}")
        Image.fromarray(stego).save(tmp_path / "s.png")
        revealed = deepstego.reveal(np.asarray(Image.open(tmp_path / "s.png")), model=f"lsb:{bits}")
        psnrs.append(image_metrics(secret, revealed)["psnr"])
        # the cover keeps its top bits exactly
        assert ((stego >> bits) == (cover >> bits)).all()
    assert lo <= np.mean(psnrs) <= hi
