"""``deepstego sweep-report``: parallel coordinates, parameter importance, every trial's loss curve (coloured by
activation), comparison grids of the best and worst trials on the same fixed pairs, and an HTML page of them all."""

from __future__ import annotations

import html
import warnings
from pathlib import Path

import numpy as np
import torch

from ..errors import DeepStegoError
from ..images import atomic_write
from .study import _optuna, storage_for

COLOURS = {"relu": "tab:blue", "tanh": "tab:red", "leaky_relu": "tab:green", "gelu": "tab:purple"}


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))


def _fixed_pairs(size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    from ..data import eval_photos
    from ..evaluate import centre_square

    photos = [centre_square(p, size) for p in eval_photos()[:4]]
    t = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float() / 255
    return t, torch.roll(t, 1, dims=0)


def _trials_table(st, path: Path) -> Path:
    """Markdown table of every trial: parameters, state, validation loss, final SSIM/PSNR and minutes."""
    names = sorted({k for t in st.trials for k in t.params})
    attrs = ("cover_ssim", "secret_ssim", "cover_psnr", "secret_psnr", "minutes")
    head = ["#", *names, "state", "val loss", *attrs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in st.trials:
        params = [f"{t.params[k]:.3g}" if isinstance(t.params.get(k), float) else str(t.params.get(k, "")) for k in names]
        curve = t.user_attrs.get("curve") or [[None, None]]
        loss = t.value if t.value is not None else curve[-1][1]
        cells = [f"{t.user_attrs[a]:.4f}" if a in t.user_attrs else "" for a in attrs]
        lines.append("| " + " | ".join([str(t.number), *params, t.state.name.lower(),
                                          f"{loss:.4f}" if loss is not None else "", *cells]) + " |")
    return atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))


def sweep_report(storage: str | None, study: str, out: str | Path) -> dict:
    """Write the report's figures and ``index.html`` to ``out``; returns {name: path}."""
    optuna = _optuna()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    from ..core import hide_tensor, reveal_tensor
    from ..models.weights import load_weights
    from ..report import save_grid

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        st = optuna.load_study(study_name=study, storage=storage_for(storage, out))
    except KeyError:
        raise DeepStegoError(f"no study named {study!r} in {storage}") from None
    done = [t for t in st.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) < 2:
        raise DeepStegoError(f"study {study!r} has {len(done)} completed trial(s); the report needs at least 2")
    files: dict[str, Path] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna marks its matplotlib plots experimental
        ax = ovm.plot_parallel_coordinate(st)
        _save(ax.figure, out / "parallel_coordinates.png")
        plt.close(ax.figure)
        files["parallel coordinates"] = out / "parallel_coordinates.png"
        try:
            ax = ovm.plot_param_importances(st)
            _save(ax.figure, out / "param_importances.png")
            plt.close(ax.figure)
            files["parameter importance"] = out / "param_importances.png"
        except (RuntimeError, ValueError):  # too few distinct trials to rank parameters
            pass
    fig, ax = plt.subplots(figsize=(7, 4))
    for t in st.trials:
        curve = t.user_attrs.get("curve")
        if curve:
            act = t.params.get("activation", "relu")
            ax.plot([c[0] for c in curve], [c[1] for c in curve], color=COLOURS.get(act, "gray"), alpha=0.8,
                    lw=1.2, marker="o", ms=3, ls="-" if t.state == optuna.trial.TrialState.COMPLETE else ":")
    for act, col in COLOURS.items():
        ax.plot([], [], color=col, label=act)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation loss")
    ax.set_yscale("log")
    ax.set_title("every trial (dotted: pruned)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, out / "loss_curves.png")
    plt.close(fig)
    files["loss curves"] = out / "loss_curves.png"
    cover, secret = _fixed_pairs()
    ranked = sorted(done, key=lambda t: t.value)
    for label, t in (("best", ranked[0]), ("worst", ranked[-1])):
        model = load_weights(t.user_attrs["weights"])
        stego = hide_tensor(model, cover, secret)
        revealed = reveal_tensor(model, stego)
        path = save_grid(out / f"grid_{label}.png", cover, secret, stego, revealed)
        files[f"{label} trial #{t.number}: {html.escape(str(t.params))}, val loss {t.value:.4f}"] = path
    files["trials table"] = _trials_table(st, out / "trials.md")
    rows = "\n".join(f"<h2>{name}</h2><img src='{p.name}' style='max-width:100%'>" for name, p in files.items()
                     if p.suffix == ".png")
    rows += f"<h2>Every trial</h2><pre>{html.escape((out / 'trials.md').read_text())}</pre>"
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>deepstego sweep {html.escape(study)}</title>"
            f"</head><body><h1>Study {html.escape(study)}: {len(st.trials)} trials, {len(done)} completed</h1>"
            f"{rows}</body></html>\n")
    atomic_write(out / "index.html", lambda tmp: tmp.write_text(page))
    files["page"] = out / "index.html"
    return files
