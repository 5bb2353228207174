"""Every inference backend gives PyTorch's images through saved files, whole and in tiles, keyed and keyless: the
stego within one 8-bit level, the reveal within one in fp32 and, in bf16 (where OpenVINO runs the reveal's first
layer in bf16 and PyTorch in fp32), at the same SSIM; a missing backend is a one-line error."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deepstego.backend import openvino_installed
from deepstego.core import hide, load_model, reveal
from deepstego.keys import Key
from deepstego.metrics import ssim
from deepstego.models.weights import shipped_weights

from .conftest import run_cli, square

needs_openvino = pytest.mark.skipif(not openvino_installed(), reason="the openvino extra is not installed")


def _levels(a, b) -> int:
    return int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())


@needs_openvino
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", sorted(shipped_weights()))
def test_openvino_matches_torch_through_saved_files(name, precision, photos, tmp_path):
    model = load_model(name)
    key = Key.for_seed(5) if model.keyed else None
    cover, secret = square(photos[0], 256), square(photos[1], 256)
    stego = {}
    for backend in ("torch", "openvino"):
        stego[backend] = hide(cover, secret, model=model, key=key, precision=precision, backend=backend, refine=0)
    assert _levels(stego["torch"], stego["openvino"]) <= 1
    path = tmp_path / "stego.png"
    Image.fromarray(stego["torch"]).save(path)
    revealed = {b: reveal(path, model=model, key=key, precision=precision, backend=b) for b in ("torch", "openvino")}
    if precision == "fp32":
        assert _levels(revealed["torch"], revealed["openvino"]) <= 1
    else:
        diff = np.abs(np.asarray(revealed["torch"], float) - np.asarray(revealed["openvino"])).mean()
        assert diff < 0.5 and _levels(revealed["torch"], revealed["openvino"]) <= 8
    scores = {b: float(ssim(secret, np.asarray(r))) for b, r in revealed.items()}
    floor = 0.8 if model.arch == "dsnet" else 0.5  # baluja-seed reads back far less (its card)
    assert scores["openvino"] > floor and abs(scores["openvino"] - scores["torch"]) < 0.005


@needs_openvino
@pytest.mark.slow
@pytest.mark.parametrize("name", ["dsnet-k3", "dsnet-v4"])
def test_openvino_in_tiles_matches_a_whole_torch_pass(name, photos):
    """An image larger than a tile: a keyed model's tiles get their signs cut as in PyTorch, a keyless dsnet's folded
    graph gives PyTorch's tiles."""
    model = load_model(name)
    key = Key.for_seed(6) if model.keyed else None
    cover = np.asarray(Image.open(photos[0]).convert("RGB").resize((1500, 1400)))
    secret = np.asarray(Image.open(photos[1]).convert("RGB").resize((1500, 1400)))
    torch_stego = hide(cover, secret, model=model, key=key, precision="fp32", backend="torch", refine=0)
    ov_stego = hide(cover, secret, model=model, key=key, precision="fp32", backend="openvino", refine=0)
    assert _levels(torch_stego, ov_stego) <= 1
    assert _levels(reveal(ov_stego, model=model, key=key, precision="fp32", backend="openvino"),
                   reveal(ov_stego, model=model, key=key, precision="fp32", backend="torch")) <= 1


@needs_openvino
def test_openvino_batches_match_torch(photos):
    """A batch of frames (as the video path sends them) through the default model's folded, channels-last graph: each
    frame's stego and reveal as PyTorch gives them, not another frame's, on the 8-bit grid and channels-last."""
    import torch

    from deepstego.core import hide_tensor, reveal_tensor
    from deepstego.images import on_8bit_grid, to_tensor

    model = load_model()
    covers = torch.cat([to_tensor(square(p, 96)) for p in photos[:2]])
    secrets = torch.cat([to_tensor(square(p, 96)) for p in photos[2:4]])
    out = {b: hide_tensor(model, covers, secrets, precision="fp32", backend=b) for b in ("torch", "openvino")}
    assert (out["torch"] - out["openvino"]).abs().max() * 255 <= 1 + 1e-4
    revealed = {b: reveal_tensor(model, out["torch"], precision="fp32", backend=b) for b in ("torch", "openvino")}
    assert (revealed["torch"] - revealed["openvino"]).abs().max() * 255 <= 1 + 1e-4
    for image in (out["openvino"], revealed["openvino"]):  # the compiled graph's own 8-bit rounding
        assert torch.equal(on_8bit_grid(image), image) and image.is_contiguous(memory_format=torch.channels_last)
    assert (revealed["torch"][0] - revealed["torch"][1]).abs().mean() > 0.05  # two different secrets


@needs_openvino
def test_cli_backend_round_trip(photos, tmp_path):
    cover, secret = tmp_path / "cover.png", tmp_path / "secret.png"
    Image.fromarray(square(photos[2], 192)).save(cover)
    Image.fromarray(square(photos[3], 192)).save(secret)
    stego, out = tmp_path / "stego.png", tmp_path / "revealed.png"
    proc = run_cli("hide", cover, secret, "-o", stego, "--backend", "openvino", "--refine", "0")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("reveal", stego, "-o", out, "--backend", "openvino")
    assert proc.returncode == 0, proc.stderr
    assert float(ssim(np.asarray(Image.open(secret)), np.asarray(Image.open(out)))) > 0.8


def test_missing_openvino_is_a_one_line_error_and_auto_falls_back(tmp_path):
    """Where the extra is missing, auto runs PyTorch and --backend openvino says how to install it."""
    block = tmp_path / "sitecustomize.py"
    block.write_text("import sys\nsys.modules['openvino'] = None\n")  # import openvino → ImportError
    code = ("from deepstego.backend import resolve_backend\nprint(resolve_backend('auto'))\n"
            "from deepstego.errors import DeepStegoError\n"
            "try:\n    resolve_backend('openvino')\nexcept DeepStegoError as e:\n    print(e)\n")
    env = {"PYTHONPATH": str(tmp_path)}
    import os

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    auto, error = out.stdout.strip().splitlines()
    assert auto == "torch"
    assert "pip install 'deepstego[openvino]'" in error
    proc = run_cli("reveal", tmp_path / "none.png", "-o", tmp_path / "out.png", "--backend", "cuda")
    assert proc.returncode == 2 and "--backend" in proc.stderr and "Traceback" not in proc.stderr


def test_openvino_backend_makes_no_network_request_and_no_fork():
    """OpenVINO's converter would report usage over the network from a forked process; deepstego's import of it
    blocks that (a forked sender once hung a reveal at exit)."""
    code = (
        "import os, socket, sys\n"
        "calls = []\n"
        "socket.getaddrinfo = lambda *a, **k: calls.append(('getaddrinfo', a)) or []\n"
        "real_fork = os.fork\n"
        "os.fork = lambda: calls.append(('fork',)) or real_fork()\n"
        "import torch\n"
        "from deepstego.core import load_model\n"
        "from deepstego.backend import runner\n"
        "net = runner(load_model('dsnet-v2'), 'openvino', 'fp32')\n"
        "x = torch.rand(1, 3, 64, 64)\n"
        "net.decode(net.encode(x, x))\n"
        "import openvino.tools.ovc.convert_impl as ci\n"
        "print(calls, sys.modules.get('openvino_telemetry'), ci.tm.__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["[]", "None", "openvino.tools.ovc.telemetry_stub"], out.stdout + out.stderr
