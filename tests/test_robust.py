"""Robust mode: the lossy channel used in training, stego files that survive someone else's JPEG and H.264
re-encodes, and its bad input."""

from __future__ import annotations

import io
import shutil

import av
import numpy as np
import pytest
import torch
from PIL import Image

from deepstego import channel
from deepstego.images import to_tensor
from deepstego.metrics import psnr, ssim
from deepstego.models.weights import shipped_weights
from deepstego.robust import ROBUST_MODEL

from .conftest import run_cli, skimage_photo, square
from .test_errors import _assert_clean_failure
from .videos import make_clip, read_frames

needs_model = pytest.mark.skipif(ROBUST_MODEL not in shipped_weights(), reason=f"{ROBUST_MODEL} is not shipped")


def _batch(names=("astronaut.png", "coffee.png", "chelsea.png"), side=128) -> torch.Tensor:
    return torch.cat([to_tensor(square(skimage_photo(n), side)) for n in names])


@pytest.mark.parametrize("quality", [70, 90])
def test_jpeg_proxy_is_close_to_pillow(quality):
    """The differentiable JPEG lands near Pillow's (10 dB closer to it than the codec is to the photos), and
    passes a gradient."""
    x = _batch().requires_grad_()
    proxy, real = channel.jpeg_proxy(x, quality), channel.real_jpeg(x, quality)
    gap = psnr(proxy.detach(), real.detach()) - psnr(x.detach(), real.detach())
    assert float(gap.min()) > 8 and float(gap.mean()) > 10
    proxy.sum().backward()
    assert float(x.grad.abs().mean()) > 0.5


def test_real_codecs_pass_straight_through():
    x = _batch().requires_grad_()
    y = channel.real_h264(x, 28)
    frames = channel.h264_frames(channel._to_uint8(x), 28)
    assert np.array_equal(channel._to_uint8(y), frames)
    assert 25 < float(psnr(x.detach(), y.detach()).mean()) < 45
    y.sum().backward()
    assert torch.allclose(x.grad, torch.ones_like(x))


def test_channel_draws_every_step():
    ch = channel.Channel(seed=0)
    x = _batch(side=64)
    changed = [float((ch(x) - x).abs().mean()) for _ in range(40)]
    assert sum(c == 0 for c in changed) > 0 and sum(c > 0 for c in changed) > 20


def _resave_jpeg(src, dst, quality=90):
    with Image.open(src) as im:
        im.convert("RGB").save(dst, format="JPEG", quality=quality)
    return dst


@needs_model
def test_robust_image_survives_someone_elses_jpeg(tmp_path):
    cover, secret = tmp_path / "cover.png", tmp_path / "secret.png"
    Image.fromarray(square(skimage_photo("coffee.png"), 256)).save(cover)
    Image.fromarray(square(skimage_photo("astronaut.png"), 256)).save(secret)
    stego = tmp_path / "stego.jpg"
    run_cli("hide", cover, secret, "-o", stego, "--robust", check=True)
    with Image.open(stego) as im:
        assert im.format == "JPEG"
    shared = _resave_jpeg(stego, tmp_path / "shared.jpg")
    out = tmp_path / "revealed.png"
    proc = run_cli("reveal", shared, "-o", out, "--robust", check=True)
    assert "warning" not in proc.stderr
    c, s = to_tensor(np.asarray(Image.open(cover))), to_tensor(np.asarray(Image.open(secret)))
    st, rv = to_tensor(np.asarray(Image.open(shared).convert("RGB"))), to_tensor(np.asarray(Image.open(out)))
    assert float(ssim(s, rv)) > 0.75
    assert float(ssim(c, st)) > 0.9
    # the lossless default reads nothing from the same kind of file
    png = tmp_path / "plain.png"
    run_cli("hide", cover, secret, "-o", png, "--refine", "0", check=True)
    plain = run_cli("reveal", _resave_jpeg(png, tmp_path / "plain.jpg"), "-o", tmp_path / "r2.png", check=True)
    assert "lossy" in plain.stderr
    assert float(ssim(s, to_tensor(np.asarray(Image.open(tmp_path / "r2.png"))))) < float(ssim(s, rv)) - 0.2


