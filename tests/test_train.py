"""A short real training run writes loadable weights; resume continues exactly where the checkpoint was."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import deepstego
from deepstego.models.weights import load_weights, read_meta
from deepstego.train import LossConfig, TrainConfig, Trainer, train

from .conftest import run_cli, square


def _cfg(folder, out, **kw):
    base = dict(data=str(folder), out=str(out), size=64, batch=4, epochs=3, steps_per_epoch=10, val_pairs=4,
                max_side=512, progress=False, warmup_steps=5, quant_warmup_steps=10,
                loss=LossConfig(cover_ramp_steps=10))
    base.update(kw)
    return TrainConfig(**base)


def test_thirty_steps_write_loadable_weights(train_folder, tmp_path, photos):
    path = train(_cfg(train_folder, tmp_path / "run", arch_options={"width": 16}))
    model = load_weights(path)
    meta = read_meta(path)
    assert meta["trained"]["steps"] == 30
    assert meta["data_manifest_sha256"] and meta["recipe"]["loss"]["beta"] == 0.75
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all(np.isfinite(r["val_loss"]) for r in rows)
    assert len(list((tmp_path / "run" / "grids").glob("epoch_*.png"))) == 3
    assert (tmp_path / "run" / "best.safetensors").exists()
    # the weights file works everywhere a model is accepted
    cover, secret = square(photos[0], 64), square(photos[1], 64)
    stego = deepstego.hide(cover, secret, model=str(path))
    assert deepstego.reveal(stego, model=str(path)).shape == secret.shape
    assert model.arch == "dsnet" and model.config.width == 16


def test_training_lowers_the_loss(train_folder, tmp_path):
    cfg = _cfg(train_folder, tmp_path / "run", epochs=4, steps_per_epoch=15, arch_options={"width": 16}, lr=3e-3)
    train(cfg)
    rows = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["secret_ssim"] > rows[0]["secret_ssim"]


def test_resume_matches_uninterrupted(train_folder, tmp_path):
    """Stopping after 2 epochs and resuming gives the same weights as running 3 epochs straight."""
    opts = {"width": 8}
    straight = train(_cfg(train_folder, tmp_path / "a", arch_options=opts, precision="fp32"))
    Trainer(_cfg(train_folder, tmp_path / "b", arch_options=opts, precision="fp32")).run(stop_after_epoch=2)
    resumed = train(_cfg(train_folder, tmp_path / "b", arch_options=opts, precision="fp32", resume=True))
    a, b = load_weights(straight).state_dict(), load_weights(resumed).state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k


def test_resume_through_the_lossy_channel_matches_uninterrupted(train_folder, tmp_path):
    """--channel runs (real JPEG and H.264 in the loop, a generator of their own) resume exactly too, and their
    weights say they are robust."""
    from deepstego.robust import is_robust

    opts = {"width": 8, "factor": 4, "carrier": "all"}
    kw = dict(arch_options=opts, precision="fp32", channel=True, epochs=2, steps_per_epoch=6)
    straight = train(_cfg(train_folder, tmp_path / "a", **kw))
    Trainer(_cfg(train_folder, tmp_path / "b", **kw)).run(stop_after_epoch=1)
    resumed = train(_cfg(train_folder, tmp_path / "b", resume=True, **kw))
    a, b = load_weights(straight), load_weights(resumed)
    assert is_robust(a) and is_robust(b)
    for k, v in a.state_dict().items():
        assert torch.allclose(v, b.state_dict()[k], atol=1e-6), k


def test_fine_tune_from_shipped_weights_skips_the_warm_ups(train_folder, tmp_path):
    from deepstego.models.weights import shipped_weights

    proc = run_cli("train", "--data", train_folder, "--init", shipped_weights()["dsnet-v1"], "--size", "64",
                   "--batch", "4", "--epochs", "1", "--steps-per-epoch", "10", "--lr", "1e-4", "--quiet",
                   "--out", tmp_path / "ft")
    assert proc.returncode == 0, proc.stderr
    meta = read_meta(tmp_path / "ft" / "model.safetensors")
    assert meta["recipe"]["quant_warmup_steps"] == 0 and meta["recipe"]["loss"]["cover_ramp_steps"] == 0
    assert meta["config"]["width"] == 48  # the architecture comes from the weights
    row = json.loads((tmp_path / "ft" / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["secret_ssim"] > 0.8 and row["cover_ssim"] > 0.9


def test_refuses_to_overwrite_a_run(train_folder, tmp_path):
    cfg = _cfg(train_folder, tmp_path / "run", arch_options={"width": 8}, epochs=1, steps_per_epoch=2)
    train(cfg)
    proc = run_cli("train", "--data", train_folder, "--out", tmp_path / "run", "--epochs", "1")
    assert proc.returncode == 2 and "--resume" in proc.stderr


def test_cli_train_baluja(train_folder, tmp_path):
    proc = run_cli("train", "--data", train_folder, "--arch", "baluja", "--opt", "filters=12", "--size", "48",
                   "--batch", "2", "--epochs", "1", "--steps-per-epoch", "3", "--out", tmp_path / "b", "--quiet",
                   "--activation", "tanh")
    assert proc.returncode == 0, proc.stderr
    m = load_weights(tmp_path / "b" / "model.safetensors")
    assert m.arch == "baluja" and m.config.activation == "tanh" and m.config.filters == 12


def test_bad_data_folder(tmp_path):
    proc = run_cli("train", "--data", tmp_path / "nothing", "--out", tmp_path / "run")
    assert proc.returncode == 2 and "no such folder" in proc.stderr


@pytest.mark.slow
def test_two_process_ddp_training(train_folder, tmp_path):
    """torchrun with 2 CPU processes (gloo): rank 0 alone writes; weights from 1 and 2 processes both load."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    torchrun = Path(sys.executable).parent / "torchrun"
    common = ["train", "--data", str(train_folder), "--size", "48", "--batch", "8", "--epochs", "4",
              "--steps-per-epoch", "10", "--opt", "width=16", "--lr", "3e-3", "--cover-ramp-steps", "10", "--quiet"]

    def launch() -> subprocess.CompletedProcess:
        shutil.rmtree(tmp_path / "two", ignore_errors=True)
        return subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "deepstego.cli",
                               *common, "--out", str(tmp_path / "two")], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "PYTHONFAULTHANDLER": "1"})

    two = launch()
    if two.returncode != 0 and "exitcode: -6" in two.stderr:
        # The clean-clone CI of stop 33 saw rank 1 abort in C++ ("terminate called without an active exception")
        # after five seconds; it did not recur in 22 launches here, idle or with both cores loaded. Launch once more,
        # and keep the first failure's Python stacks (faulthandler) in the message should the second fail too.
        first, two = two.stderr[-3000:], launch()
        assert two.returncode == 0, first + "\n--- and again ---\n" + two.stderr[-3000:]
    assert two.returncode == 0, two.stderr[-3000:]
    one = run_cli(*common, "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr
    for run in ("one", "two"):
        m = load_weights(tmp_path / run / "model.safetensors")
        assert m.arch == "dsnet"
        state = torch.load(tmp_path / run / "checkpoint.pt", weights_only=True)
        assert state["step"] == 40
        rows = [json.loads(l) for l in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        assert len(rows) == 4  # one writer, not two
        assert rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_wandb_offline_logging(train_folder, tmp_path):
    pytest.importorskip("wandb", reason="the wandb extra is not installed")
    proc = run_cli("train", "--data", train_folder, "--out", tmp_path / "run", "--size", "32", "--batch", "2",
                   "--epochs", "2", "--steps-per-epoch", "2", "--opt", "width=8", "--quiet", "--wandb", "offline")
    assert proc.returncode == 0, proc.stderr
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))


