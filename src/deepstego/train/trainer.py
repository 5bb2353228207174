"""Training: pairs from a photo folder, bf16 autocast where the CPU does bf16 natively (fp32 elsewhere) or on a
CUDA GPU (``device="cuda"``, the photos still sampled on the CPU, a batch ahead), checkpoints every few minutes with exact resume, best-so-far weights, per-epoch JSON-lines metrics, TensorBoard,
comparison grids and timed weight snapshots."""

from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import limits
from ..channel import Channel, real_jpeg
from ..data import PairSampler, PhotoBank, fixed_pairs, list_images, split_by_photo
from ..data.corpus import manifest_hash
from ..errors import DeepStegoError, missing_extra
from ..metrics import psnr, ssim
from ..models import create_model, model_entry
from ..models.blocks import quantize
from ..models.weights import load_weights, save_weights
from ..precision import DEVICES, autocast, keep_freed_memory, machine, resolve_precision
from ..report import save_grid
from . import dist
from .adversary import Adversary, public_penalty, public_readers, wrong_key_penalty
from .critic import Critic
from .losses import LossConfig, stego_loss


@dataclass
class TrainConfig:
    data: str
    out: str = "runs/train"
    arch: str = "dsnet"
    arch_options: dict = field(default_factory=dict)
    init: str | None = None  # start from these weights (same architecture)
    teacher: str | None = None  # a trained model whose stego the hider is pulled towards (any architecture)
    teacher_weight: float = 5.0  # weight of that pull at step 0; it fades linearly to 0 over the run
    adversary_weight: float = 0.0  # keyed models: weight of the key-agnostic adversary's penalty (0: none)
    critic_weight: float = 0.0  # weight of a steganalysis critic's penalty, the critic trained alongside (0: none)
    channel: bool = False  # robust models: every batch's stego through deepstego.channel (validation: JPEG q90)
    size: int = 128
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05
    epochs: int = 100
    steps_per_epoch: int = 200
    max_minutes: float | None = None
    patience: int = 10
    seed: int = 0
    precision: str = "auto"  # auto | bf16 | fp32 (see deepstego.precision)
    device: str = "cpu"  # cpu | cuda: where the networks train
    quant_warmup_steps: int = 1500  # uniform noise instead of rounding before this step
    loss: LossConfig = field(default_factory=LossConfig)
    val_fraction: float = 0.15
    val_pairs: int = 32
    max_side: int = 1024
    max_zoom: float = 2.0  # training crops span size … size·max_zoom px of the photo before resizing to size
    checkpoint_minutes: float = 3.0
    snapshot_minutes: float = 0.0  # >0: keep a weights snapshot this often (for time-to-quality curves)
    resume: bool = False
    progress: bool = True
    wandb: str | None = None  # "online" or "offline": also log to Weights & Biases


