"""Gradio 6 app over the library API: an Image tab, a Video tab, a Reveal tab, a model dropdown and an About panel.

Uploads are read only from the paths Gradio hands over (its own upload cache); every file the app writes goes to a
per-request folder inside the app's temporary folder, deleted as soon as the request ends. The handlers are
generators: Gradio copies what they yield into its own cache (which it sweeps after ``KEEP_SECONDS``) before it
resumes them, and resuming leaves the request folder's ``with`` block. Errors reach the page as one readable sentence (``gr.Error``), never a stack trace.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..core import (DEFAULT_KEYED_MODEL, DEFAULT_MODEL, REFINE_STEPS, default_model, default_refine, hide,
                    load_model, model_names, network_and_key, reveal)
from ..errors import DeepStegoError, missing_extra
from ..images import fit_letterbox, load_rgb, save_png, to_tensor
from ..keys import ENV_VAR
from ..metrics import image_metrics
from ..models.weights import read_meta, shipped_weights
from ..robust import JPEG_QUALITY, save_stego
from ..stealth import capacity
from ..report import comparison_grid
from ..video.io import is_video_path, probe

try:
    import gradio as gr
except ImportError:  # the [app] extra is optional
    gr = None

KEEP_SECONDS = 600  # Gradio keeps its cached copies of uploads and results this long, to serve the downloads


@dataclass
class Limits:
    max_upload_mb: float = 25.0
    max_video_seconds: float = 20.0
    max_video_frames: int = 600
    max_refine_steps: int = 200
    # refinement costs a reveal forward and backward per step at the image's size: beyond a 720p frame's pixels
    # (about 2 s a step here) one request would hold the queue for minutes, so larger images get the network pass
    max_refine_pixels: int = 1280 * 720


class Workspace:
    """The app's temporary folder: one sub-folder per request, removed when the request ends."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root or tempfile.mkdtemp(prefix="deepstego-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        atexit.register(shutil.rmtree, self.root, ignore_errors=True)

    @contextmanager
    def request_dir(self):
        d = self.root / f"req-{uuid.uuid4().hex[:12]}"
        d.mkdir()
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)


def _upload_path(upload, what: str) -> Path:
    if upload is None:
        raise gr.Error(f"Please upload {what}.", print_exception=False)
    path = Path(upload if isinstance(upload, str) else upload.name)
    return path


def _check_size(path: Path, limits: Limits, what: str) -> None:
    mb = path.stat().st_size / 1e6
    if mb > limits.max_upload_mb:
        raise gr.Error(f"The {what} is {mb:.1f} MB; the limit is {limits.max_upload_mb:g} MB.", print_exception=False)


def _fail(exc: DeepStegoError):
    # the user sees the sentence without the server's temporary path
    return gr.Error(str(exc).split(": ", 1)[-1] if str(exc).startswith("/") else str(exc), print_exception=False)


def _noise_graph(original: np.ndarray, processed: np.ndarray, title: str) -> np.ndarray:
    """Heat-map of the per-pixel absolute difference (mean over colours, in 8-bit levels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    diff = np.abs(original.astype(np.int16) - processed.astype(np.int16)).mean(axis=2)
    fig, ax = plt.subplots(figsize=(4.2, 3.4), dpi=90)
    im = ax.imshow(diff, cmap="magma", vmin=0, vmax=max(4.0, float(np.percentile(diff, 99.5))))
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.colorbar(im, ax=ax, fraction=0.046, label="|difference| (8-bit levels)")
    fig.tight_layout()
    fig.canvas.draw()
    arr = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return arr


def _figures(label: str, m: dict) -> str:
    return f"**{label}**: SSIM {m['ssim']:.4f} · PSNR {m['psnr']:.2f} dB · mean |error| {m['mae']:.2f}/255"


def _refine_steps(refine, model, cover: np.ndarray, limits: Limits) -> tuple[int, str]:
    """The refinement steps a request gets (networks only, within the limits) and a note for the page."""
    steps = default_refine(model) if refine is None else refine
    try:
        steps = min(max(int(steps), 0), limits.max_refine_steps) if model.trainable else 0
    except (TypeError, ValueError, OverflowError):
        raise gr.Error(f"Refinement steps must be a whole number from 0 to {limits.max_refine_steps}.",
                       print_exception=False) from None
    if steps and cover.shape[0] * cover.shape[1] > limits.max_refine_pixels:
        return 0, (f"  \nRefinement skipped: the cover is larger than {limits.max_refine_pixels / 1e6:.1f} "
                   "megapixels (use `deepstego hide` for refined stego images of any size).")
    return steps, (f"  \n{steps} refinement steps." if steps else "")


AUTO = "auto"  # the Model list's first choice: the default keyed model with a key, the default keyless one without


def _model(name: str | None) -> str | None:
    return None if name in (None, "", AUTO) else name


def _default_steps(model_name: str | None, key: str | None) -> int:
    """The refinement steps the Image tab shows for a model choice and key field: that model's own default (auto:
    the default keyed model's with a key)."""
    name = _model(model_name) or default_model(bool(key))
    try:
        return default_refine(load_model(name))
    except DeepStegoError:
        return REFINE_STEPS


