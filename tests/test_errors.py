"""Bad input: one line on stderr, exit status 2, no traceback, no output file, inputs untouched."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from PIL import Image

from .conftest import run_cli, skimage_photo


def _assert_clean_failure(proc, out_path, *, contains: str):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert contains.lower() in lines[0].lower(), lines[0]
    if out_path is not None:
        assert not out_path.exists()
        leftovers = [p for p in out_path.parent.iterdir() if p.name.startswith("." + out_path.name)]
        assert leftovers == []


@pytest.fixture
def cover(tmp_path):
    dst = tmp_path / "cover.png"
    shutil.copy(skimage_photo("astronaut.png"), dst)
    return dst


def _digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _save(tmp_path, name, arr, mode=None):
    path = tmp_path / name
    Image.fromarray(arr, mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def test_not_an_image(tmp_path, cover):
    bad = tmp_path / "notes.png"
    bad.write_text("this is text, not a picture\n")
    out = tmp_path / "stego.png"
    before = _digest(cover)
    _assert_clean_failure(run_cli("hide", cover, bad, "-o", out), out, contains="not a recognised image")
    assert _digest(cover) == before


def test_truncated_image(tmp_path, cover):
    data = cover.read_bytes()
    bad = tmp_path / "truncated.png"
    bad.write_bytes(data[: len(data) // 3])
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", bad, cover, "-o", out), out, contains="truncated.png")


def test_missing_file(tmp_path, cover):
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", tmp_path / "nope.png", cover, "-o", out), out, contains="no such file")


@pytest.mark.parametrize("kind", ["grayscale", "rgba", "16bit"])
def test_cover_must_be_8bit_rgb(tmp_path, cover, kind):
    rgb = np.asarray(Image.open(cover).convert("RGB"))
    if kind == "grayscale":
        path = _save(tmp_path, "gray.png", rgb[..., 0])
    elif kind == "rgba":
        path = _save(tmp_path, "rgba.png", np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]))
    else:
        path = tmp_path / "deep.png"
        Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(path)
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", path, cover, "-o", out), out, contains="8-bit RGB")


def test_grayscale_secret_is_converted(tmp_path, cover):
    """A grayscale secret is not a give-away (only the cover is visible), so it is accepted."""
    gray = _save(tmp_path, "gray.png", np.asarray(Image.open(skimage_photo("camera.png"))))
    out = tmp_path / "stego.png"
    proc = run_cli("hide", cover, gray, "-o", out, "--model", "lsb")
    assert proc.returncode == 0, proc.stderr
    assert out.exists()


def test_tiny_image(tmp_path, cover):
    tiny = _save(tmp_path, "tiny.png", np.zeros((12, 40, 3), np.uint8))
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", tiny, cover, "-o", out), out, contains="too small")


def test_huge_image(tmp_path, cover):
    huge = tmp_path / "huge.png"
    Image.new("RGB", (9000, 8000)).save(huge)
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", huge, cover, "-o", out), out, contains="too large")


def test_output_folder_missing(tmp_path, cover):
    out = tmp_path / "missing" / "stego.png"
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out), None, contains="does not exist")


def test_output_exists_and_input_protected(tmp_path, cover):
    before = _digest(cover)
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", cover), None, contains="input")
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", cover, "--overwrite"), None, contains="input")
    assert _digest(cover) == before
    existing = tmp_path / "exists.png"
    existing.write_bytes(b"keep me")
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", existing), None, contains="already exists")
    assert existing.read_bytes() == b"keep me"


def test_refine_needs_a_network(tmp_path, cover):
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--model", "lsb", "--refine", "5"), out,
                          contains="no differentiable reveal")
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--refine", "-1"), out, contains="0 or more")
    for bad in ("0", "nan", "-3"):
        _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--refine-seconds", bad), out,
                              contains="more than 0")
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--refine-budget", "1"), out,
                          contains="applies to videos")


def test_stealth_needs_a_lossless_network_hide(tmp_path, cover):
    """A network's stealth dial needs a trainable network named with --model; no stealth hide is robust."""
    out = tmp_path / "stego.png"
    for args, contains in ((("--model", "lsb", "--stealth"), "stealth off"),
                           (("--model", "dsnet-v2", "--stealth", "--stealth-energy", "1.5"), "at most 1"),
                           (("--stealth", "--stealth-energy", "0.5"), "name the network with --model"),
                           (("--stealth-energy", "0.5"), "give --stealth too"),
                           (("--stealth", "--robust"), "not to robust mode")):
        _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, *args), out, contains=contains)


def test_output_must_be_png(tmp_path, cover):
    out = tmp_path / "stego.jpg"
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--model", "lsb"), out, contains="PNG")


def test_missing_model_file(tmp_path, cover):
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--model", tmp_path / "none.safetensors"), out,
                          contains="no such weights file")


def test_unknown_model_name(tmp_path, cover):
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--model", "nonsense"), out,
                          contains="unknown model")


def test_corrupted_weights(tmp_path, cover):
    from deepstego.models.weights import shipped_weights, sidecar

    src = shipped_weights()["dsnet-v1"]
    w, c = sidecar(tmp_path / "copy")
    shutil.copy(src, w)
    shutil.copy(sidecar(src)[1], c)
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF
    w.write_bytes(bytes(data))
    out = tmp_path / "stego.png"
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--model", w), out, contains="sha256")
    # a file that is not safetensors at all, with a matching checksum, still fails cleanly
    w.write_bytes(b"garbage" * 100)
    import json

    from deepstego.data.corpus import sha256_file

    meta = json.loads(c.read_text())
    meta["sha256"] = sha256_file(w)
    c.write_text(json.dumps(meta))
    _assert_clean_failure(run_cli("hide", cover, cover, "-o", out, "--model", w), out, contains="cannot load")


def test_reveal_rejects_non_rgb_stego(tmp_path):
    gray = _save(tmp_path, "gray.png", np.asarray(Image.open(skimage_photo("camera.png"))))
    out = tmp_path / "secret.png"
    _assert_clean_failure(run_cli("reveal", gray, "-o", out), out, contains="8-bit RGB")


def test_bad_size_argument(tmp_path, cover):
    proc = run_cli("reveal", cover, "-o", tmp_path / "x.png", "--size", "wide")
    assert proc.returncode == 2 and "WIDTHxHEIGHT" in proc.stderr and "Traceback" not in proc.stderr
