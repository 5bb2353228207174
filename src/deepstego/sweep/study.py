"""``deepstego sweep``: an Optuna study over learning rate, activation, epochs, β, architecture and width.

The objective is the final validation loss of a short training run; cover and secret SSIM and the per-epoch loss
curve are kept as user attributes; hopeless trials are pruned (median rule) after each epoch. Any RDB URL works as
storage, so workers on several machines can share one study (PostgreSQL or MySQL there; SQLite for one machine).
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import limits
from ..errors import DeepStegoError, missing_extra

DEFAULT_SPACE = {
    "lr": {"low": 1e-4, "high": 5e-3, "log": True},
    "activation": ["relu", "tanh", "leaky_relu", "gelu"],
    "epochs": {"low": 2, "high": 6},
    "beta": {"low": 0.5, "high": 2.0},
    "arch": ["dsnet"],
    "width": [16, 32, 48],
}
WIDTH_OPTION = {"dsnet": "width", "baluja": "filters"}


def _optuna():
    try:
        import optuna
    except ImportError:
        raise missing_extra("sweep", "optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def load_space(path: str | Path | None) -> dict:
    if path is None:
        return dict(DEFAULT_SPACE)
    try:
        space = {**DEFAULT_SPACE, **json.loads(Path(path).read_text())}
    except (OSError, json.JSONDecodeError) as exc:
        raise DeepStegoError(f"{path}: not a readable JSON search space ({exc})") from None
    unknown = set(space) - set(DEFAULT_SPACE)
    if unknown:
        raise DeepStegoError(f"{path}: unknown parameter(s) {', '.join(sorted(unknown))}")
    return space


def _suggest(trial, name: str, spec):
    if isinstance(spec, list):
        return trial.suggest_categorical(name, spec)
    if isinstance(spec["low"], int) and isinstance(spec["high"], int) and not spec.get("log"):
        return trial.suggest_int(name, spec["low"], spec["high"])
    return trial.suggest_float(name, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))


def storage_for(url: str | None, out: Path):
    optuna = _optuna()
    url = url or f"sqlite:///{(out / 'study.db').resolve()}"
    if url.startswith("sqlite"):
        # several local workers write to one SQLite file: wait for its lock instead of failing
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
    return url


def run_sweep(data: str, *, trials: int, out: str | Path = "runs/sweep", storage: str | None = None,
              study: str = "deepstego", space_file: str | None = None, max_minutes_per_trial: float = 3.0,
              steps_per_epoch: int = 60, size: int = 64, batch: int = 16, seed: int = 0, grid: bool = False):
    """Run ``trials`` trials in this process (other processes may run the same study at the same time).

    ``grid``: every combination of the space's listed values, once each, with no pruning (so that every cell of a
    controlled comparison has its final loss); otherwise TPE sampling with median pruning.
    """
    limits.count("--trials", trials, 1, limits.MAX_STEPS)
    limits.count("--steps-per-epoch", steps_per_epoch, 1, limits.MAX_STEPS)
    optuna = _optuna()
    from ..train import LossConfig, TrainConfig, Trainer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    space = load_space(space_file)
    if grid:
        ranges = [k for k, v in space.items() if not isinstance(v, list)]
        if ranges:
            raise DeepStegoError(f"a grid needs lists of values; give {', '.join(ranges)} as lists in --space")
        sampler, pruner = optuna.samplers.GridSampler(space, seed=seed), optuna.pruners.NopPruner()
    else:
        sampler = optuna.samplers.TPESampler(seed=None)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    st = optuna.create_study(storage=storage_for(storage, out), study_name=study, direction="minimize",
                             load_if_exists=True, pruner=pruner, sampler=sampler)

    def objective(trial):
        p = {k: _suggest(trial, k, v) for k, v in space.items()}
        epochs = int(p["epochs"])
        arch_options = {"activation": p["activation"], WIDTH_OPTION[p["arch"]]: int(p["width"])}
        run_dir = out / f"{study}-trial{trial.number:04d}-{trial._trial_id}"
        cfg = TrainConfig(data=data, out=str(run_dir), arch=p["arch"], arch_options=arch_options, size=size,
                          batch=batch, lr=p["lr"], epochs=epochs, steps_per_epoch=steps_per_epoch,
                          max_minutes=max_minutes_per_trial, patience=10**6, seed=seed, progress=False,
                          val_pairs=16, warmup_steps=min(50, steps_per_epoch),
                          quant_warmup_steps=epochs * steps_per_epoch // 3,
                          loss=LossConfig(beta=p["beta"], cover_ramp_steps=epochs * steps_per_epoch // 3))
        rows = []

        def on_epoch(row):
            rows.append(row)
            trial.set_user_attr("curve", [[r["epoch"], r["val_loss"]] for r in rows])
            trial.report(row["val_loss"], row["epoch"])
            if trial.should_prune():
                raise optuna.TrialPruned()

        weights = Trainer(cfg).run(on_epoch=on_epoch)
        last = rows[-1]
        for k in ("cover_ssim", "secret_ssim", "cover_psnr", "secret_psnr", "minutes"):
            trial.set_user_attr(k, last[k])
        trial.set_user_attr("weights", str(Path(weights).resolve()))
        return last["val_loss"]

    st.optimize(objective, n_trials=trials, catch=())
    return st
