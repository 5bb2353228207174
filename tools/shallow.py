"""Drop residual blocks from a trained keyless dsnet, as the starting point of a faster model.

    python tools/shallow.py SOURCE OUT [--prep P] [--hide H] [--reveal R]
    python tools/shallow.py dsnet-v2 runs/p0h2r3-init --prep 0 --hide 2 --reveal 3

Which blocks stay is measured, not guessed: each network in turn (prep, hide, reveal) keeps the subset of its blocks
that gives the lowest training loss (the source's own recipe, from its weights JSON) on 64 training-photo pairs at
128 px (data/photos; never the evaluation photos), the networks before it already cut. OUT gets OUT.safetensors and
OUT.json, for ``deepstego train --init OUT.safetensors --teacher SOURCE``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
from pathlib import Path

import torch

from deepstego.core import load_model
from deepstego.data.dataset import PairSampler, PhotoBank, list_images
from deepstego.models.dsnet import with_blocks
from deepstego.models.weights import save_weights
from deepstego.train.losses import LossConfig, stego_loss

ROOT = Path(__file__).resolve().parent.parent


def recipe_loss(model) -> LossConfig:
    """The loss the source model was trained with (its weights JSON), the defaults where it names none."""
    given = getattr(model, "meta", {}).get("recipe", {}).get("loss", {})
    return LossConfig(**{f.name: given[f.name] for f in dataclasses.fields(LossConfig) if f.name in given})


def loss_of(model, cover, secret, loss: LossConfig) -> float:
    with torch.no_grad():
        out = model(cover, secret)
        return float(stego_loss(loss, cover, secret, out.stego, out.revealed)["total"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source")
    p.add_argument("out")
    for net in ("prep", "hide", "reveal"):
        p.add_argument(f"--{net}", type=int, help=f"{net} blocks to keep (default: all)")
    a = p.parse_args(argv)
    model = load_model(a.source).float().eval()
    cover, secret = PairSampler(PhotoBank(list_images(ROOT / "data" / "photos")), 128, seed=1, max_zoom=8).sample(64)
    loss = recipe_loss(model)
    print(f"all blocks: loss {loss_of(model, cover, secret, loss):.4f}", flush=True)
    keep: dict[str, list[int]] = {}
    for net in ("prep", "hide", "reveal"):
        n, want = len(getattr(model, net).body), getattr(a, net)
        if want is None or want == n:
            continue
        scored = sorted((loss_of(with_blocks(model, {**keep, net: list(subset)}), cover, secret, loss), subset)
                        for subset in itertools.combinations(range(n), want))
        keep[net] = list(scored[0][1])
        print(f"{net}: keep {scored[0][1]} (loss {scored[0][0]:.4f}; worst subset {scored[-1][0]:.4f})", flush=True)
    print(save_weights(with_blocks(model, keep), a.out, shallowed_from=a.source, kept_blocks=keep))


if __name__ == "__main__":
    main()