def test_distillation_pulls_a_narrowed_model_towards_its_teacher(train_folder, tmp_path):
    """dsnet-v1 pruned to 32 channels, trained the same few steps with and without dsnet-v1 as teacher: with it,
    the distillation terms (its stego against the teacher's, its reveal of the teacher's stego against the
    secret) end lower."""
    from deepstego.core import load_model
    from deepstego.models.dsnet import narrowed
    from deepstego.models.weights import save_weights

    start = save_weights(narrowed(load_model("dsnet-v1"), 32), tmp_path / "w32")
    ends = {}
    for teacher in (None, "dsnet-v1"):
        trainer = Trainer(_cfg(train_folder, tmp_path / f"run-{teacher}", init=str(start), teacher=teacher,
                               batch=16, lr=2e-3, epochs=1, steps_per_epoch=40, precision="fp32",
                               quant_warmup_steps=0, loss=LossConfig(cover_ramp_steps=0)))
        trainer.run()
        trainer.teacher = load_model("dsnet-v1")
        cover, secret = trainer.val
        with torch.no_grad():
            ends[teacher] = float(trainer.distillation(cover, secret, trainer.model(cover, secret).stego))
    assert ends["dsnet-v1"] < 0.9 * ends[None]
    assert read_meta(tmp_path / "run-dsnet-v1" / "model.safetensors")["recipe"]["teacher"] == "dsnet-v1"


