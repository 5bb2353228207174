"""Starting weights for a sealed keyed dsnet (``sealed=True``, ``mix_rounds=3``; see deepstego.models.dsnet).

    python tools/sealed_init.py runs/sealed-init        → runs/sealed-init.safetensors (+ .json)
    python tools/sealed_init.py OUT --from SEALED.safetensors --informed-blocks 2

The second form adds the informed embedding (``informed_blocks``) to a trained sealed model, its correction
starting at zero, so the new model starts exactly where that one stands.

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


def informed(out: str, start: str, blocks: int) -> None:
    base = load_weights(start)
    if not (base.config.keyed and base.config.sealed):
        raise SystemExit(f"{start} is not a sealed keyed dsnet")
    model = create_model("dsnet", **{**base.config_dict(), "informed_blocks": blocks})
    missing, unexpected = model.load_state_dict(base.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("hide.embed.") for k in missing), (missing, unexpected)
    print(save_weights(model, out, lineage=[*base.meta.get("lineage", []), f"{start} with a fresh informed "
                                            f"embedding of {blocks} blocks (tools/sealed_init.py)"]))


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
    p.add_argument("--informed-blocks", type=int, default=2)
    a = p.parse_args(argv)
    if a.start:
        informed(a.out, a.start, a.informed_blocks)
    else:
        fresh(a.out)


if __name__ == "__main__":
    main()
