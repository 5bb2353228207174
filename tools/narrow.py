"""Prune a trained dsnet to fewer channels, as the starting point of a faster model.

    python tools/narrow.py SOURCE WIDTH OUT        # e.g. dsnet-v1 32 runs/dsnet-v1-w32-init

SOURCE is a shipped model name or a weights file; OUT gets OUT.safetensors and OUT.json (use with deepstego train
--init OUT.safetensors --teacher SOURCE).
"""

from __future__ import annotations

import sys

from deepstego.core import load_model
from deepstego.models.dsnet import narrowed
from deepstego.models.weights import save_weights

if __name__ == "__main__":
    source, width, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    print(save_weights(narrowed(load_model(source), width), out, narrowed_from=source))
