"""The stealth image hider: syndrome-trellis codes, and hide → PNG → reveal through the API and the console script."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import deepstego
from deepstego import stc
from deepstego.metrics import image_metrics

from .conftest import run_cli, square
from .test_errors import _assert_clean_failure


@pytest.mark.parametrize("n, share", [(20_000, 0.05), (49_152, 0.15), (30_001, 0.5)])
def test_trellis_carries_the_message_and_changes_few_cheap_bits(n, share):
    """extract(embed(…)) is the message; it changes far fewer bits than writing the message outright would (half of
    them), never a bit of infinite cost, and puts its changes where they cost least."""
    rng = np.random.default_rng(n)
    layout = stc.Layout.of(n, int(share * n))
    assert min(share * n, n // 2) - 8 * (layout.segments + 1) <= layout.bits <= share * n
    cover = rng.integers(0, 2, n).astype(np.uint8)
    costs = rng.random(n) * 10 + 0.1
    costs[rng.random(n) < (0.2 if share < 0.5 else 0.0)] = np.inf  # wet: must not change
    message = rng.integers(0, 2, layout.bits).astype(np.uint8)
    stego = stc.embed(cover, costs, message, layout)
    assert np.array_equal(stc.extract(stego, layout), message)
    changed = stego != cover
    assert np.isfinite(costs[changed]).all()
    assert changed.sum() < 0.5 * layout.bits
    finite = np.isfinite(costs)
    assert costs[changed].mean() < 0.7 * costs[finite].mean()
    assert not np.array_equal(stc.extract(stego ^ (rng.random(n) < 0.01), layout), message)
    with pytest.raises(ValueError, match="forbidden"):
        stc.embed(cover, np.full(n, np.inf), 1 - stc.extract(cover, layout), layout)


def test_stealth_hide_round_trip_keys_and_changes(photos, tmp_path, monkeypatch):
    """hide(stealth=True) → PNG → reveal(stealth=True): the secret comes back at SSIM > 0.8 with the key; the stego
    differs from the cover by one level in under 6 % of its values; another key, no key, or a stego changed by a
    JPEG save is an error, not noise; without any key the public seal still round-trips."""
    monkeypatch.delenv("DEEPSTEGO_KEY", raising=False)  # "no key" must mean none
    cover, secret = square(photos[2], 192), square(photos[3], 192)
    stego = deepstego.hide(cover, secret, stealth=True, key="stealth test key")
    Image.fromarray(stego).save(tmp_path / "stego.png")
    diff = np.abs(np.asarray(Image.open(tmp_path / "stego.png")).astype(int) - cover.astype(int))
    assert diff.max() == 1 and 0 < (diff > 0).mean() < 0.06, ((diff > 0).mean(),)
    assert image_metrics(cover, stego)["ssim"] > 0.999
    revealed = np.asarray(deepstego.reveal(tmp_path / "stego.png", stealth=True, key="stealth test key"))
    assert image_metrics(secret, revealed)["ssim"] > 0.8
    Image.fromarray(stego).save(tmp_path / "stego.jpg", quality=95)
    for kw in ({"key": "another key"}, {}, {"key": "stealth test key", "src": tmp_path / "stego.jpg"}):
        src = kw.pop("src", tmp_path / "stego.png")
        with pytest.raises(deepstego.DeepStegoError, match="no stealth-hidden secret"):
            deepstego.reveal(src, stealth=True, **kw)
    public = deepstego.hide(cover, secret, stealth=True)
    assert image_metrics(secret, np.asarray(deepstego.reveal(public, stealth=True)))["ssim"] > 0.8


def test_stealth_cli_round_trip_and_errors(photos, tmp_path):
    """The console script: hide --stealth and reveal --stealth with a key file; a wrong key, --stealth with a
    network's refinement, or on a video, is one line and exit 2, with no output written."""
    cover, secret = tmp_path / "cover.png", tmp_path / "secret.png"
    Image.fromarray(square(photos[5], 160)).save(cover)
    Image.fromarray(square(photos[6], 160)).save(secret)
    (tmp_path / "key").write_text("a key in a file\n")
    stego, out = tmp_path / "stego.png", tmp_path / "revealed.png"
    run_cli("hide", cover, secret, "-o", stego, "--stealth", "--key-file", tmp_path / "key", check=True)
    run_cli("reveal", stego, "-o", out, "--stealth", "--key-file", tmp_path / "key", check=True)
    assert image_metrics(np.asarray(Image.open(secret)), np.asarray(Image.open(out)))["ssim"] > 0.75
    bad = tmp_path / "bad.png"
    _assert_clean_failure(run_cli("reveal", stego, "-o", bad, "--stealth", "--key", "wrong"), bad,
                          contains="no stealth-hidden secret")
    _assert_clean_failure(run_cli("hide", cover, secret, "-o", bad, "--stealth", "--refine", "5"), bad,
                          contains="take none")
    _assert_clean_failure(run_cli("reveal", stego, "-o", bad, "--stealth", "--robust"), bad,
                          contains="either robust or stealth")
    _assert_clean_failure(run_cli("reveal", stego, "-o", bad, "--stealth", "--model", "dsnet-v2"), bad,
                          contains="reveals without --stealth")
    tiny = tmp_path / "tiny.png"
    Image.fromarray(square(photos[5], 16)).save(tiny)
    _assert_clean_failure(run_cli("hide", tiny, secret, "-o", bad, "--stealth"), bad, contains="too small")


def test_grey_cover_stays_grey_and_eval_measures_the_hider(photos):
    """A grey cover (R = G = B) gets its changes in one plane, copied to all three, so the stego stays grey and
    still reveals; ``evaluate(stealth=True)`` measures the stealth image hider through saved PNGs and refuses
    refinement."""
    from deepstego.evaluate import evaluate

    grey = np.repeat(square(photos[1], 128).mean(-1, keepdims=True).astype(np.uint8), 3, axis=-1)
    secret = square(photos[4], 128)
    stego = deepstego.hide(grey, secret, stealth=True, key="grey")
    assert (stego[..., 0] == stego[..., 1]).all() and (stego[..., 0] == stego[..., 2]).all()
    assert (stego != grey).any()
    revealed = np.asarray(deepstego.reveal(stego, stealth=True, key="grey"))  # a third of the room: a coarse secret
    own, other = (image_metrics(s, revealed)["ssim"] for s in (secret, square(photos[5], 128)))
    assert own > 0.4 and own > other + 0.15, (own, other)
    res = evaluate(images=photos[:2], size=128, stealth=True)
    assert res["model"] == "avif-stc" and res["refine"] == 0 and res["stealth"]["payload"] == 0.15
    assert res["mean"]["cover_ssim"] > 0.999 and res["mean"]["secret_ssim"] > 0.7
    with pytest.raises(deepstego.DeepStegoError, match="takes none"):
        evaluate(images=photos[:2], size=128, stealth=True, refine=3)
