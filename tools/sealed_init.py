"""Starting weights for a sealed keyed dsnet (``sealed=True``, ``mix_rounds=3``; see deepstego.models.dsnet).

    python tools/sealed_init.py runs/sealed-init        → runs/sealed-init.safetensors (+ .json)

The prep, hide and reveal networks come from the keyless dsnet-v2, whose hide network already reads the plain
cover as the sealed design's does, and the key-agnostic cover predictor from dsnet-k2. The gain network starts at
an RMS of 2 levels per sub-band and the reveal's plain-stego inputs at zero weight. Then (tools/sealed_train.sh):
    deepstego train --init runs/sealed-init.safetensors ...   (no adversary: nothing leaks by construction)
"""

from __future__ import annotations

import sys

from deepstego.core import load_model
from deepstego.models import create_model
from deepstego.models.weights import save_weights


def main(out: str) -> None:
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


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/sealed-init")