@needs_model
def test_robust_reveal_of_a_lossless_file_warns(tmp_path):
    cover = tmp_path / "cover.png"
    Image.fromarray(square(skimage_photo("coffee.png"), 128)).save(cover)
    proc = run_cli("reveal", cover, "-o", tmp_path / "r.png", "--robust", check=True)
    assert "lossless PNG" in proc.stderr and "without --robust" in proc.stderr


@needs_model
def test_robust_video_survives_an_h264_reencode(tmp_path):
    cover = make_clip(tmp_path / "cover.mp4", "coffee.png", 12, 160, 128)
    secret = make_clip(tmp_path / "secret.mp4", "astronaut.png", 12, 160, 128)
    stego = tmp_path / "stego.mp4"
    run_cli("hide", cover, secret, "-o", stego, "--robust", "--quiet", check=True)
    with av.open(str(stego)) as c:
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.video[0].format.name == "yuv420p"
    shared = tmp_path / "shared.mp4"
    with av.open(str(stego)) as inp, av.open(str(shared), "w") as out:  # someone else's re-encode at crf 23
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt, vs.options = 160, 128, "yuv420p", {"crf": "23"}
        for f in inp.decode(video=0):
            out.mux(vs.encode(av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24")))
        out.mux(vs.encode())
    revealed = tmp_path / "revealed.mkv"
    run_cli("reveal", shared, "-o", revealed, "--robust", "--lossless", "--quiet", check=True)
    got = read_frames(revealed)
    want = read_frames(secret)
    scores = [float(ssim(to_tensor(a), to_tensor(b))) for a, b in zip(want, got)]
    assert len(scores) == 12 and np.mean(scores) > 0.7


@pytest.fixture
def pair(tmp_path):
    cover = tmp_path / "cover.png"
    shutil.copy(skimage_photo("astronaut.png"), cover)
    return cover


@pytest.mark.parametrize("args, contains", [
    (["--quality", "90"], "needs --robust"),
    (["--robust", "--quality", "0"], "--quality"),
    (["--robust", "--quality", "101"], "--quality"),
    (["--robust", "--crf", "23"], "apply to videos"),
    (["--robust", "--model", "dsnet-v2"], "not trained for lossy channels"),
    (["--robust", "--model", "lsb:4"], "not trained for lossy channels"),
])
def test_robust_image_bad_input(tmp_path, pair, args, contains):
    out = tmp_path / "stego.jpg"
    _assert_clean_failure(run_cli("hide", pair, pair, "-o", out, *args), out, contains=contains)


def test_robust_image_needs_a_jpeg_or_png_name(tmp_path, pair):
    out = tmp_path / "stego.bmp"
    _assert_clean_failure(run_cli("hide", pair, pair, "-o", out, "--robust"), out, contains="JPEG (.jpg")


def test_plain_hide_refuses_a_jpeg_name(tmp_path, pair):
    out = tmp_path / "stego.jpg"
    _assert_clean_failure(run_cli("hide", pair, pair, "-o", out, "--refine", "0"), out, contains="PNG")


@pytest.mark.parametrize("args, contains", [
    (["--robust", "--codec", "ffv1"], "lossless"),
    (["--robust", "--crf", "52"], "--crf"),
    (["--robust", "--crf", "-1"], "--crf"),
    (["--crf", "20"], "applies to --robust"),
    (["--robust", "--quality", "90"], "for videos, use --crf"),
])
def test_robust_video_bad_input(tmp_path, args, contains):
    clip = make_clip(tmp_path / "clip.mp4", "coffee.png", 4, 64, 48)
    out = tmp_path / "stego.mp4"
    _assert_clean_failure(run_cli("hide", clip, clip, "-o", out, "--quiet", *args), out, contains=contains)
