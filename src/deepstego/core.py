"""The plain top-level API: :func:`load_model`, :func:`hide`, :func:`reveal`.

Images go in as a path, a PIL image or an H×W×3 uint8 array and come out as the same kind (a PIL image for a path).
The network runs on the whole image when it is small and in overlapping tiles when it is large, so memory stays
bounded; tiles carry enough context that the network pass equals a whole-image pass up to bf16 rounding. Image hides
then refine the stego against the reveal network (:func:`refine_stego`, ``REFINE_STEPS`` steps unless told
otherwise), tile by tile for large images: each tile is refined with its context and only its core kept, so pixels
near a seam were tuned against slightly different neighbours (``tests/test_api.py`` bounds what that costs).
"""

from __future__ import annotations

import os
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from . import limits
from .errors import DeepStegoError
from .images import fit_letterbox, load_rgb, on_8bit_grid, to_tensor, to_uint8, unletterbox
from .keys import ENV_VAR, Key, resolve_key
from .models import StegoModel, create_model, list_models, model_entry
from .backend import runner
from .models.weights import load_weights, read_meta, shipped_weights
from .precision import keep_freed_memory
from .robust import JPEG_QUALITY, hide_image, lossless_note, reveal_image, robust_model, uses_codec
from .refine import (REFINE_BETAS, REFINE_COVER_SSIM, REFINE_LR, REFINE_SECONDS, REFINE_STEPS,  # noqa: F401
                     FrameRefiner, refine_stego)
from .stealth import STEALTH_STEPS, Stealth
from .stealth import hide_image as stealth_hide, reveal_image as stealth_reveal, uses_codec as stealth_codec

DEFAULT_MODEL = "dsnet-v4"  # hides and reveals without a key
# the keyless reader a keyed model's refinement keeps its changes out of sight of: the default before dsnet-v3, the
# one dsnet-k3's figures were measured with (dsnet-v3 is its student and dsnet-v4 dsnet-v3's; both read as it
# does: tools/key_attacks.py)
LEAK_READER = "dsnet-v2"
DEFAULT_KEYED_MODEL = "dsnet-k3"  # with a key (given, or DEEPSTEGO_KEY) and no model named
TILE = 1280  # tile side in px (plus context) for large images; 720p and smaller run in one pass

_cache: dict[str, StegoModel] = {}


def model_names() -> list[str]:
    """Everything ``--model`` accepts by name: shipped weights first (the default first of all), then the
    parameter-free architectures."""
    shipped = sorted(shipped_weights(), key=lambda n: n != DEFAULT_MODEL)
    return shipped + [n for n in list_models() if not model_entry(n).builder.trainable]


def load_model(name_or_path: str | os.PathLike | StegoModel | None = None) -> StegoModel:
    """Return a ready-to-use model in eval mode.

    ``None`` → the shipped default; a shipped weights name (see ``deepstego models``); a parameter-free architecture
    name such as ``lsb`` or ``lsb:3`` (bits); or the path of a ``.safetensors`` weights file with its ``.json``.
    """
    keep_freed_memory()
    if isinstance(name_or_path, StegoModel):
        return name_or_path.eval()
    name = str(name_or_path or DEFAULT_MODEL)
    if name in _cache:
        return _cache[name]
    shipped = shipped_weights()
    arch, _, opt = name.partition(":")
    if name in shipped:
        model = load_weights(shipped[name])
    elif arch in list_models() and not model_entry(arch).builder.trainable:
        model = create_model(arch, **({"bits": _int(opt, name)} if opt else {})).eval()
    elif arch in list_models():
        raise DeepStegoError(f"{name} is an architecture without shipped weights; train one (deepstego train "
                             f"--arch {arch}) and pass its .safetensors file")
    elif Path(name).suffix in (".safetensors", ".json") or os.sep in name or Path(name).exists():
        model = load_weights(name)
    else:
        raise DeepStegoError(f"unknown model {name!r}; choose from {', '.join(model_names())} or give a weights file")
    # oneDNN runs channels_last convolutions much faster on this CPU when the weights are channels_last too
    # (tools/frame_speed.py); inputs are made channels_last in hide_tensor/reveal_tensor
    model = model.to(memory_format=torch.channels_last)
    _cache[name] = model
    return model


