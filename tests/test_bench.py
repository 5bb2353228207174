"""The benchmark runs every registered model in one run and reports ratios against the seed design."""

from __future__ import annotations

import json

import pytest

from deepstego.models import list_models

from .conftest import run_cli


def test_bench_quick_covers_every_model(tmp_path):
    out = tmp_path / "bench.json"
    proc = run_cli("bench", "--quick", "--json", out)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    from deepstego.backend import openvino_installed
    from deepstego.bench import bench_names
    from deepstego.models.weights import shipped_weights

    torch_rows = [r for r in results if r["backend"] == "torch"]
    assert [r["model"] for r in torch_rows] == bench_names()
    # a shipped model is left out only where an architecture's row already runs its exact configuration
    assert set(list_models()) | {"dsnet-v1", "dsnet-v2", "dsnet-k2"} <= set(bench_names())
    assert "baluja-seed" in shipped_weights() and "baluja-seed" not in bench_names()
    if openvino_installed():  # every network once more on OpenVINO, the lsb baseline on PyTorch only
        assert {r["model"] for r in results if r["backend"] == "openvino"} == \
            {r["model"] for r in torch_rows if r["params"] > 0}
    for r in results:
        assert all(v > 0 for v in r["infer"].values())
        assert r["peak_rss_mb"] > 0
        assert r["speedup_vs_baluja"]["256x256 bf16"] > 0
    fast = next(r for r in torch_rows if r["model"] == "dsnet")
    assert fast["train"]["128x128 bf16"] > 0
    assert "| dsnet | torch |" in proc.stdout and "| dsnet-v1 | torch |" in proc.stdout
    shipped = next(r for r in torch_rows if r["model"] == "dsnet-v1")
    assert shipped["params"] < fast["params"]  # width 48 against the architecture's default 64


def test_freed_memory_is_kept_unless_turned_off():
    """glibc accepts the thresholds that keep activations' memory for reuse; the environment variable turns it off."""
    import os
    import subprocess
    import sys

    code = "from deepstego.precision import keep_freed_memory; print(keep_freed_memory())"
    for value, expected in (("1", "True"), ("0", "False")):
        env = {**os.environ, "DEEPSTEGO_KEEP_FREED_MEMORY": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected


@pytest.mark.slow
def test_ratio_interleaves_the_model_and_the_seed_design():
    """Two workers take turns: every round has a rate for each side, paired into that round's ratio; a keyed model
    runs with a key; a worker that fails is a one-line error, not a hang."""
    from deepstego.bench import ratio, ratio_text
    from deepstego.errors import DeepStegoError

    r = ratio("dsnet-k3", "torch", rounds=3, seconds=0.2, shape=(1, 64, 96))
    assert r["seed"] == "baluja-seed/torch" and r["rounds"] == 3
    assert all(len(v) == 3 and min(v) > 0 for v in r["pairs_per_s"].values())
    ratios = [m / s for m, s in zip(r["pairs_per_s"]["model"], r["pairs_per_s"]["seed"])]
    assert (r["ratio_min"], r["ratio_max"]) == (min(ratios), max(ratios))
    assert "96x64 hide + reveal" in ratio_text(r) and "3 interleaved rounds" in ratio_text(r)
    with pytest.raises(DeepStegoError, match="dsnet-v3 on torch"):
        ratio("dsnet-v3", "torch", rounds=1, seconds=0.1, shape=(1, 0, 64))  # an empty frame fails in the worker


def test_ratio_refuses_bad_rounds_and_models_in_one_line():
    import argparse

    from deepstego.bench import main
    from deepstego.errors import DeepStegoError

    proc = run_cli("bench", "--ratio", "--rounds", "0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    args = dict(ratio=True, rounds=10, model=None, video=False, json=None, quick=False)
    for bad in (dict(model="no-such-model"), dict(video=True)):  # refused before any worker starts
        with pytest.raises(DeepStegoError):
            main(argparse.Namespace(**{**args, **bad}))
