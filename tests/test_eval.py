"""deepstego eval: every pair goes through a saved PNG; per-pair and mean figures; time-to-quality curves."""

from __future__ import annotations

import json

import pytest

from deepstego.evaluate import evaluate
from deepstego.train import LossConfig, TrainConfig, train

from .conftest import run_cli


def test_eval_cli_writes_results_and_grid(tmp_path):
    out, grid = tmp_path / "lsb.json", tmp_path / "grid.png"
    proc = run_cli("eval", "--model", "lsb:3", "--json", out, "--grid", grid)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["pairs"] == 9 and len(res["per_pair"]) == 9 and res["size"] == 256
    # 3-bit LSB: the cover keeps its top 5 bits, the secret its top 3
    assert 36 < res["mean"]["cover_psnr"] < 40 and 28 < res["mean"]["secret_psnr"] < 31
    assert res["mean"]["cover_ssim"] > res["mean"]["secret_ssim"]
    assert grid.stat().st_size > 10_000
    assert "mean of 9 pairs" in proc.stdout


def test_eval_on_a_folder(train_folder):
    res = evaluate("lsb", images=sorted(train_folder.glob("*.png")), size=96)
    assert res["pairs"] == 4 and 33 < res["mean"]["secret_psnr"] < 36


def test_time_to_quality_curve(train_folder, tmp_path):
    cfg = TrainConfig(data=str(train_folder), out=str(tmp_path / "run"), size=48, batch=4, epochs=2,
                      steps_per_epoch=6, val_pairs=4, max_side=256, progress=False, arch_options={"width": 8},
                      snapshot_minutes=1e-4, loss=LossConfig(cover_ramp_steps=4))
    train(cfg)
    proc = run_cli("eval", "--curve", tmp_path / "run", "--size", "64", "--json", tmp_path / "curve.json",
                   "--plot", tmp_path / "curve.png")
    assert proc.returncode == 0, proc.stderr
    points = json.loads((tmp_path / "curve.json").read_text())["points"]
    assert len(points) >= 3
    assert [p["minutes"] for p in points] == sorted(p["minutes"] for p in points)
    assert (tmp_path / "curve.png").stat().st_size > 5_000


def test_eval_bad_folder(tmp_path):
    proc = run_cli("eval", "--model", "lsb", "--images", tmp_path / "none")
    assert proc.returncode == 2 and "no such folder" in proc.stderr