def _int(text: str, key: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise DeepStegoError(f"{key}: expected a number of bits after ':'") from None


def _pad(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    return F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x


def _whole(h: int, w: int, tile: int) -> bool:
    return h <= tile + 64 and w <= tile + 64


def tile_count(h: int, w: int, tile: int = TILE) -> int:
    """How many tiles :func:`_tiled` cuts an h×w image into (1 when it runs whole)."""
    return 1 if _whole(h, w, tile) else -(-h // tile) * -(-w // tile)


def _tiled(fn, inputs: list[torch.Tensor], model: StegoModel, tile: int, signs: torch.Tensor | None = None
           ) -> torch.Tensor:
    """Apply ``fn`` (N×3×H×W → N×3×H×W) to ``inputs`` whole or tile by tile with ``receptive_radius`` context.
    A keyed model's ``signs`` (on the carrier grid, ``model.multiple`` pixels a cell) are cut to each tile and
    passed on as the last argument."""
    h, w = inputs[0].shape[-2:]
    m = max(1, model.multiple)
    key = () if signs is None else (signs,)
    if _whole(h, w, tile):
        out = fn(*[_pad(x, m) for x in inputs], *key)
        return out if out.shape[-2:] == (h, w) else out[..., :h, :w].contiguous(memory_format=torch.channels_last)
    r = -(-model.receptive_radius // m) * m
    tile = tile // m * m
    out = torch.empty_like(inputs[0])
    for y in range(0, h, tile):
        for x in range(0, w, tile):
            y0, x0 = max(0, y - r), max(0, x - r)
            y1, x1 = min(h, y + tile + r), min(w, x + tile + r)
            # align the tile's origin to the network's pixel grid so tiles match a whole-image pass
            y0, x0 = y0 - y0 % m, x0 - x0 % m
            crops = [_pad(t[..., y0:y1, x0:x1], m) for t in inputs]
            if signs is not None:
                ch, cw = crops[0].shape[-2] // m, crops[0].shape[-1] // m
                key = (signs[..., y0 // m:y0 // m + ch, x0 // m:x0 // m + cw],)
            res = fn(*crops, *key)
            ty, tx = min(tile, h - y), min(tile, w - x)
            out[..., y:y + ty, x:x + tx] = res[..., y - y0:y - y0 + ty, x - x0:x - x0 + tx]
    return out


def key_signs(model: StegoModel, key: Key | None, height: int, width: int) -> torch.Tensor | None:
    """The signs a keyed model needs for an image of height×width pixels, or None for a keyless model; a key for a
    keyless model, or none for a keyed one, is a one-line error."""
    if model.keyed and key is None:
        raise DeepStegoError(f"{_model_label(model)} is a keyed model: give the key (--key-file FILE, the "
                             f"{ENV_VAR} environment variable, or --key TEXT)")
    if key is not None and not model.keyed:
        raise DeepStegoError(f"{_model_label(model)} is a keyless model and cannot use a key; leave the key out or "
                             f"choose a keyed model ({', '.join(keyed_models()) or 'none shipped'})")
    return model.key_signs(key, height, width) if key is not None else None


def _model_label(model: StegoModel) -> str:
    return next((name for name, m in _cache.items() if m is model), model.arch)


def keyed_models() -> list[str]:
    """The shipped models that take a key."""
    return [n for n, p in shipped_weights().items() if read_meta(p)["config"].get("keyed")]


def keyless_networks() -> list[str]:
    """The shipped keyless dsnets, in name order: the public readers anyone with deepstego holds (the seed design
    left out)."""
    metas = {n: read_meta(p) for n, p in sorted(shipped_weights().items())}
    return [n for n, m in metas.items() if m["arch"] == "dsnet" and not m["config"].get("keyed")]


def leak_readers(model: StegoModel) -> tuple[StegoModel, ...]:
    """The keyless readers whose view a keyed model's refinement holds (:class:`~deepstego.refine.Leak`):
    :data:`LEAK_READER`, which anyone with deepstego has (the other shipped keyless dsnets read the same trace and lose
    it with it: tools/key_attacks.py); none for a keyless model."""
    return (load_model(LEAK_READER),) if model.keyed else ()


def hide_tensor(model: StegoModel, cover: torch.Tensor, secret: torch.Tensor, *, key: Key | None = None,
                precision: str = "auto", backend: str = "auto", tile: int = TILE, refine: int = 0,
                refine_seconds: float | None = None, progress: bool = False,
                refiner: FrameRefiner | None = None, stealth: bool | float | Stealth | None = None
                ) -> torch.Tensor:
    """N×3×H×W covers and secrets (float in [0, 1]) → stego on the 8-bit grid (float in [0, 1]).

    ``key`` is required by keyed models and refused by keyless ones. ``backend`` runs the network pass
    (:mod:`deepstego.backend`). ``refine`` > 0 follows the network pass with
    that many steps of :func:`refine_stego` (``progress``: one bar on stderr for every tile's steps), within
    ``refine_seconds`` for the whole image if given (shared out evenly over the tiles still to refine).
    ``refiner``, for consecutive video frames instead of ``refine``, carries one :class:`FrameRefiner` along them
    (frames larger than one tile keep the network pass). ``stealth`` sets the refinement's energy cap and
    residual-statistics penalty (:class:`~deepstego.stealth.Stealth`, or as :func:`hide` takes it)."""
    stealth = Stealth.of(stealth)
    refine = limits.count("refinement steps", refine, 0, limits.MAX_REFINE_STEPS)
    if refine_seconds is not None:
        refine_seconds = limits.seconds("refinement time", refine_seconds, limits.MAX_REFINE_SECONDS)
    if (refine or stealth is not None) and not model.trainable:
        raise DeepStegoError(f"{model.arch} has no differentiable reveal network to refine against: refinement steps "
                             f"must be 0 and stealth off")
    signs = key_signs(model, key, *cover.shape[-2:])
    net = runner(model, backend, precision)
    cover = cover.contiguous(memory_format=torch.channels_last)
    secret = secret.contiguous(memory_format=torch.channels_last)

    if refine or stealth is not None:
        readers = leak_readers(model) if refine else ()
        tiles = tile_count(*cover.shape[-2:], tile)
        deadline = None if refine_seconds is None else time.perf_counter() + refine_seconds
        done = 0
        with tqdm(total=refine * tiles, desc="refining", unit="step", disable=not progress, file=sys.stderr,
                  leave=False) as bar:
            def encode_and_refine(c: torch.Tensor, s: torch.Tensor, *k: torch.Tensor) -> torch.Tensor:
                nonlocal done
                stego = net.encode(c, s, *k)
                budget = None if deadline is None else max(0.0, deadline - time.perf_counter()) / (tiles - done)
                out = refine_stego(model, c, s, stego, *k, steps=refine, seconds=budget, precision=precision,
                                   energy=None if stealth is None else stealth.energy,
                                   stats=0.0 if stealth is None else stealth.stats,
                                   readers=readers, on_step=bar.update)
                done += 1
                bar.total = bar.n + refine * (tiles - done)  # a time budget may have cut this tile's steps
                return out

            stego = _tiled(encode_and_refine, [cover, secret], model, tile, signs)
    elif refiner is not None and _whole(*cover.shape[-2:], tile):
        def encode_and_carry(c: torch.Tensor, s: torch.Tensor, *k: torch.Tensor) -> torch.Tensor:
            tick = time.perf_counter()
            stego = net.encode(c, s, *k)
            return refiner(c, s, stego, k[0] if k else None, time.perf_counter() - tick)

        stego = _tiled(encode_and_carry, [cover, secret], model, tile, signs)
    else:  # the network pass alone: the runner rounds to the 8-bit grid (OpenVINO inside its compiled graph)
        return _tiled(partial(net.encode, grid=True), [cover, secret], model, tile, signs)
    return on_8bit_grid(stego)


@torch.inference_mode()
def reveal_tensor(model: StegoModel, stego: torch.Tensor, *, key: Key | None = None, precision: str = "auto",
                  backend: str = "auto", tile: int = TILE) -> torch.Tensor:
    """N×3×H×W stego (float in [0, 1]) → revealed secret on the 8-bit grid (``key``, ``backend``: as for
    :func:`hide_tensor`)."""
    signs = key_signs(model, key, *stego.shape[-2:])
    net = runner(model, backend, precision)
    stego = stego.contiguous(memory_format=torch.channels_last)
    return _tiled(partial(net.decode, grid=True), [stego], model, tile, signs)


def _warn(message: str) -> None:
    print(f"deepstego: warning: {message}", file=sys.stderr)


LOSSY_FORMATS = {"JPEG": "a JPEG", "MPO": "a JPEG (MPO)", "WEBP": "a WebP (usually lossy)", "JPEG2000": "a JPEG 2000"}


def lossy_note(path: str | os.PathLike) -> str | None:
    """A warning for a stego stored in a lossy image format, or None."""
    try:
        with Image.open(path) as im:
            kind = LOSSY_FORMATS.get(im.format or "")
    except (OSError, ValueError):
        return None  # load_rgb says what is wrong with it
    if kind is None:
        return None
    return (f"{path} is {kind} file: lossy compression destroys most of a hidden image, so what is revealed will be "
            "degraded or meaningless")


def _like(src, arr: np.ndarray):
    return arr if isinstance(src, np.ndarray) else Image.fromarray(arr, "RGB")


def model_key(model: StegoModel, key=None) -> Key | None:
    """The key for ``model``: ``key`` (a passphrase, bytes or :class:`Key`) when given; else, for a keyed model
    only, the ``DEEPSTEGO_KEY`` environment variable."""
    found = resolve_key(key, env=False)
    return resolve_key(env=True) if found is None and model.keyed else found


def default_model(keyed: bool) -> str:
    """The model hide and reveal use when none is named: :data:`DEFAULT_KEYED_MODEL` with a key, else
    :data:`DEFAULT_MODEL`."""
    return DEFAULT_KEYED_MODEL if keyed else DEFAULT_MODEL


def network_and_key(model=None, key=None, *, robust: bool = False) -> tuple[StegoModel, Key | None]:
    """The network a hide or reveal runs, and its key. With no ``model``: the robust model with ``robust``; else
    the default keyed model (:data:`DEFAULT_KEYED_MODEL`) when there is a key (``key`` or ``DEEPSTEGO_KEY``), the
    default keyless one (:data:`DEFAULT_MODEL`) when there is none."""
    if model is None and not robust:
        found = resolve_key(key)
        return load_model(default_model(found is not None)), found
    net = robust_model(model) if robust else load_model(model)
    return net, model_key(net, key)


def hide(cover, secret, *, model=None, key=None, precision: str = "auto", backend: str = "auto",
         refine: int | None = None, refine_seconds: float | None = REFINE_SECONDS, progress: bool = False,
         robust: bool = False, quality: int = JPEG_QUALITY, stealth: bool | float | Stealth = False):
    """Hide ``secret`` in ``cover``; returns the stego image, the cover's exact size, as the cover's kind.

    The secret is fitted inside the cover's size (aspect kept, mid-grey bars). ``key`` (a passphrase, bytes or a
    :class:`~deepstego.keys.Key`; default ``DEEPSTEGO_KEY``) is needed by keyed models: only the same key reveals
    the secret. ``refine`` steps of :func:`refine_stego` follow the network pass (default: :func:`default_refine`;
    0 is the fastest), cut short where they would take more than ``refine_seconds``
    (None: no limit). Save the result losslessly (PNG): any lossy step destroys the
    hidden image — unless ``robust``: the secret then travels as error-corrected bits that survive JPEG
    (:func:`deepstego.robust.hide_image`; ``key`` optional, seals them; refinement does not apply; ``quality``:
    the JPEG quality the stego will be saved at, 90-100, default 90; the bits must survive a re-save at 90 and at
    95), or with a
    robust ``model`` trained for lossy channels; :func:`deepstego.robust.save_stego` writes a JPEG or PNG.
    ``stealth`` trades secret quality for a stego harder to detect. ``stealth=True`` with no ``model`` is the
    stealth image hider (:func:`deepstego.stealth.hide_image`: the secret as a compressed AVIF in a few ±1 changes
    where the cover is busy; ``key`` optional, seals it; save losslessly; reveal with ``stealth=True``). With a
    network ``model``, or a number, it is the network's dial: the residual is capped at 0.7 of the network's RMS (or
    at the share ``stealth`` gives, 0 < stealth ≤ 1; or a :class:`~deepstego.stealth.Stealth`) and refined for
    :data:`STEALTH_STEPS` steps, unless ``refine`` says otherwise, with the rich model's residual statistics pulled
    towards the cover's (what each buys against detectors: docs/steganalysis.md).
    """
    if stealth and robust:
        raise DeepStegoError("stealth applies to lossless hides, not to robust mode")
    codec = robust and uses_codec(model)
    quiet = stealth_codec(model, stealth)
    if (codec or quiet) and refine:
        raise DeepStegoError("refinement applies to network hides; the robust and stealth image hiders take none")
    if codec or quiet:
        k = resolve_key(key)
    else:
        model, k = network_and_key(model, key, robust=robust)
    c = load_rgb(cover, name="cover", strict=True)
    s = fit_letterbox(load_rgb(secret, name="secret", strict=False), c.shape[1], c.shape[0])
    if codec:
        return _like(cover, hide_image(c, s, k, quality))
    if quiet:
        return _like(cover, stealth_hide(c, s, k))
    steps = default_refine(model, stealth) if refine is None else refine
    stego = hide_tensor(model, to_tensor(c), to_tensor(s), key=k, precision=precision, backend=backend,
                        refine=steps, refine_seconds=refine_seconds, progress=progress,
                        stealth=Stealth.of(stealth))
    return _like(cover, to_uint8(stego))


def default_refine(model: StegoModel, stealth: bool | float | Stealth | None = False) -> int:
    """Refinement steps an image hide takes unless told: 0 for ``lsb``; for networks the ``refine_steps`` their
    weights JSON sets (the keyed models: dsnet-k2 64, the steps its secret needs to pass SSIM 0.95; dsnet-k1 50), else
    :data:`REFINE_STEPS`; at least :data:`STEALTH_STEPS` with ``stealth``."""
    if not model.trainable:
        return 0
    steps = getattr(model, "meta", {}).get("refine_steps", REFINE_STEPS)
    steps = limits.count("the weights JSON's refine_steps", steps, 0, limits.MAX_REFINE_STEPS)
    return max(steps, STEALTH_STEPS) if Stealth.of(stealth) else steps


def reveal(stego, *, model=None, key=None, size: tuple[int, int] | None = None, precision: str = "auto",
           backend: str = "auto", warn=None, robust: bool = False, stealth: bool = False):
    """Recover the secret from a stego image (as the stego's kind). ``size=(width, height)`` cuts away the bars
    the secret was fitted with and restores that size.

    A reveal cannot tell whether anything is hidden, nor whether ``key`` is the right one (nothing is stored in
    the stego): it returns what the network reads. ``warn(message)`` (default: a line on stderr) hears when the
    stego is a lossily compressed file — or, with ``robust`` and a robust model, a lossless one. A robust reveal
    with the default hider (:func:`deepstego.robust.reveal_image`) does know: a wrong key, or no payload, is an
    error; so does a ``stealth`` reveal, which reads the stealth image hider's stego
    (:func:`deepstego.stealth.reveal_image`)."""
    if size is not None:
        size = limits.picture("the revealed size", *size)
    if stealth and robust:
        raise DeepStegoError("a stego is either robust or stealth: give one of them")
    if stealth and not stealth_codec(model, True):
        raise DeepStegoError("a stealth reveal reads the stealth image hider's stego; a network's stealth stego "
                             "reveals without --stealth")
    if (robust and uses_codec(model)) or stealth:
        read = stealth_reveal if stealth else reveal_image
        out = read(load_rgb(stego, name="stego", strict=True), resolve_key(key))
        return _like(stego, out if size is None else unletterbox(out, *size))
    model, k = network_and_key(model, key, robust=robust)
    if isinstance(stego, (str, os.PathLike)):
        note = lossless_note(stego) if robust else lossy_note(stego)
        if note:
            (warn or _warn)(note)
    s = load_rgb(stego, name="stego", strict=True)
    out = to_uint8(reveal_tensor(model, to_tensor(s), key=k, precision=precision, backend=backend))
    if size is not None:
        out = unletterbox(out, *size)
    return _like(stego, out)