def _key(text: str | None):
    """The page's key field: empty means no key. Derived here, so a bad key fails before the work."""
    from ..keys import Key

    return Key.from_passphrase(text) if text else None


def hide_images(cover_file, secret_file, model_name, work: Workspace, limits: Limits, refine: int | None = None,
                key: str | None = None, robust: bool = False, stealth: bool = False):
    cover_p, secret_p = _upload_path(cover_file, "a cover image"), _upload_path(secret_file, "a secret image")
    for p, what in ((cover_p, "cover"), (secret_p, "secret")):
        _check_size(p, limits, what)
    with work.request_dir() as d:
        try:
            k = _key(key)
            cover = load_rgb(cover_p, name="the cover", strict=True)
            fitted = fit_letterbox(load_rgb(secret_p, name="the secret", strict=False), cover.shape[1],
                                   cover.shape[0])
            if robust and stealth:
                raise DeepStegoError("A stego is either robust or stealth: tick one of them.")
            model = None
            if robust:  # the robust image hider: no model, no refinement; a JPEG download
                note = f"  \nRobust: a JPEG at quality {JPEG_QUALITY} that survives a re-save at that quality."
                stego = hide(cover, fitted, key=k, robust=True)
                out = save_stego(stego, d / "stego.jpg")
            else:
                if stealth:  # the stealth image hider: no model, no refinement
                    note = (f"  \nStealth: the secret as an AVIF of at most {capacity(cover)} bytes in ±1 changes "
                            f"where the cover is busy; reveal it with Stealth ticked.")
                    stego = hide(cover, fitted, key=k, stealth=True)
                else:
                    model, _ = network_and_key(_model(model_name), k)
                    steps, note = _refine_steps(refine, model, cover, limits)
                    stego = hide(cover, fitted, model=model, key=k, refine=steps)
                out = d / "stego.png"
                save_png(stego, out)
            stego_back = np.asarray(Image.open(out).convert("RGB"))  # reveal what the download holds
            revealed = reveal(stego_back, model=model, key=k, robust=robust, stealth=stealth)
        except DeepStegoError as exc:
            raise _fail(exc) from None
        cm, sm = image_metrics(cover, stego_back), image_metrics(fitted, revealed)
        figures = (_figures("Cover vs stego", cm) + "  \n"
                   + _figures(f"Secret vs revealed (from the saved {'JPEG' if robust else 'PNG'})", sm) + note)
        t = [to_tensor(a) for a in (cover, fitted, stego_back, revealed)]
        strip = comparison_grid(*t)
        yield (stego_back, str(out), revealed, figures, _noise_graph(cover, stego_back, "cover vs stego"),
               _noise_graph(fitted, revealed, "secret vs revealed"), strip)


def hide_videos(cover_file, secret_file, model_name, work: Workspace, limits: Limits, key: str | None = None,
                robust: bool = False):
    from ..report.video import frame_report
    from ..video import hide_video, reveal_video
    from ..video.io import VideoWriter, decode

    cover_p, secret_p = _upload_path(cover_file, "a cover video"), _upload_path(secret_file, "a secret video")
    with work.request_dir() as d:
        try:
            for p, what in ((cover_p, "cover video"), (secret_p, "secret video")):
                _check_size(p, limits, what)
                info = probe(p)
                if info.duration > limits.max_video_seconds or info.frames > limits.max_video_frames:
                    raise gr.Error(f"The {what} lasts {info.duration:.1f} s; the limit is "
                                   f"{limits.max_video_seconds:g} s.", print_exception=False)
            k = _key(key)
            if robust:  # the robust video hider: no model; the stego is itself a browser-playable H.264 MP4
                stego = hide_video(cover_p, secret_p, d / "stego.mp4", key=k, trim=True, robust=True)
                revealed = reveal_video(stego.path, d / "revealed.mp4", key=k, robust=True)
                summary = frame_report(cover_p, secret_p, stego.path, d / "report", revealed=revealed.path)
                preview = stego.path
            else:
                stego = hide_video(cover_p, secret_p, d / "stego.mkv", model=_model(model_name), key=k, trim=True)
                revealed = reveal_video(stego.path, d / "revealed.mp4", model=_model(model_name), key=k)
                summary = frame_report(cover_p, secret_p, stego.path, d / "report", model=_model(model_name), key=k)
                # a browser-playable preview of the stego (H.264 is lossy: the download is the lossless MKV)
                info = probe(stego.path)
                preview = d / "stego_preview.mp4"
                with VideoWriter(preview, "h264", info.width, info.height, info.rate) as writer:
                    for t, rgb in decode(stego.path):
                        writer.write(rgb, t)
                    writer.commit()
        except DeepStegoError as exc:
            raise _fail(exc) from None
        text = (f"{stego.frames} frames, {stego.hidden} carry the secret. Cover SSIM per frame: min "
                f"{summary['min_cover_ssim']:.4f}, mean {summary['mean_cover_ssim']:.4f}. Secret SSIM (revealed from "
                f"the saved file): mean {summary['mean_secret_ssim']:.4f}, min {summary['min_secret_ssim']:.4f}.")
        yield (str(stego.path), str(preview), str(revealed.path), text,
               str(d / "report" / "cover_ssim.png"), str(d / "report" / "secret_ssim.png"))


