"""Optuna sweeps: a tiny 3-trial study and its report; two concurrent workers share one SQLite study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from .conftest import run_cli

optuna = pytest.importorskip("optuna", reason="the sweep extra is not installed")

TINY = ["--max-minutes-per-trial", "0.3", "--steps-per-epoch", "4"]


def _space(tmp_path):
    space = tmp_path / "space.json"
    space.write_text('{"epochs": {"low": 2, "high": 3}, "width": [8, 12]}')
    return space


def test_three_trial_sweep_and_report(train_folder, tmp_path):
    out = tmp_path / "sweep"
    proc = run_cli("sweep", "--data", train_folder, "--trials", "3", "--out", out, "--space", _space(tmp_path), *TINY)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="deepstego", storage=f"sqlite:///{out / 'study.db'}")
    assert len(study.trials) == 3
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) >= 2
    for t in done:
        assert {"lr", "activation", "epochs", "beta", "arch", "width"} <= set(t.params)
        assert 0 < t.user_attrs["secret_ssim"] <= 1 and t.user_attrs["curve"]
    report = tmp_path / "report"
    proc = run_cli("sweep-report", "--storage", f"sqlite:///{out / 'study.db'}", "--study", "deepstego",
                   "--out", report)
    assert proc.returncode == 0, proc.stderr
    for name in ("parallel_coordinates.png", "loss_curves.png", "grid_best.png", "grid_worst.png"):
        with Image.open(report / name) as im:
            assert im.width > 200 and im.height > 100
    page = (report / "index.html").read_text()
    assert "grid_best.png" in page and "loss_curves.png" in page
    table = (report / "trials.md").read_text().splitlines()
    assert len(table) == 2 + 3 and "val loss" in table[0]


def test_two_workers_share_one_study(train_folder, tmp_path):
    out = tmp_path / "shared"
    out.mkdir()
    url = f"sqlite:///{out / 'study.db'}"
    exe = Path(sys.executable).parent / "deepstego"
    args = [str(exe), "sweep", "--data", str(train_folder), "--trials", "2", "--storage", url, "--study", "shared",
            "--out", str(out), "--space", str(_space(tmp_path)), *TINY]
    # create the study first so both workers find the schema in place
    optuna.create_study(storage=url, study_name="shared", direction="minimize")
    workers = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=600)
        assert w.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=url)
    assert len(study.trials) == 4


def test_report_needs_completed_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(storage=url, study_name="empty")
    proc = run_cli("sweep-report", "--storage", url, "--study", "empty", "--out", tmp_path / "r")
    assert proc.returncode == 2 and "completed trial" in proc.stderr


def test_grid_runs_every_combination_once(train_folder, tmp_path):
    space = tmp_path / "grid.json"
    space.write_text('{"lr": [0.001, 0.003], "activation": ["relu", "tanh"], "epochs": [2], "beta": [0.75], '
                     '"arch": ["dsnet"], "width": [8]}')
    out = tmp_path / "grid"
    proc = run_cli("sweep", "--data", train_folder, "--trials", "10", "--out", out, "--space", space, "--grid", *TINY)
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="deepstego", storage=f"sqlite:///{out / 'study.db'}")
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert sorted((t.params["lr"], t.params["activation"]) for t in study.trials) == [
        (0.001, "relu"), (0.001, "tanh"), (0.003, "relu"), (0.003, "tanh")]
    proc = run_cli("sweep", "--data", train_folder, "--trials", "1", "--out", tmp_path / "g2", "--grid",
                   "--space", _space(tmp_path))
    assert proc.returncode == 2 and "a grid needs lists" in proc.stderr