def test_sigterm_keeps_a_checkpoint_to_resume(train_folder, tmp_path):
    """A training run stopped by SIGTERM saves where it was; --resume carries on from there."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path / "run"
    common = ["train", "--data", str(train_folder), "--out", str(out), "--opt", "width=8", "--size", "32",
              "--batch", "4", "--steps-per-epoch", "5", "--checkpoint-minutes", "1000", "--quiet"]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "deepstego"), *common, "--epochs", "1000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 120
    while not (out / "metrics.jsonl").exists() or (out / "metrics.jsonl").read_text().count("\n") < 2:
        assert time.monotonic() < end and proc.poll() is None
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["step"] >= 10
    done = run_cli(*common, "--epochs", str(state["epoch"] + 1), "--resume", check=True)
    assert "weights written" in done.stdout
    assert read_meta(out / "model.safetensors")["trained"]["steps"] > state["step"]


def test_keyed_fine_tune_from_keyless_weights(train_folder, tmp_path):
    """--init keyless weights with --opt keyed=true: the same tensors under a keyed config, trained under random
    keys; the keyed model refuses to run without a key."""
    from deepstego.keys import Key

    first = train(_cfg(train_folder, tmp_path / "plain", arch_options={"width": 8}, epochs=1))
    keyed = train(_cfg(train_folder, tmp_path / "keyed", init=str(first), epochs=1,
                       arch_options={"keyed": True, "predictor_blocks": 1}))
    meta = read_meta(keyed)
    assert meta["config"]["keyed"] and meta["config"]["predictor_blocks"] == 1
    model = load_weights(keyed)
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(deepstego.DeepStegoError, match="keyed model"):
        deepstego.hide(np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), model=model)
    stego = deepstego.hide((x[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8),
                           np.full((64, 64, 3), 90, np.uint8), model=model, key=Key.from_passphrase("k"))
    assert stego.shape == (64, 64, 3)


def test_critic_in_the_loop_resumes_exactly_and_learns_to_see_stego(train_folder, tmp_path):
    """--critic-weight: a cnn steganalyser trained alongside the hider (its state in the checkpoint, so a resumed run
    matches an uninterrupted one), and its accuracy logged per epoch; --adaptive-cover trains too."""
    loss = LossConfig(cover_ramp_steps=10, adaptive=True)
    kw = dict(arch_options={"width": 8}, precision="fp32", critic_weight=0.05, loss=loss, epochs=2)
    straight = train(_cfg(train_folder, tmp_path / "a", **kw))
    Trainer(_cfg(train_folder, tmp_path / "b", **kw)).run(stop_after_epoch=1)
    resumed = train(_cfg(train_folder, tmp_path / "b", resume=True, **kw))
    a, b = load_weights(straight).state_dict(), load_weights(resumed).state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    rows = [json.loads(l) for l in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= r["critic_accuracy"] <= 1 for r in rows)
    assert read_meta(straight)["recipe"]["critic_weight"] == 0.05
    proc = run_cli("train", "--data", train_folder, "--critic-weight", "-1", "--out", tmp_path / "bad")
    assert proc.returncode == 2 and "--critic-weight must be 0 or more" in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device: --device cuda would train")
def test_device_cuda_without_a_gpu_is_a_clear_error(train_folder, tmp_path):
    proc = run_cli("train", "--data", train_folder, "--device", "cuda", "--out", tmp_path / "gpu")
    assert proc.returncode == 2 and "--device cuda: PyTorch sees no CUDA device" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "gpu").exists()


def test_hill_cost_is_high_where_the_cover_is_smooth(photos):
    from deepstego.stealth import hill_cost

    x = torch.full((1, 3, 64, 64), 0.5)
    x[..., 32:] = torch.rand(1, 3, 64, 32)  # right half: noise
    cost = hill_cost(x)[0, 0]
    assert cost.shape == (64, 64) and abs(float(cost.mean()) - 1) < 1e-4
    assert float(cost[:, :16].mean()) > 10 * float(cost[:, 48:].mean())


def test_residual_statistics_penalty_grows_with_the_payload_and_descends(photos):
    """The SRM-statistics penalty is 0 for the cover itself, grows with an LSB payload on real photos, is larger
    for the default model's stego than for LSB at 0.1 bpp, and a small step against its gradient lowers it."""
    from deepstego.core import hide_tensor, load_model
    from deepstego.steganalysis.classical import lsb_embed
    from deepstego.stealth import residual_statistics_penalty

    cover = torch.stack([torch.from_numpy(square(p, 96)).permute(2, 0, 1).float() / 255 for p in photos[:4]])
    u8 = (cover * 255).round().to(torch.uint8).numpy()
    lsb = [residual_statistics_penalty(cover, torch.from_numpy(lsb_embed(u8, r, 0)).float() / 255) for r in (0.1, 0.5)]
    stego = hide_tensor(load_model(), cover, cover.flip(0))
    assert float(residual_statistics_penalty(cover, cover)) == 0
    assert 0 < lsb[0] < lsb[1] and residual_statistics_penalty(cover, stego) > lsb[0], lsb
    x = stego.clone().requires_grad_(True)
    penalty = residual_statistics_penalty(cover, x)
    (grad,) = torch.autograd.grad(penalty, [x])
    assert residual_statistics_penalty(cover, x.detach() - 0.5 / 255 * grad.sign()) < penalty