def _data_manifest(folder: Path, paths: list[Path]) -> str:
    mf = folder / "manifest.json"
    if mf.exists():
        return manifest_hash(json.loads(mf.read_text()))
    from ..data.corpus import sha256_file

    return manifest_hash({"files": [{"file": str(p.relative_to(folder)), "sha256": sha256_file(p)} for p in paths]})


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        resolve_precision(cfg.precision)  # a bad value fails here, before the photos load
        if cfg.device not in DEVICES:
            raise DeepStegoError(f"--device must be one of {', '.join(DEVICES)}, not {cfg.device!r}")
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise DeepStegoError("--device cuda: PyTorch sees no CUDA device on this machine")
        limits.count("--size", cfg.size, 16, limits.MAX_TRAIN_SIZE)
        limits.count("--batch", cfg.batch, 1, limits.MAX_TRAIN_BATCH)
        limits.count("--epochs", cfg.epochs, 1, limits.MAX_STEPS)
        limits.count("--steps-per-epoch", cfg.steps_per_epoch, 1, limits.MAX_STEPS)
        for flag, weight in (("--critic-weight", cfg.critic_weight), ("--adversary-weight", cfg.adversary_weight),
                             ("--residual-stats-weight", cfg.loss.residual_stats)):
            if not weight >= 0:
                raise DeepStegoError(f"{flag} must be 0 or more, not {weight}")
        keep_freed_memory()
        self.out = Path(cfg.out)
        folder = Path(cfg.data)
        paths = list_images(folder)
        train_paths, val_paths = split_by_photo(paths, cfg.val_fraction, cfg.seed)
        if not val_paths:
            val_paths = train_paths
        self.manifest = _data_manifest(folder, paths)
        self.split = {"train": [p.name for p in train_paths], "val": [p.name for p in val_paths]}
        self.rank, self.world = dist.init()
        if cfg.batch % self.world:
            raise DeepStegoError(f"--batch {cfg.batch} does not split evenly over {self.world} processes")
        self.local_batch = cfg.batch // self.world
        self.device = torch.device("cpu")
        if cfg.device == "cuda":  # one GPU per process under torchrun
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(self.device)
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        # on a GPU the next batch is drawn on a CPU thread while the GPU trains on this one
        self.prefetch = ThreadPoolExecutor(1) if self.device.type == "cuda" else None
        self.pending = None
        torch.manual_seed(cfg.seed)
        self.sampler = PairSampler(PhotoBank(train_paths, cfg.max_side), cfg.size, seed=self._sampler_seed(),
                                   max_zoom=cfg.max_zoom)
        val_bank = PhotoBank(val_paths, cfg.max_side)
        self.val = tuple(t.to(self.device) for t in fixed_pairs(val_bank, cfg.size, cfg.val_pairs, seed=cfg.seed + 1))
        if cfg.init:
            self.model = load_weights(cfg.init)
            if self.model.arch != cfg.arch:
                raise DeepStegoError(f"--init weights are {self.model.arch}, not {cfg.arch}")
            if cfg.arch_options:  # e.g. keyed=true: the same tensors under a changed config
                state = self.model.state_dict()
                self.model = create_model(cfg.arch, **{**self.model.config_dict(), **cfg.arch_options})
                # modules the new options add (a keyed model's cover predictor) start as built: untrained
                # modules that change nothing until they learn
                missing, unexpected = self.model.load_state_dict(state, strict=False)
                if unexpected or any(not k.startswith("reveal.predictor.") for k in missing):
                    raise DeepStegoError(f"--init weights do not fit {cfg.arch} with {cfg.arch_options}")
        else:
            self.model = create_model(cfg.arch, **cfg.arch_options)
        if not self.model.trainable:
            raise DeepStegoError(f"{cfg.arch} has nothing to train")
        self.model = self.model.to(self.device, memory_format=torch.channels_last).train()
        self.teacher = None
        if cfg.teacher and self.model.keyed:
            raise DeepStegoError("a keyed model cannot be distilled from a teacher's stego (its code differs per key)")
        if cfg.teacher:  # a shipped name or a weights file; load_model gives it channels_last and in eval mode
            from ..core import load_model

            self.teacher = load_model(cfg.teacher).to(self.device)
        self.adversary, self.adversary_l1, self.adversary_penalty = None, [], []
        if cfg.adversary_weight > 0:
            if not self.model.keyed:
                raise DeepStegoError("--adversary-weight trains against a key-agnostic reader: it needs a keyed model")
            self.adversary = Adversary().to(self.device)
            self.public = [m.to(self.device) for m in public_readers()]
        self.critic = Critic().to(self.device) if cfg.critic_weight > 0 else None
        self.channel = Channel(seed=self._sampler_seed()) if cfg.channel else None
        self.net = self.model
        if self.world > 1:
            self.net = torch.nn.parallel.DistributedDataParallel(self.model)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step = 0
        self.epoch = 0
        self.elapsed = 0.0
        self.best_val = math.inf
        self.bad_epochs = 0
        self.next_snapshot = cfg.snapshot_minutes * 60 if cfg.snapshot_minutes > 0 else math.inf

    def _sampler_seed(self) -> int:
        """Each rank draws its own pairs."""
        return self.cfg.seed + 1000 * self.rank

    # -- schedule ---------------------------------------------------------------------------------------------
    def progress(self) -> float:
        p = self.step / max(1, self.cfg.epochs * self.cfg.steps_per_epoch)
        if self.cfg.max_minutes:
            p = max(p, self.elapsed / (self.cfg.max_minutes * 60))
        return min(1.0, p)

    def lr_now(self) -> float:
        c = self.cfg
        if self.step < c.warmup_steps:
            return c.lr * (self.step + 1) / c.warmup_steps
        cos = 0.5 * (1 + math.cos(math.pi * self.progress()))
        return c.lr * (c.min_lr_ratio + (1 - c.min_lr_ratio) * cos)

    def autocast(self):
        return autocast(self.cfg.precision, self.device.type)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This step's pairs on the training device (drawn a step ahead when that device is a GPU)."""
        if self.prefetch is None:
            pairs = self.sampler.sample(self.local_batch)
        else:
            pairs = self.pending.result() if self.pending else self.sampler.sample(self.local_batch)
            self.pending = self.prefetch.submit(self.sampler.sample, self.local_batch)
        return tuple(t.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                     for t in pairs)

    # -- checkpoints --------------------------------------------------------------------------------------------
    @property
    def ckpt_path(self) -> Path:
        return self.out / "checkpoint.pt"

    def info(self) -> dict:
        cfg = asdict(self.cfg)
        for k in ("resume", "progress", "wandb"):
            cfg.pop(k, None)
        return {"recipe": cfg, "data_manifest_sha256": self.manifest, "split": self.split,
                "machine": machine(self.cfg.precision, self.device.type),
                "trained": {"steps": self.step, "epochs": self.epoch, "minutes": round(self.elapsed / 60, 2),
                            "pairs": self.step * self.cfg.batch}}

    def save_checkpoint(self) -> None:
        if self.pending:  # the sampler's state is read with no draw under way (it is then one batch ahead)
            self.pending.result()
        state = {"model": self.model.state_dict(), "optim": self.opt.state_dict(), "step": self.step,
                 "epoch": self.epoch, "elapsed": self.elapsed, "best_val": self.best_val,
                 "bad_epochs": self.bad_epochs, "next_snapshot": self.next_snapshot,
                 "torch_rng": torch.get_rng_state(), "sampler": json.dumps(self.sampler.state())}
        if self.adversary is not None:
            state["adversary"] = self.adversary.state()
        if self.critic is not None:
            state["critic"] = self.critic.state()
        if self.channel is not None:
            state["channel"] = json.dumps(self.channel.rng.getstate())
        tmp = self.ckpt_path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.ckpt_path)

    def load_checkpoint(self) -> None:
        state = torch.load(self.ckpt_path, weights_only=True, map_location="cpu")  # a GPU run resumes anywhere
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optim"])
        for k in ("step", "epoch", "elapsed", "best_val", "bad_epochs", "next_snapshot"):
            setattr(self, k, state[k])
        torch.set_rng_state(state["torch_rng"])
        if self.adversary is not None and "adversary" in state:
            self.adversary.load(state["adversary"])
        if self.critic is not None and "critic" in state:
            self.critic.load(state["critic"])
        if self.channel is not None and "channel" in state:
            version, internal, gauss = json.loads(state["channel"])
            self.channel.rng.setstate((version, tuple(internal), gauss))
        if self.rank == 0:
            self.sampler.set_state(json.loads(state["sampler"]))
        else:  # only rank 0's sampler is saved; the others continue from a fresh, step-dependent seed
            self.sampler.rng = np.random.default_rng(self._sampler_seed() + self.step)

    # -- validation ---------------------------------------------------------------------------------------------
    def val_channel(self, stego: torch.Tensor) -> torch.Tensor:
        """Robust runs are validated (and their best weights chosen) after a real JPEG at quality 90."""
        return real_jpeg(stego, 90) if self.cfg.channel else stego

    @torch.no_grad()
    def validate(self) -> dict:
        self.model.eval()
        cover, secret = self.val
        losses, stegos, reveals = [], [], []
        for i in range(0, len(cover), self.cfg.batch):
            c, s = cover[i:i + self.cfg.batch], secret[i:i + self.cfg.batch]
            with self.autocast():
                out = self.model(c, s, quant="round", channel=self.val_channel)
            losses.append(float(stego_loss(self.cfg.loss, c, s, out.stego, out.revealed)["total"]) * len(c))
            stegos.append(out.stego.float())
            reveals.append(out.revealed.float().clamp(0, 1))
        self.model.train()
        stego, revealed = torch.cat(stegos), torch.cat(reveals)
        return {"val_loss": sum(losses) / len(cover),
                "cover_ssim": float(ssim(cover, stego).mean()), "cover_psnr": float(psnr(cover, stego).mean()),
                "secret_ssim": float(ssim(secret, revealed).mean()),
                "secret_psnr": float(psnr(secret, revealed).mean()), "grid": (stego[:4].cpu(), revealed[:4].cpu())}

    # -- main loop ----------------------------------------------------------------------------------------------
    def run(self, *, stop_after_epoch: int | None = None, on_epoch=None) -> Path:
        """Train until the config's end; ``stop_after_epoch`` pauses earlier (as an interruption would), leaving
        a checkpoint to resume from. ``on_epoch(row)`` sees each epoch's metrics (a sweep prunes from there)."""
        cfg = self.cfg
        lead = self.rank == 0
        if cfg.resume:
            if not self.ckpt_path.exists():
                raise DeepStegoError(f"{self.ckpt_path}: no checkpoint to resume from")
            self.load_checkpoint()
        elif self.ckpt_path.exists():
            raise DeepStegoError(f"{self.out} already holds a training run (use --resume, or another --out)")
        dist.barrier(self.world)
        if lead:
            (self.out / "grids").mkdir(parents=True, exist_ok=True)
        writer = _tensorboard(self.out / "tb") if lead else None
        wb = _wandb(cfg.wandb, self.out, self.info()["recipe"]) if lead and cfg.wandb else None
        last_ckpt = time.monotonic()
        budget = cfg.max_minutes * 60 if cfg.max_minutes else math.inf
        stop_reason = "epochs"
        try:
            while self.epoch < cfg.epochs:
                t0, n0 = time.monotonic(), self.step
                bar = tqdm(range(cfg.steps_per_epoch), desc=f"epoch {self.epoch + 1}/{cfg.epochs}",
                           disable=not (cfg.progress and lead), leave=False, unit="step")
                run_loss = 0.0
                for _ in bar:
                    tick = time.monotonic()
                    loss = self.train_step()
                    run_loss += loss
                    self.elapsed = dist.broadcast_float(self.elapsed + time.monotonic() - tick, self.world)
                    bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.lr_now():.2e}")
                    if self.elapsed >= self.next_snapshot:
                        if lead:
                            self.snapshot()
                        self.next_snapshot += cfg.snapshot_minutes * 60
                    if lead and time.monotonic() - last_ckpt > cfg.checkpoint_minutes * 60:
                        self.save_checkpoint()
                        last_ckpt = time.monotonic()
                    if self.elapsed >= budget:
                        break
                bar.close()
                steps = self.step - n0
                self.epoch += 1
                if not lead:  # rank 0 validates and decides; the others follow its decision
                    if dist.broadcast_float(0.0, self.world):
                        break
                    continue
                val = self.validate()
                stego, revealed = val.pop("grid")
                save_grid(self.out / "grids" / f"epoch_{self.epoch:03d}.png", self.val[0][:4].cpu(),
                          self.val[1][:4].cpu(), stego, revealed)
                row = {"epoch": self.epoch, "step": self.step, "minutes": round(self.elapsed / 60, 3),
                       "lr": self.lr_now(), "train_loss": run_loss / max(1, steps),
                       "pairs_per_s": steps * cfg.batch / max(1e-9, time.monotonic() - t0), **val}
                if self.adversary is not None:  # its error, and how far under a blind guess's it got (0: nothing)
                    row["adversary_l1"] = float(np.mean(self.adversary_l1 or [math.nan]))
                    row["adversary_penalty"] = float(np.mean(self.adversary_penalty or [math.nan]))
                    self.adversary_l1, self.adversary_penalty = [], []
                if self.critic is not None:  # how well the critic tells this epoch's covers from their stego
                    row["critic_accuracy"] = float(np.mean(self.critic.accuracy or [math.nan]))
                    self.critic.accuracy = []
                with open(self.out / "metrics.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
                if writer:
                    for k, v in row.items():
                        if k not in ("epoch", "step"):
                            writer.add_scalar(k, v, self.step)
                    writer.flush()
                if wb:
                    wb.log(row, step=self.step)
                if cfg.progress:
                    print(f"epoch {self.epoch}: val loss {val['val_loss']:.4f} cover SSIM {val['cover_ssim']:.4f} "
                          f"secret SSIM {val['secret_ssim']:.4f} ({row['pairs_per_s']:.1f} pairs/s)", flush=True)
                ramped = self.step >= cfg.loss.cover_ramp_steps and self.step >= cfg.quant_warmup_steps
                if val["val_loss"] < self.best_val or not ramped:
                    self.best_val = val["val_loss"] if ramped else math.inf
                    self.bad_epochs = 0
                    save_weights(self.model, self.out / "best", **self.info(), metrics=row)
                else:
                    self.bad_epochs += 1
                self.save_checkpoint()
                last_ckpt = time.monotonic()
                if on_epoch is not None:
                    on_epoch(row)
                if self.bad_epochs >= cfg.patience:
                    stop_reason = "early stopping"
                elif self.elapsed >= budget:
                    stop_reason = "time budget"
                elif stop_after_epoch is not None and self.epoch >= stop_after_epoch:
                    stop_reason = "paused"
                if dist.broadcast_float(float(stop_reason != "epochs"), self.world):
                    break
        except BaseException:  # Ctrl-C, SIGTERM: keep what was trained, for --resume
            if lead:
                self.save_checkpoint()
            raise

        final = self.out / "model.safetensors"
        if lead:
            final = save_weights(self.model, self.out / "model", **self.info(), metrics=row, stopped=stop_reason)
        if writer:
            writer.close()
        if wb:
            wb.finish()
        dist.barrier(self.world)
        return final

    def train_step(self) -> float:
        cfg = self.cfg
        for g in self.opt.param_groups:
            g["lr"] = self.lr_now()
        cover, secret = self.batch()
        quant = "noise" if self.step < cfg.quant_warmup_steps else "round"
        with self.autocast():
            out = self.net(cover, secret, quant=quant, channel=self.channel)
        loss = stego_loss(cfg.loss, cover, secret, out.stego, out.revealed, step=self.step)["total"]
        if self.teacher is not None:
            loss = loss + cfg.teacher_weight * (1 - self.progress()) * self.distillation(cover, secret, out.stego)
        if self.adversary is not None:
            self.adversary_l1.append(self.adversary.learn(out.stego, secret, self.autocast))
            penalty = (self.adversary.penalty(out.stego, secret, self.autocast)
                       + wrong_key_penalty(self.model, out.stego, secret, self.autocast)
                       + public_penalty(self.public, out.stego, secret, self.autocast))
            self.adversary_penalty.append(float(penalty.detach()))
            loss = loss + cfg.adversary_weight * penalty
        if self.critic is not None:
            with self.autocast():
                self.critic.learn(cover, out.stego)
                loss = loss + cfg.critic_weight * self.critic.penalty(out.stego)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        return float(loss.detach())

    def distillation(self, cover, secret, stego) -> torch.Tensor:
        """Two fixed targets from the teacher: its stego for the hider, and reading the secret back from its
        (8-bit) stego for the reveal network, so neither side waits for the other to find a code."""
        with torch.no_grad(), self.autocast():
            target = self.teacher.encode(cover, secret).float().clamp(0, 1)
        with self.autocast():
            revealed = self.model.decode(quantize(target, "round"))
        hider = (stego.float() - target).abs().mean()
        return hider + self.cfg.loss.beta * (revealed.float() - secret).abs().mean()

    def snapshot(self) -> None:
        save_weights(self.model, self.out / "snapshots" / f"step{self.step:07d}", **self.info())


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional; metrics.jsonl is always written
        return None
    return SummaryWriter(str(folder))


def _wandb(mode: str, out: Path, recipe: dict):
    try:
        import wandb
    except ImportError:
        raise missing_extra("wandb", "wandb") from None
    if mode not in ("online", "offline"):
        raise DeepStegoError(f"--wandb must be online or offline, not {mode!r}")
    return wandb.init(project="deepstego", dir=str(out), mode=mode, config=recipe, name=out.name)


def train(cfg: TrainConfig) -> Path:
    """Train a model as ``cfg`` says and return the path of the final weights file."""
    model_entry(cfg.arch)
    trainer = Trainer(cfg)
    if cfg.snapshot_minutes > 0 and trainer.rank == 0:
        (Path(cfg.out) / "snapshots").mkdir(parents=True, exist_ok=True)
    try:
        return trainer.run()
    finally:
        dist.shutdown(trainer.world)