def reveal_file(stego_file, model_name, work: Workspace, limits: Limits, key: str | None = None,
                robust: bool = False, stealth: bool = False):
    from ..video import reveal_video

    path = _upload_path(stego_file, "a stego image or video")
    _check_size(path, limits, "stego file")
    with work.request_dir() as d:
        try:
            k = _key(key)
            if is_video_path(path):
                if stealth:
                    raise DeepStegoError("Stealth reads stealth stego images; videos have no stealth mode yet.")
                out = reveal_video(path, d / "revealed.mp4", model=None if robust else _model(model_name), key=k,
                                   robust=robust)
                yield gr.update(value=None, visible=False), gr.update(value=str(out.path), visible=True)
                return
            revealed = reveal(path, model=None if robust or stealth else _model(model_name), key=k, robust=robust,
                              stealth=stealth)
        except DeepStegoError as exc:
            raise _fail(exc) from None
        yield gr.update(value=np.asarray(revealed), visible=True), gr.update(value=None, visible=False)


def about_text() -> str:
    lines = ["### About", "deepstego hides a colour image (or a video) inside another with small convolutional "
             "networks. Save and share stego images only as PNG: any lossy step destroys the hidden image.", ""]
    for name, path in shipped_weights().items():
        meta = read_meta(path)
        card = meta.get("card", {})
        figures = ", ".join(f"{k} {v}" for k, v in card.items()) or "not measured yet"
        lines.append(f"- **{name}** ({meta['arch']}, {meta.get('trained', {}).get('minutes', '?')} min of CPU "
                     f"training): {figures}")
    lines.append("- **lsb** / **lsb:3**: classical 4-bit / 3-bit LSB baseline, for comparison.")
    return "\n".join(lines)


def _key_field(elem_id: str):
    return gr.Textbox(label="Key (keyed models only; the same key reveals, nothing else does)", type="password",
                      elem_id=elem_id, max_length=1024)


def _robust_field(elem_id: str):
    return gr.Checkbox(label="Robust image: survives a JPEG re-save (the secret travels as error-corrected bits; the "
                             "model and refinement do not apply; with a key, only that key reveals it)", value=False,
                       elem_id=elem_id)


def _stealth_field(elem_id: str):
    return gr.Checkbox(label="Stealth image: far harder for steganalysers, with a coarser secret (a compressed AVIF "
                             "in a few ±1 changes; the model and refinement do not apply; with a key, only that key "
                             "reveals it)", value=False, elem_id=elem_id)


