"""The ``deepstego`` command. Each verb is a thin wrapper over the library; every failure the user can fix is one
line on stderr and exit status 2. SIGINT, SIGTERM and SIGHUP unwind like an error (temporary files are removed,
nothing half-written is left) and exit 128 + the signal's number with one line on stderr."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from .backend import BACKENDS
from .errors import DeepStegoError
from .precision import DEVICES, PRECISIONS


class Parser(argparse.ArgumentParser):
    """No abbreviated options (``--steps`` must not quietly mean ``--steps-per-epoch``), and usage errors in one
    line like every other error."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class Stopped(BaseException):
    """Raised in the main thread by a termination signal; a BaseException so no ``except Exception`` swallows it,
    while every ``finally`` and cleanup handler still runs."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


def _key_args(p: argparse.ArgumentParser) -> None:
    from .keys import ENV_VAR

    g = p.add_argument_group("key (keyed models and robust images)")
    g.add_argument("--key-file", metavar="PATH",
                   help=f"read the key from this file (any bytes, up to 1 MB; 'deepstego keygen' makes one); "
                        f"or set {ENV_VAR}")
    g.add_argument("--key", metavar="TEXT",
                   help="the key as a passphrase on the command line: other users of this machine can see it in the "
                        f"process list, so prefer --key-file or {ENV_VAR}")


def _key(a):
    """The Key object the command's --key / --key-file give (DEEPSTEGO_KEY is read by the library, for keyed
    models), or None. Read before any work, so a bad key file fails first."""
    from .keys import resolve_key

    return resolve_key(a.key, a.key_file, env=False)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        if w < 1 or h < 1:
            raise ValueError
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None
    return w, h


def _option(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _model_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="shipped model name, 'lsb' / 'lsb:BITS', or a .safetensors weights file "
                        "(default: the one 'deepstego models' marks; hide and reveal with a key: the one it marks "
                        "as the default with a key)")
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="network arithmetic (auto: bf16 where the CPU does bf16 natively, else fp32)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="what runs the network pass (auto: openvino where the openvino extra is installed, else "
                        "torch; refinement always runs in torch)")


def _refine_arg(p: argparse.ArgumentParser, seconds: bool = True) -> None:
    from .core import REFINE_SECONDS, REFINE_STEPS

    p.add_argument("--refine", type=int, metavar="STEPS",
                   help=f"images: after the network pass, adjust the stego's pixels for this many steps so the "
                        f"reveal network reads the secret better (default {REFINE_STEPS} for networks, 0 for lsb; "
                        f"0 = fastest)")
    if seconds:
        from .refine import VIDEO_REFINE_BUDGET

        p.add_argument("--refine-seconds", type=float, metavar="S",
                       help=f"images: stop refining after about this many seconds, however many steps are left "
                            f"(default {REFINE_SECONDS:g}, so a large photo still hides within a minute; each tile "
                            f"of a large image gets at least one step)")
        p.add_argument("--refine-budget", type=float, metavar="R",
                       help=f"videos: refinement steps, carried from frame to frame, may take R times the network "
                            f"pass's time (default {VIDEO_REFINE_BUDGET:g}: the network pass only; 3 raised the "
                            f"test videos' secret SSIM by 0.002-0.006, 1 by at most 0.002)")


def _stealth_args(p: argparse.ArgumentParser) -> None:
    from .stealth import PAYLOAD, STEALTH_CODEC, STEALTH_ENERGY, STEALTH_STEPS

    p.add_argument("--stealth", action="store_true",
                   help=f"images: a stego far harder for steganalysers, with a coarser secret: the stealth image "
                        f"hider ({STEALTH_CODEC}) writes the secret as a compressed AVIF of {PAYLOAD:g} bits per "
                        f"colour value, in ±1 changes where the cover is busy (reveal with --stealth; a key "
                        f"seals it). With --model a network: its residual capped at {STEALTH_ENERGY:g} of its RMS "
                        f"and refined for at least {STEALTH_STEPS} steps towards the cover's rich-model statistics. "
                        f"The measured trade-offs: docs/steganalysis.md")
    p.add_argument("--stealth-energy", type=float, metavar="E",
                   help=f"with --stealth, a network's dial: the cap as a share of the network's residual RMS, more "
                        f"than 0 and at most 1 (default {STEALTH_ENERGY:g}; lower: fainter, and a poorer secret)")


def _stealth(a) -> bool | float:
    if a.stealth_energy is not None and not a.stealth:
        raise DeepStegoError("--stealth-energy sets the cap of --stealth: give --stealth too")
    if a.stealth_energy is not None and a.model is None:
        raise DeepStegoError("--stealth-energy sets a network's stealth dial: name the network with --model (--stealth "
                             "alone is the stealth image hider)")
    return a.stealth_energy if a.stealth and a.stealth_energy is not None else a.stealth


def cmd_hide(a) -> int:
    from .video.io import is_video_path

    if is_video_path(a.cover) or is_video_path(a.secret):
        return _hide_video(a)
    import numpy as np

    from .core import hide
    from .images import check_output, save_png
    from .robust import JPEG_QUALITY, check_suffix, quality, save_stego, uses_codec

    if a.refine_budget is not None:
        raise DeepStegoError("--refine-budget applies to videos; for images, use --refine and --refine-seconds")
    if a.crf is not None or a.codec is not None:
        raise DeepStegoError("--crf and --codec apply to videos; a robust image stego takes --quality")
    if a.quality is not None and not a.robust:
        raise DeepStegoError("--quality sets a robust stego's JPEG quality: it needs --robust (other stego images "
                             "are PNG, lossless)")
    q = quality(JPEG_QUALITY if a.quality is None else a.quality, lattice=uses_codec(a.model))
    out = check_output(a.output, overwrite=a.overwrite, inputs=(a.cover, a.secret))
    if a.robust:
        check_suffix(out)
    key = _key(a)
    kw = {} if a.refine_seconds is None else {"refine_seconds": a.refine_seconds}
    stego = hide(a.cover, a.secret, model=a.model, key=key, precision=a.precision, backend=a.backend,
                 refine=a.refine, progress=not a.quiet, robust=a.robust, quality=q, stealth=_stealth(a), **kw)
    if a.robust:
        save_stego(np.asarray(stego), out, q)
    else:
        save_png(np.asarray(stego), out)
    print(f"stego written to {out}")
    _fit_note(_image_size(a.secret), stego.size)
    return 0


def _image_size(path: str) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError):
        return None  # hide() reports what is wrong with the file


def _fit_note(secret: tuple[int, int] | None, frame: tuple[int, int] | None) -> None:
    from .images import fit_note

    note = fit_note(secret, frame) if secret and frame else None
    if note:
        print(f"deepstego: note: {note}", file=sys.stderr)


def _hide_video(a) -> int:
    from .video import LOSSY_SECRET_SSIM, hide_video

    if not (a.cover and a.secret) or not all(map(_is_video, (a.cover, a.secret))):
        raise DeepStegoError("hide a video in a video, or an image in an image: the two inputs are of different kinds")
    if a.refine or a.refine_seconds is not None:
        raise DeepStegoError("--refine and --refine-seconds apply to images; for videos, use --refine-budget")
    if a.stealth or a.stealth_energy is not None:
        raise DeepStegoError("--stealth applies to image hides; videos have no stealth mode yet")
    if a.quality is not None:
        raise DeepStegoError("--quality sets a robust image's JPEG quality; for videos, use --crf")
    key = _key(a)
    if a.lossy and not a.robust:
        print(f"deepstego: warning: lossy H.264 output degrades the hidden video (secret SSIM about "
              f"{LOSSY_SECRET_SSIM} on the test video, against 0.95+ for lossless output)", file=sys.stderr)
    res = hide_video(a.cover, a.secret, a.output, model=a.model, key=key, codec=a.codec, lossy=a.lossy,
                     robust=a.robust, crf=a.crf,
                     batch=a.batch, trim=a.trim, embed_meta=a.embed_meta, overwrite=a.overwrite,
                     progress=not a.quiet, precision=a.precision, backend=a.backend,
                     **({} if a.refine_budget is None else {"refine_budget": a.refine_budget}))
    print(f"stego video written to {res.path}: {res.frames} frames ({res.hidden} carry the secret, {res.refined} "
          f"got a refinement step), {res.fps:.2f} frames/s")
    if not a.embed_meta:
        _fit_note(res.secret_size, res.frame_size)
    if a.report:
        from .report.video import frame_report
        from .robust import ROBUST_MODEL, uses_codec

        if a.robust and uses_codec(a.model):  # the robust video hider reveals to a file, at the secret's own size
            import tempfile

            from .video import reveal_video

            with tempfile.TemporaryDirectory() as tmp:
                revealed = reveal_video(res.path, Path(tmp) / "revealed.mkv", key=key, lossless=True, robust=True,
                                        progress=False).path
                summary = frame_report(a.cover, a.secret, res.path, a.report, revealed=revealed)
        else:
            model = a.model or (ROBUST_MODEL if a.robust else None)
            summary = frame_report(a.cover, a.secret, res.path, a.report, model=model, key=key,
                                   precision=a.precision)
        print(f"report in {a.report}: cover SSIM min {summary['min_cover_ssim']:.4f} mean "
              f"{summary['mean_cover_ssim']:.4f} | secret SSIM mean {summary['mean_secret_ssim']:.4f} "
              f"(revealed from the saved file)")
    return 0


def _is_video(path: str) -> bool:
    from .video.io import is_video_path

    return is_video_path(path)


def cmd_reveal(a) -> int:
    if _is_video(a.stego):
        from .video import reveal_video

        if a.stealth:
            raise DeepStegoError("--stealth reads stealth stego images; videos have no stealth mode yet")

        res = reveal_video(a.stego, a.output, model=a.model, key=_key(a), lossless=a.lossless, size=a.size,
                           batch=a.batch, overwrite=a.overwrite, progress=not a.quiet, precision=a.precision,
                           backend=a.backend, robust=a.robust)
        print(f"revealed video written to {res.path}: {res.frames} frames, {res.fps:.2f} frames/s")
        return 0
    import numpy as np

    from .core import reveal
    from .images import check_output, save_png

    out = check_output(a.output, overwrite=a.overwrite, inputs=(a.stego,))
    secret = reveal(a.stego, model=a.model, key=_key(a), size=a.size, precision=a.precision, backend=a.backend,
                    robust=a.robust, stealth=a.stealth)
    save_png(np.asarray(secret), out)
    print(f"revealed secret written to {out}")
    return 0


def _card_value(name: str, value) -> str:
    """A card figure as the README and the model card print it: SSIM to 4 decimals, PSNR to 2."""
    if isinstance(value, float) and name.endswith(("SSIM", "PSNR")):
        return f"{value:.{4 if name.endswith('SSIM') else 2}f}"
    return str(value)


def cmd_models(a) -> int:
    from .core import DEFAULT_KEYED_MODEL, DEFAULT_MODEL, model_names
    from .models import list_models, model_entry
    from .models.weights import read_meta, shipped_weights

    print("architectures:")
    for name in list_models():
        print(f"  {name:10s} {model_entry(name).description}")
    print("shipped weights (--model NAME):")
    for name, path in shipped_weights().items():
        meta = read_meta(path)
        card = meta.get("card", {})
        figures = ", ".join(f"{k} {_card_value(k, v)}" for k, v in card.items())
        mark = {DEFAULT_MODEL: " (default)", DEFAULT_KEYED_MODEL: " (default with a key)"}.get(name, "")
        print(f"  {name}{mark}: {meta['arch']} {json.dumps(meta['config'])}")
        if figures:
            print(f"      {figures}")
    others = [n for n in model_names() if n not in shipped_weights()]
    print(f"parameter-free: {', '.join(others)}")
    return 0


def cmd_train(a) -> int:
    from .train import LossConfig, TrainConfig, train

    arch_options = dict(a.opt or [])
    if a.activation:
        arch_options["activation"] = a.activation
    # the warm-ups only exist to lead random weights past the δ ≈ 0 trap; trained --init weights skip them
    ramp = a.cover_ramp_steps if a.cover_ramp_steps is not None else 0 if a.init else 1000
    quant_warmup = a.quant_warmup_steps if a.quant_warmup_steps is not None else 0 if a.init else 1500
    loss = LossConfig(kind=a.loss, beta=a.beta, ssim_weight=a.ssim_weight, cover_ramp_steps=ramp,
                      adaptive=a.adaptive_cover, residual_stats=a.residual_stats_weight)
    cfg = TrainConfig(data=a.data, out=a.out, arch=a.arch, arch_options=arch_options, init=a.init,
                      teacher=a.teacher, teacher_weight=a.teacher_weight, adversary_weight=a.adversary_weight,
                      critic_weight=a.critic_weight,
                      channel=a.channel, size=a.size,
                      batch=a.batch, max_zoom=a.max_zoom, lr=a.lr, epochs=a.epochs, steps_per_epoch=a.steps_per_epoch,
                      max_minutes=a.max_minutes, patience=a.patience, seed=a.seed, precision=a.precision,
                      device=a.device, quant_warmup_steps=quant_warmup, loss=loss, checkpoint_minutes=a.checkpoint_minutes, snapshot_minutes=a.snapshot_minutes,
                      resume=a.resume, progress=not a.quiet, wandb=a.wandb)
    path = train(cfg)
    print(f"weights written to {path}")
    return 0


def cmd_eval(a) -> int:
    from .evaluate import evaluate, folder_images, time_to_quality, write_json

    if a.curve:
        points = time_to_quality(a.curve, size=a.size, plot=a.plot, precision=a.precision, refine=a.refine)
        for p in points:
            print(f"{p['minutes']:7.2f} min: cover SSIM {p['cover_ssim']:.4f} PSNR {p['cover_psnr']:.2f} | "
                  f"secret SSIM {p['secret_ssim']:.4f} PSNR {p['secret_psnr']:.2f}")
        if a.json:
            write_json({"run": str(a.curve), "size": a.size, "points": points}, Path(a.json))
        return 0

    images = folder_images(a.images) if a.images else None
    res = evaluate(a.model, images=images, size=a.size, precision=a.precision, backend=a.backend, grid=a.grid,
                   refine=a.refine, stealth=_stealth(a))
    for r in res["per_pair"]:
        print(f"{r['cover']:>22s} + {r['secret']:<22s} cover SSIM {r['cover_ssim']:.4f} PSNR {r['cover_psnr']:5.2f}"
              f" | secret SSIM {r['secret_ssim']:.4f} PSNR {r['secret_psnr']:5.2f}")
    m = res["mean"]
    dial = res["stealth"]
    stealth = ("" if not dial else f", stealth: {dial['codec']} at {dial['payload']:g} bits per colour value"
               if "codec" in dial else f", stealth: energy {dial['energy']}, statistics {dial['stats']:g}")
    print(f"mean of {res['pairs']} pairs ({res['refine']} refinement steps{stealth}, "
          f"{res['hide_seconds_per_pair']:.2f} s per hide): cover SSIM {m['cover_ssim']:.4f} PSNR {m['cover_psnr']:.2f} dB | "
          f"secret SSIM {m['secret_ssim']:.4f} PSNR {m['secret_psnr']:.2f} dB")
    if a.json:
        write_json(res, Path(a.json))
        print(f"results written to {a.json}")
    return 0


def cmd_compare(a) -> int:
    from .images import load_rgb
    from .metrics import image_metrics

    x, y = load_rgb(a.original, name=a.original, strict=False), load_rgb(a.processed, name=a.processed, strict=False)
    if x.shape != y.shape:
        raise DeepStegoError(f"{a.processed}: size {y.shape[1]}×{y.shape[0]} differs from {x.shape[1]}×{x.shape[0]}")
    m = image_metrics(x, y)
    label = f"{a.label}: " if a.label else ""
    print(f"{label}SSIM {m['ssim']:.4f}  PSNR {m['psnr']:.2f} dB  MSE {m['mse']:.2e}  mean |error| {m['mae']:.2f}/255")
    return 0


def cmd_data_prepare(a) -> int:
    from .data import prepare_corpus

    m = prepare_corpus(Path(a.out), deb_dir=Path(a.deb_dir) if a.deb_dir else None, packages=a.package)
    print(f"{len(m['files'])} photos in {a.out} (manifest sha256 {m['sha256'][:16]}…)")
    return 0


def cmd_sweep(a) -> int:
    from .sweep import run_sweep

    st = run_sweep(a.data, trials=a.trials, out=a.out, storage=a.storage, study=a.study, space_file=a.space,
                   max_minutes_per_trial=a.max_minutes_per_trial, steps_per_epoch=a.steps_per_epoch, seed=a.seed,
                   grid=a.grid)
    done = [t for t in st.trials if t.value is not None]
    best = min(done, key=lambda t: t.value) if done else None
    print(f"study {a.study}: {len(st.trials)} trials in storage" +
          (f"; best #{best.number} val loss {best.value:.4f} {best.params}" if best else ""))
    return 0


def cmd_sweep_report(a) -> int:
    from .sweep import sweep_report

    files = sweep_report(a.storage, a.study, a.out)
    print(f"report written to {files['page']}")
    return 0


def cmd_app(a) -> int:
    from .app.server import Limits, serve

    serve(a.host, a.port, Limits(max_upload_mb=a.max_upload_mb, max_video_seconds=a.max_video_seconds))
    return 0


def cmd_bench(a) -> int:
    from .bench import main as bench_main

    return bench_main(a)


def cmd_detect(a) -> int:
    from .images import check_output
    from .steganalysis.detect import expand, format_table, score_files, write_csv

    out = check_output(a.csv, overwrite=a.overwrite, inputs=a.paths) if a.csv else None
    rows, threshold = score_files(expand(a.paths), a.method, a.detector, a.reference, a.threshold)
    errors = [r["error"] for r in rows if r["verdict"] == "error"]
    if len(errors) == len(rows):  # nothing scored: no table, no CSV, just why
        raise DeepStegoError(errors[0] if len(errors) == 1 else f"none of the {len(rows)} files could be scored "
                             f"(the first: {errors[0]})")
    if out:
        write_csv(rows, out)
    else:
        print(format_table(rows))
    flagged = sum(r["verdict"] == "stego" for r in rows)
    scored = len(rows) - len(errors)
    print(f"{scored} image{'s' if scored != 1 else ''} scored by {a.method}: {flagged} look like stego "
          f"(score >= {threshold:g})" + (f"; CSV written to {out}" if out else ""))
    if errors:
        raise DeepStegoError(f"{len(errors)} of {len(rows)} files could not be scored (their rows say why)")
    return 0


def cmd_detect_train(a) -> int:
    from .steganalysis.detect import train_detector

    options = {"features": a.features} if a.features else {}
    path = train_detector(a.method, a.hider, a.data, a.pairs, a.out, size=a.size, epochs=a.epochs, batch=a.batch,
                          lr=a.lr, max_minutes=a.max_minutes, seed=a.seed, overwrite=a.overwrite,
                          progress=not a.quiet, **options)
    print(f"detector written to {path}")
    return 0


def cmd_detect_eval(a) -> int:
    from .evaluate import write_json
    from .images import check_output
    from .steganalysis.detect import evaluate_detector

    for out in (a.roc, a.json):  # fail before the work, not after it
        if out:
            check_output(out, overwrite=a.overwrite)
    res = evaluate_detector(a.method, a.hider, detector_path=a.detector, images=a.images, pairs=a.pairs,
                            size=a.size, seed=a.seed, roc_png=a.roc)
    print(f"{res['method']} vs {res['hider']} on {res['pairs']} clean + {res['pairs']} stego images "
          f"({res['photos']}, {res['size']} px): AUC {res['auc']:.4f}, accuracy {res['accuracy']:.4f} "
          f"at score >= {res['threshold']:g}")
    if a.json:
        write_json(res, Path(a.json))
    return 0


def cmd_keygen(a) -> int:
    import os

    from .images import atomic_write, check_output
    from .keys import new_key_text

    out = check_output(a.output, overwrite=a.overwrite)

    def write(tmp: Path) -> None:
        os.chmod(tmp, 0o600)  # private before the key is in it, whatever the umask
        tmp.write_text(new_key_text() + "\n")

    atomic_write(out, write, mode=0o600)
    print(f"a new random 256-bit key written to {out} (readable by you only); keep a copy: without it nothing "
          "hidden with it can be revealed")
    return 0


def _robust_args(p: argparse.ArgumentParser, hide: bool) -> None:
    from .robust import CRF, JPEG_QUALITY, ROBUST_CODEC, ROBUST_MODEL

    g = p.add_argument_group("robust mode (stego files that survive JPEG and H.264)")
    if hide:
        g.add_argument("--robust", action="store_true",
                       help=f"write an ordinary lossy file that survives re-encoding: images as a JPEG (name it .jpg; "
                            f"or .png) carrying the secret as error-corrected bits ({ROBUST_CODEC}; with a key, "
                            f"sealed by it), videos as an H.264 yuv420p MP4 (audio copied) carrying the secret video "
                            f"as an error-corrected AV1 stream in the luma (or, with --model, from a network trained "
                            f"for lossy channels; {ROBUST_MODEL} is not shipped)")
        g.add_argument("--quality", type=int, metavar="Q",
                       help=f"--robust images: the stego JPEG's quality, {JPEG_QUALITY}-100 (default {JPEG_QUALITY}: the "
                            "carrier sits on that quality's lattice, which a coarser JPEG would move it off)")
        g.add_argument("--crf", type=int, metavar="N",
                       help=f"H.264 videos: libx264's constant rate factor, 0-51 (default {CRF} with --robust)")
    else:
        g.add_argument("--robust", action="store_true",
                       help=f"read a robust stego (a JPEG or H.264 file, also after someone re-encoded it) with "
                            f"{ROBUST_CODEC} unless --model names a robust network; a wrong or missing key, or a file "
                            f"changed too much, is an error (the payload carries a check)")


def _video_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=4, help="video frames per network call")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="deepstego", description="Hide images and videos inside images and videos "
                                "with small convolutional networks, reveal them, train and evaluate the networks.")
    sub = p.add_subparsers(dest="verb", required=True, metavar="VERB")

    h = sub.add_parser("hide", help="hide SECRET inside COVER (images: a PNG stego; videos: a lossless video)")
    h.add_argument("cover")
    h.add_argument("secret")
    h.add_argument("-o", "--output", required=True)
    h.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    _model_arg(h)
    _refine_arg(h)
    _stealth_args(h)
    _key_args(h)
    _robust_args(h, hide=True)
    v = h.add_argument_group("video")
    v.add_argument("--codec", choices=("ffv1", "x264rgb", "png", "h264"), default=None,
                   help="stego video codec: ffv1 (MKV, the default), x264rgb (qp 0) and png are bit-exact; h264 "
                        "needs --lossy (or --robust, which writes it)")
    v.add_argument("--lossy", action="store_true", help="allow a lossy stego video (the secret degrades)")
    v.add_argument("--trim", action="store_true", help="hide only the part of a longer secret that fits")
    v.add_argument("--embed-meta", action="store_true",
                   help="store the secret's size and length in the file (convenient, but a give-away)")
    v.add_argument("--report", metavar="DIR", help="per-frame CSV, SSIM charts and a comparison strip")
    _video_common(h)
    h.set_defaults(func=cmd_hide)

    r = sub.add_parser("reveal", help="recover the secret from a stego image or video",
                       description="Recover the secret from a stego image or video. A reveal cannot tell whether "
                                   "anything is hidden, nor whether the key is the right one (nothing is stored in "
                                   "the stego to check it against): it writes what the network reads, which for a "
                                   "clean photo, a wrong key or a re-compressed stego is meaningless.")
    r.add_argument("stego")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--size", type=_size, help="the secret's original WIDTHxHEIGHT: removes the fitting bars")
    r.add_argument("--overwrite", action="store_true")
    r.add_argument("--lossless", action="store_true", help="video: write FFV1 in MKV instead of H.264 MP4")
    _model_arg(r)
    _key_args(r)
    _robust_args(r, hide=False)
    r.add_argument("--stealth", action="store_true",
                   help="read a stego of the stealth image hider ('hide --stealth'); a wrong or missing key, or a "
                        "changed file, is an error")
    _video_common(r)
    r.set_defaults(func=cmd_reveal)

    m = sub.add_parser("models", help="list architectures and shipped weights")
    m.set_defaults(func=cmd_models)

    kg = sub.add_parser("keygen", help="write a new random key file for keyed models (--key-file)")
    kg.add_argument("-o", "--output", required=True)
    kg.add_argument("--overwrite", action="store_true")
    kg.set_defaults(func=cmd_keygen)

    from .models import list_models
    from .models.blocks import ACTIVATIONS

    t = sub.add_parser("train", help="train a hiding network on a folder of photos")
    t.add_argument("--data", required=True, help="folder of photos (see 'deepstego data prepare')")
    t.add_argument("--arch", choices=list_models(), default="dsnet")
    t.add_argument("--opt", type=_option, action="append", metavar="KEY=VALUE",
                   help="architecture option, e.g. width=96 (repeatable)")
    t.add_argument("--activation", choices=ACTIVATIONS)
    t.add_argument("--init", help="start from these weights")
    t.add_argument("--teacher", help="distil: pull the hider towards this trained model's stego (name or weights file)")
    t.add_argument("--teacher-weight", type=float, default=5.0,
                   help="weight of the pull towards the teacher's stego at the start; fades to 0 by the end")
    t.add_argument("--adversary-weight", type=float, default=0.0,
                   help="keyed models: train a key-agnostic reveal network alongside and penalise what it, the "
                        "model's own reveal under wrong keys and the shipped keyless models read beyond chance, "
                        "with this weight (0: off)")
    t.add_argument("--critic-weight", type=float, default=0.0,
                   help="stealth training: a steganalysis critic (the cnn detector) learns alongside to tell covers "
                        "from their stego, and the hider pays this weight times its log-odds of catching it (0: off)")
    t.add_argument("--adaptive-cover", action="store_true",
                   help="weight the cover's L1 term by HILL's embedding cost, so the residual goes where the cover is "
                        "busy")
    t.add_argument("--residual-stats-weight", type=float, default=0.0, metavar="W",
                   help="stealth training: penalise the L1 distance between the stego's and the cover's co-occurrences "
                        "of quantised high-pass residuals (what the srm detector counts) with this weight (0: off)")
    t.add_argument("--channel", action="store_true",
                   help="robust training: each batch's stego goes through JPEG/H.264 (real and simulated), blur, "
                        "noise or a rescale before the reveal (deepstego.channel)")
    t.add_argument("--size", type=int, default=128, help="crop size in px")
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--max-zoom", type=float, default=2.0,
                   help="crops span SIZE to SIZE*MAX_ZOOM px of a photo (log-uniform) before resizing to SIZE")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--beta", type=float, default=0.75, help="weight of the secret loss")
    t.add_argument("--loss", choices=("l1", "l2"), default="l1")
    t.add_argument("--ssim-weight", type=float, default=0.0, help="weight of the (1 - SSIM) terms")
    t.add_argument("--cover-ramp-steps", type=int,
                   help="ramp the cover loss weight up over this many steps (default 1000; 0 with --init)")
    t.add_argument("--quant-warmup-steps", type=int,
                   help="±0.5/255 noise instead of 8-bit rounding for this many steps (default 1500; 0 with --init)")
    t.add_argument("--epochs", type=int, default=100)
    t.add_argument("--steps-per-epoch", type=int, default=200)
    t.add_argument("--max-minutes", type=float, help="stop after this much training time")
    t.add_argument("--patience", type=int, default=10, help="early stopping: epochs without validation gain")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 where the CPU does it natively, and on a GPU; fp32 elsewhere")
    t.add_argument("--device", choices=DEVICES, default="cpu",
                   help="train on a CUDA GPU (photos are still sampled on the CPU); the weights run anywhere")
    t.add_argument("--checkpoint-minutes", type=float, default=3.0)
    t.add_argument("--snapshot-minutes", type=float, default=0.0, help="keep weights snapshots this often")
    t.add_argument("--out", default="runs/train")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--wandb", nargs="?", const="online", choices=("online", "offline"),
                   help="also log to Weights & Biases ('offline' needs no network; needs the 'wandb' extra)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="hide and reveal every pair through saved PNGs and report SSIM/PSNR")
    _model_arg(e)
    _refine_arg(e, seconds=False)
    _stealth_args(e)
    e.add_argument("--images", help="folder of photos (default: the evaluation photos shipped in PyPI wheels)")
    e.add_argument("--size", type=int, default=256, help="centre-crop side in px")
    e.add_argument("--json", help="write per-pair and mean results here")
    e.add_argument("--grid", help="write a comparison grid PNG here")
    e.add_argument("--curve", metavar="RUN_DIR", help="time-to-quality: evaluate every snapshot of a training run")
    e.add_argument("--plot", help="with --curve: write the SSIM-versus-time chart here")
    e.set_defaults(func=cmd_eval)

    c = sub.add_parser("compare", help="SSIM, PSNR, MSE and mean absolute error of two images of the same size")
    c.add_argument("original")
    c.add_argument("processed")
    c.add_argument("--label", help="text printed before the figures")
    c.set_defaults(func=cmd_compare)

    d = sub.add_parser("data", help="training data")
    dsub = d.add_subparsers(dest="data_verb", required=True, metavar="ACTION")
    dp = dsub.add_parser("prepare", help="build the default photo corpus from Debian wallpaper packages")
    dp.add_argument("--out", required=True)
    dp.add_argument("--deb-dir", help="use .deb files already downloaded here")
    dp.add_argument("--package", action="append", help="only this Debian package (repeatable; default: all)")
    dp.set_defaults(func=cmd_data_prepare)

    sw = sub.add_parser("sweep", help="hyper-parameter study on Optuna (needs the 'sweep' extra)")
    sw.add_argument("--data", required=True)
    sw.add_argument("--trials", type=int, required=True, help="trials this worker runs")
    sw.add_argument("--storage", help="Optuna storage URL (default: SQLite in --out); share one to use many workers")
    sw.add_argument("--study", default="deepstego")
    sw.add_argument("--space", help="JSON file overriding the search space")
    sw.add_argument("--max-minutes-per-trial", type=float, default=3.0)
    sw.add_argument("--steps-per-epoch", type=int, default=60)
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--grid", action="store_true",
                    help="every combination of the listed values in --space, without pruning (a controlled comparison)")
    sw.add_argument("--out", default="runs/sweep")
    sw.set_defaults(func=cmd_sweep)

    sr = sub.add_parser("sweep-report", help="charts and comparison grids of a study")
    sr.add_argument("--storage", help="Optuna storage URL (default: SQLite in --out)")
    sr.add_argument("--study", default="deepstego")
    sr.add_argument("--out", required=True)
    sr.set_defaults(func=cmd_sweep_report)

    ap = sub.add_parser("app", help="start the web app (needs the 'app' extra)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--max-upload-mb", type=float, default=25.0)
    ap.add_argument("--max-video-seconds", type=float, default=20.0)
    ap.set_defaults(func=cmd_app)

    b = sub.add_parser("bench", help="speed of every registered model (pairs/s, peak memory)")
    b.add_argument("--json", help="write the measurements here")
    b.add_argument("--quick", action="store_true", help="fewer repeats and sizes (for a smoke test)")
    b.add_argument("--video", action="store_true", help="end-to-end video frames/s on the test videos instead")
    b.add_argument("--ratio", action="store_true",
                   help="one model against the seed design at 1280x720, in interleaved rounds (median ratio)")
    b.add_argument("--rounds", type=int, default=10, help="with --ratio: how many rounds (default 10)")
    b.add_argument("--model", help="with --video or --ratio: the model to time (default: the default model)")
    b.set_defaults(func=cmd_bench)

    methods = ("classical", "cnn", "srnet", "reveal", "siamese", "srm")
    dt = sub.add_parser("detect", help="steganalysis: score images as clean or stego (CSV); "
                        "also 'detect train' and 'detect eval'")
    dt.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    dt.add_argument("--method", choices=methods, default="classical")
    dt.add_argument("--detector", help="a trained detector (cnn, srnet, reveal, siamese, srm)")
    dt.add_argument("--reference", help="siamese: a known-clean image from the same source")
    dt.add_argument("--threshold", type=float, help="verdict threshold on the score (default 0.15 classical, 0.5 learned)")
    dt.add_argument("--csv", help="write one row per image here (default: a table on stdout)")
    dt.add_argument("--overwrite", action="store_true")
    dt.set_defaults(func=cmd_detect)

    dtt = sub.add_parser("detect-train", prog="deepstego detect train",
                         help="train a detector on clean/stego pairs made by a hider (alias: detect train)")
    dtt.add_argument("--method", choices=methods[1:], default="cnn")
    dtt.add_argument("--hider", required=True,
                     help="model name or weights (NAME+refine:STEPS: refined stego, as 'hide' makes by default; "
                          "+stealth:ENERGY and +stats:WEIGHT: a network's stealth dial, 'hide --stealth --model "
                          "NAME' being +stealth:0.7+stats:0.3), lsb-random:RATE, avif-qim (the robust image hider) "
                          "or avif-stc (the stealth image hider, 'hide --stealth')")
    dtt.add_argument("--data", required=True, help="folder of photos (see 'deepstego data prepare')")
    dtt.add_argument("--pairs", type=int, default=1000, help="clean and stego examples, each")
    dtt.add_argument("--size", type=int, default=128)
    dtt.add_argument("--epochs", type=int, default=10)
    dtt.add_argument("--batch", type=int, default=32)
    dtt.add_argument("--lr", type=float, default=1e-3)
    dtt.add_argument("--max-minutes", type=float)
    dtt.add_argument("--features", choices=("srmq1+spam", "srm", "srmq1", "spam"),
                     help="srm: the rich-model features (default srmq1+spam; spam is the quick one); "
                          "--epochs, --lr and --max-minutes do not apply to it")
    dtt.add_argument("--seed", type=int, default=0)
    dtt.add_argument("--out", required=True, help="detector weights (.safetensors, with its .json)")
    dtt.add_argument("--overwrite", action="store_true")
    dtt.add_argument("--quiet", action="store_true")
    dtt.set_defaults(func=cmd_detect_train)

    dte = sub.add_parser("detect-eval", prog="deepstego detect eval",
                         help="accuracy, AUC and ROC of a detector on held-out photos (alias: detect eval)")
    dte.add_argument("--method", choices=methods,
                     help="default: the --detector's kind, or classical when no detector is given")
    dte.add_argument("--detector", help="trained detector (not for classical)")
    dte.add_argument("--hider", help="hider of the stego examples (default: the detector's)")
    dte.add_argument("--images", help="folder of held-out photos (default: the evaluation photos)")
    dte.add_argument("--pairs", type=int, default=200)
    dte.add_argument("--size", type=int, help="crop size (default: the detector's training size, 128 classical)")
    dte.add_argument("--seed", type=int, default=99)
    dte.add_argument("--roc", help="write the ROC curve PNG here")
    dte.add_argument("--json", help="write the figures here")
    dte.add_argument("--overwrite", action="store_true")
    dte.set_defaults(func=cmd_detect_eval)
    return p


SIGNALS = {signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}


def main(argv: list[str] | None = None) -> int:
    previous = {s: signal.signal(s, _stop) for s in SIGNALS}
    try:
        parser = build_parser()
        argv = list(sys.argv[1:] if argv is None else argv)
        if argv[:1] == ["detect"] and argv[1:2] in (["train"], ["eval"]):
            argv = [f"detect-{argv[1]}"] + argv[2:]
        args = parser.parse_args(argv)
        return args.func(args)
    except DeepStegoError as exc:
        print(f"deepstego: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepstego: interrupted; no output was left half-written", file=sys.stderr)
        return 128 + signal.SIGINT
    except Stopped as stop:
        print(f"deepstego: {SIGNALS[stop.signum]}; no output was left half-written", file=sys.stderr)
        return 128 + stop.signum
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
