"""Starting weights for a sealed keyed dsnet (``sealed=True``, ``mix_rounds=3``; see deepstego.models.dsnet).

    python tools/sealed_init.py runs/sealed-init        → runs/sealed-init.safetensors (+ .json)
    python tools/sealed_init.py OUT --from SEALED.safetensors [--informed-blocks 2] [--cancel]

The second form adds the informed embedding (``informed_blocks``, its correction starting at zero, so the new
model starts exactly where that one stands) and, with ``--cancel``, host cancellation (a share of 0.05 at first)
to a trained sealed model.

The prep, hide and reveal networks come from the keyless dsnet-v2, whose hide network already reads the plain
cover as the sealed design's does, and the key-agnostic cover predictor from dsnet-k2. The gain network starts at
an RMS of 2 levels per sub-band and the reveal's plain-stego inputs at zero weight. Then (tools/sealed_train.sh):
    deepstego train --init runs/sealed-init.safetensors ...   (no adversary: nothing leaks by construction)
"""

from __future__ import annotations

import argparse

from deepstego.core import load_model
from deepstego.models import create_model
from deepstego.models.weights import load_weights, save_weights


def informed(out: str, start: str, blocks: int, cancel: bool) -> None:
    base = load_weights(start)
    if not (base.config.keyed and base.config.sealed):
        raise SystemExit(f"{start} is not a sealed keyed dsnet")
    blocks = base.config.informed_blocks or blocks
    cancel = cancel or base.config.cancel
    model = create_model("dsnet", **{**base.config_dict(), "informed_blocks": blocks, "cancel": cancel})
    state, old = model.state_dict(), base.state_dict()
    for name, tensor in state.items():
        if name in old and old[name].shape == tensor.shape:
            state[name] = old[name].clone()
        elif name in old:  # the embedding's first convolution reads more bands: the new ones start at zero weight
            tensor.zero_()
            tensor[:, :old[name].shape[1]] = old[name]
    model.load_state_dict(state)
    added = [f"a fresh informed embedding of {blocks} blocks"] if not base.config.informed_blocks else []
    added += ["host cancellation starting at a share of 0.05"] if cancel and not base.config.cancel else []
    print(save_weights(model, out, lineage=[*base.meta.get("lineage", []),
                                            f"{start} with {' and '.join(added) or 'nothing'} (tools/sealed_init.py)"]))


def fresh(out: str) -> None:
    keyless, keyed = load_model("dsnet-v2"), load_model("dsnet-k2")
    model = create_model("dsnet", **{**keyed.config_dict(), "sealed": True, "mix_rounds": 3})
    state, plain, predictor = model.state_dict(), keyless.state_dict(), keyed.state_dict()
    for name, tensor in state.items():
        if name.startswith("reveal.predictor."):
            state[name] = predictor[name].clone()
        elif name == "reveal.inp.weight":  # unmixed code first (as dsnet-v2 reads its sub-bands), then the context
            tensor.zero_()
            tensor[:, :plain[name].shape[1]] = plain[name]
        elif name in plain:
            state[name] = plain[name].clone()
    model.load_state_dict(state)
    print(save_weights(model, out, lineage=["dsnet-v2's prep, hide and reveal networks and dsnet-k2's cover "
                                            "predictor (tools/sealed_init.py); the gain network fresh"]))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", default="runs/sealed-init")
    p.add_argument("--from", dest="start", help="a trained sealed model's weights: add the informed embedding")
    p.add_argument("--informed-blocks", type=int, default=2, help="(unless the model has them already)")
    p.add_argument("--cancel", action="store_true", help="add host cancellation (needs the cover predictor)")
    a = p.parse_args(argv)
    if a.start:
        informed(a.out, a.start, a.informed_blocks, a.cancel)
    else:
        fresh(a.out)


if __name__ == "__main__":
    main()