def build_app(limits: Limits | None = None, workspace: Workspace | None = None):
    """Build the Blocks app (does not start it)."""
    if gr is None:
        raise missing_extra("app", "gradio")
    limits = limits or Limits()
    work = workspace or Workspace()
    choices = model_names()
    choices = choices + (["lsb:3"] if "lsb" in choices else [])
    with gr.Blocks(title="deepstego", delete_cache=(300, KEEP_SECONDS)) as demo:
        gr.Markdown("# deepstego\nHide an image in an image, or a video in a video, and reveal it again.")
        auto = f"auto: {DEFAULT_KEYED_MODEL} with a key, {DEFAULT_MODEL} without"
        model = gr.Dropdown([(auto, AUTO), *((c, c) for c in choices)], value=AUTO, label="Model")
        with gr.Tab("Image", id="image"):
            with gr.Row():
                cover = gr.File(label="Cover image", file_types=["image"], elem_id="img-cover")
                secret = gr.File(label="Secret image", file_types=["image"], elem_id="img-secret")
            refine = gr.Slider(0, limits.max_refine_steps, value=REFINE_STEPS, step=1,
                               label="Refinement steps (networks only; more: better secret, slower; 0: network pass "
                                     "only)", elem_id="img-refine")
            ikey = _key_field("img-key")
            irobust = _robust_field("img-robust")
            istealth = _stealth_field("img-stealth")
            go = gr.Button("Hide", variant="primary", elem_id="img-hide")
            with gr.Row():
                stego_img = gr.Image(label="Stego", format="png", interactive=False, elem_id="img-stego")
                revealed_img = gr.Image(label="Revealed secret", format="png", interactive=False,
                                        elem_id="img-revealed")
            stego_png = gr.File(label="Stego PNG, or JPEG when robust (download)", interactive=False, elem_id="img-stego-file")
            figures = gr.Markdown(elem_id="img-figures")
            with gr.Row():
                noise_c = gr.Image(label="Noise graph: cover", format="png", interactive=False)
                noise_s = gr.Image(label="Noise graph: secret", format="png", interactive=False)
            strip = gr.Image(label="cover · secret · stego · revealed · |cover diff|×10 · |secret diff|×10",
                             format="png", interactive=False)
            def run_image(c, s, m, r, k, rb, st):  # generators (see the module docstring): a lambda would hide that
                yield from hide_images(c, s, m, work, limits, r, k, rb, st)

            for field in (model, ikey):  # the slider follows the model's own default (dsnet-k3: 24 steps)
                field.change(_default_steps, [model, ikey], refine, api_name=False)
            go.click(run_image, [cover, secret, model, refine, ikey, irobust, istealth],
                     [stego_img, stego_png, revealed_img, figures, noise_c, noise_s, strip], api_name="hide_image")
        with gr.Tab("Video", id="video"):
            with gr.Row():
                vcover = gr.File(label="Cover video", file_types=["video"], elem_id="vid-cover")
                vsecret = gr.File(label="Secret video", file_types=["video"], elem_id="vid-secret")
            vkey = _key_field("vid-key")
            vrobust = gr.Checkbox(label="Robust video: an H.264 MP4 that survives a re-encode at crf 23 (the secret "
                                        "travels as an error-corrected AV1 stream; the model does not apply; with a "
                                        "key, only that key reveals it)", value=False, elem_id="vid-robust")
            vgo = gr.Button("Hide video", variant="primary", elem_id="vid-hide")
            vstego = gr.File(label="Stego video (lossless MKV, or H.264 MP4 when robust; download)", interactive=False,
                             elem_id="vid-stego")
            with gr.Row():
                vpreview = gr.Video(label="Stego preview (H.264)", interactive=False, elem_id="vid-preview")
                vrevealed = gr.Video(label="Revealed secret", interactive=False, elem_id="vid-revealed")
            vtext = gr.Markdown(elem_id="vid-figures")
            with gr.Row():
                vchart_c = gr.Image(label="Cover SSIM per frame", interactive=False)
                vchart_s = gr.Image(label="Secret SSIM per frame", interactive=False)

            def run_video(c, s, m, k, r, progress=gr.Progress(track_tqdm=True)):
                yield from hide_videos(c, s, m, work, limits, k, r)

            vgo.click(run_video, [vcover, vsecret, model, vkey, vrobust], [vstego, vpreview, vrevealed, vtext, vchart_c, vchart_s],
                      api_name="hide_video")
        with gr.Tab("Reveal", id="reveal"):
            rfile = gr.File(label="Stego image (PNG, or JPEG when robust) or video", elem_id="rev-file")
            rkey = _key_field("rev-key")
            rrobust = _robust_field("rev-robust")
            rstealth = _stealth_field("rev-stealth")
            rgo = gr.Button("Reveal", variant="primary", elem_id="rev-go")
            rimg = gr.Image(label="Revealed secret", format="png", interactive=False, elem_id="rev-image")
            rvid = gr.Video(label="Revealed secret video", interactive=False, visible=False, elem_id="rev-video")
            def run_reveal(f, m, k, rb, st):
                yield from reveal_file(f, m, work, limits, k, rb, st)

            rgo.click(run_reveal, [rfile, model, rkey, rrobust, rstealth], [rimg, rvid], api_name="reveal")
        with gr.Accordion("About", open=False):
            gr.Markdown(about_text())
    # two cores: one job at a time uses both; others wait in the queue
    demo.queue(default_concurrency_limit=1, max_size=64)
    return demo


def serve(host: str = "127.0.0.1", port: int = 7860, limits: Limits | None = None) -> None:
    import os

    limits = limits or Limits()
    work = Workspace()
    os.environ.setdefault("GRADIO_TEMP_DIR", str(work.root / "gradio"))
    # a page's key field is its only key: the operator's DEEPSTEGO_KEY would otherwise hide and reveal for visitors
    os.environ.pop(ENV_VAR, None)
    demo = build_app(limits, work)
    demo.launch(server_name=host, server_port=port, max_file_size=f"{limits.max_upload_mb:g}mb",
                show_error=True, quiet=False)
