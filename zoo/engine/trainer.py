"""The fit loop: config in, run directory out.

``Trainer(cfg).fit()`` builds the dataset (through the data registry), the
model (through the model registry), the optimizer and schedule, then trains,
evaluating every epoch, and writes the run directory (``config.yaml``,
``metrics.csv``, ``last.ckpt``, ``best.safetensors``, ``summary.json``; its
layout and files are :mod:`zoo.rundir`'s).

Everything that can fail on user input (config, dataset, model) is built before
the run directory exists, so a bad config leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import rundir
from ..checkpoint import load_checkpoint, load_state, save_checkpoint, unwrap
from ..data import build_dataset
from ..errors import ConfigError, ZooError, first_line
from ..factory import create_model
from ..registry import count_parameters, get_model_entry
from .config import Config, config_from_dict, merge
from .optim import build_optimizer, build_scheduler
from .runtime import (
    choose_threads,
    git_commit,
    init_distributed,
    machine,
    peak_memory_mb,
    resolve_device,
    rng_state,
    seed_everything,
    set_deterministic,
    set_rng_state,
    versions,
)
from .tasks import Task, make_task

__all__ = ["Trainer", "train", "evaluate", "resolve_model_kwargs", "TrainingStopped", "Interrupted", "TIMING_COLUMNS",
           "read_resume", "saved_config", "config_differences"]

TIMING_COLUMNS = ("time", "samples_per_s")


class TrainingStopped(ZooError):
    """The run stopped before its end (non-finite loss, interrupt)."""

    exit_code = 1


class Interrupted(TrainingStopped):
    exit_code = 130


def resolve_model_kwargs(model_name: str, model_kwargs: dict[str, Any], info: Any) -> dict[str, Any]:
    """The config's model kwargs plus what the dataset decides and the model accepts.

    The config wins: a key it sets is never overridden. CNNs built for 224 px
    take their small-input stem when the dataset's images are small.
    """
    entry = get_model_entry(model_name)
    kwargs = dict(model_kwargs)
    for key, value in info.model_kwargs.items():
        if key not in kwargs and key in entry.parameters:
            kwargs[key] = value
    if info.small_images and "stem" in entry.parameters and "stem" not in kwargs:
        kwargs["stem"] = "small"
    return kwargs


def _to_device(batch: tuple, device: torch.device, channels_last: bool) -> tuple:
    out = []
    for t in batch:
        if isinstance(t, torch.Tensor):
            t = t.to(device, non_blocking=True)
            if channels_last and t.dim() == 4 and t.is_floating_point():
                t = t.contiguous(memory_format=torch.channels_last)
        out.append(t)
    return tuple(out)


def _autocast(device: torch.device, amp: str) -> contextlib.AbstractContextManager:
    if amp == "off":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Any,
    task: Task,
    device: torch.device,
    *,
    amp: str = "off",
    detailed: bool = False,
    channels_last: bool = False,
) -> dict[str, Any]:
    """Metrics of ``model`` over ``loader`` (all-reduced across DDP ranks)."""
    was_training = model.training
    model.eval()
    meter = task.meter(device, detailed=detailed)
    for batch in loader:
        *inputs, target = _to_device(batch, device, channels_last)
        with _autocast(device, amp):
            outputs = model(*inputs)
        task.update(meter, outputs, target)  # metrics in float32, as in training
    meter.all_reduce()
    model.train(was_training)
    return meter.compute()


class _Progress:
    """tqdm on a terminal; otherwise a plain line every ``every`` steps."""

    def __init__(self, mode: str, every: int, enabled: bool) -> None:
        if mode == "auto":
            mode = "bar" if sys.stdout.isatty() else "lines"
        self.mode = mode if enabled else "off"
        self.every = every
        self.bar = None

    def start(self, epoch: int, epochs: int, total: int, initial: int) -> None:
        self.epoch, self.epochs, self.total = epoch, epochs, total
        self.t0 = time.perf_counter()
        self.done0 = initial
        if self.mode == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=f"epoch {epoch}/{epochs}", leave=False, dynamic_ncols=True, file=sys.stdout)

    def update(self, done: int, samples: int, stats: Any) -> None:
        if self.mode == "off":
            return
        if self.mode == "bar":
            self.bar.update(1)
            if done % 10 == 0 or done == self.total:
                rate = samples / max(time.perf_counter() - self.t0, 1e-9)
                self.bar.set_postfix_str(f"{stats()} {rate:,.0f} samples/s", refresh=False)
        elif done % self.every == 0:
            elapsed = time.perf_counter() - self.t0
            rate = samples / max(elapsed, 1e-9)
            eta = elapsed / max(done - self.done0, 1) * (self.total - done)
            print(f"epoch {self.epoch}/{self.epochs} step {done}/{self.total} {stats()} "
                  f"{rate:,.0f} samples/s eta {eta:.0f}s", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@dataclass
class _Position:
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # optimizer steps done


class Trainer:
    """Train ``cfg``'s model on ``cfg``'s dataset.

    Args:
        cfg: the validated config.
        resume: a run directory or ``.ckpt`` to continue from, in the same run directory.
        force: resume even when the config differs from the checkpoint's.
        run_dir: write into this folder instead of ``run.dir/<name>/<timestamp>``.
    """

    def __init__(self, cfg: Config, *, resume: str | Path | None = None, force: bool = False,
                 run_dir: str | Path | None = None) -> None:
        self.cfg = cfg
        self.resume_state: dict[str, Any] | None = None
        self.resume_path: Path | None = None
        if resume is not None:
            self.resume_path, self.resume_state = read_resume(resume)
            _check_same_config(self.resume_state["config"], cfg, force)
        self.dist = init_distributed(cfg.train.device)
        # Denormal floats (below 1.2e-38) take the CPU's slow path, many times slower
        # per operation, and the vanishing gradients of a recurrent net over long
        # sequences are full of them (the adding problem at T = 200 ran 6-9x slower a
        # step; benchmarks/README.md). Flushed to zero before torch starts its worker
        # threads, which inherit the setting from this one.
        torch.set_flush_denormal(True)
        self.threads = choose_threads(cfg.train.threads, self.dist)
        self.device = resolve_device(cfg.train.device, self.dist)
        set_deterministic(cfg.train.deterministic, self.device)
        seed_everything(cfg.train.seed)
        data_seed = cfg.train.seed if cfg.data.seed is None else cfg.data.seed
        self.data = build_dataset(dataclasses.replace(cfg.data, seed=data_seed), self.device)
        if self.dist.enabled:
            self.data.train = self.data.train.shard(self.dist.rank, self.dist.world)
            self.data.test = self.data.test.shard(self.dist.rank, self.dist.world)
            if self.data.val is not None:
                self.data.val = self.data.val.shard(self.dist.rank, self.dist.world)
        self.info = self.data.info
        self.task = make_task(self.info)
        self.model_kwargs = resolve_model_kwargs(cfg.model.name, cfg.model.kwargs, self.info)
        model = create_model(cfg.model.name, **self.model_kwargs)
        self.model = model.to(self.device)
        if cfg.train.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        # Per-rank streams for dropout and the like, after identical initialization.
        torch.manual_seed(cfg.train.seed + self.dist.rank)

        tc = cfg.train
        self.steps_per_epoch = math.ceil(len(self.data.train) / tc.accum_steps)
        self.total_steps = tc.epochs * self.steps_per_epoch
        if tc.max_steps is not None:
            self.total_steps = min(self.total_steps, tc.max_steps)
        self.optimizer = build_optimizer(self.model, cfg.optim)
        self.scheduler = build_scheduler(
            self.optimizer, cfg.sched, base_lr=cfg.optim.lr, steps_per_epoch=self.steps_per_epoch,
            total_steps=self.total_steps,
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=tc.amp == "fp16" and self.device.type == "cuda")
        if tc.amp == "fp16" and self.device.type != "cuda":
            raise ConfigError("train.amp=fp16 needs CUDA; on CPU use train.amp=bf16")
        self.monitor = self.task.monitor if tc.monitor == "auto" else tc.monitor
        self.mode = tc.mode if tc.mode != "auto" else ("max" if self.monitor.startswith("acc") else "min")

        self._probe()

        self.net: nn.Module = self.model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if tc.compile:
            self.net = torch.compile(self.net, mode=None if tc.compile is True else tc.compile)
        self.after_step = getattr(self.model, "after_optimizer_step", None)

        self.pos = _Position()
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0
        self.rows: list[dict[str, Any]] = []
        self.wall_before = 0.0
        self._stop_requested = False
        self.meter = None
        self._meter_state = None
        self.run_dir = self._prepare_run_dir(run_dir)

    def _probe(self) -> None:
        """One forward pass on two evaluation samples, before the run directory exists,
        so that a model that does not fit the data fails with one line and leaves
        nothing behind. Eval mode and no_grad: no RNG draw, no BatchNorm update."""
        batch = next(iter(self.data.test))
        *inputs, target = _to_device(tuple(t[:2] for t in batch), self.device, self.cfg.train.channels_last)
        self.model.eval()
        try:
            with torch.no_grad(), _autocast(self.device, self.cfg.train.amp):
                self.task.loss(self.model(*inputs), target)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise ZooError(f"model {self.cfg.model.name} does not fit dataset {self.info.name}: "
                           f"{first_line(exc)}") from None
        finally:
            self.model.train()

    # ------------------------------------------------------------------------------
    # Run directory and checkpoints
    # ------------------------------------------------------------------------------
    def _prepare_run_dir(self, run_dir: str | Path | None) -> Path:
        if self.resume_state is not None:
            self._load_resume_state(self.resume_state)
            path = self.resume_path.parent
        elif run_dir is not None:
            path = Path(run_dir)
        else:
            path = rundir.new_run_dir(self.cfg.run.dir, self.cfg.run_name)
        if self.dist.main:
            if self.resume_state is not None:
                # What a run killed mid-write left beside its files; the files themselves are whole.
                rundir.clean_leftovers(path)
            path.mkdir(parents=True, exist_ok=True)
            rundir.write_config(path, self.cfg.to_yaml())
            rundir.write_metrics(path, self.rows)
        return path

    def _load_resume_state(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._apply_optim_config()
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.pos = _Position(**state["position"])
        self.best, self.best_epoch = state.get("best"), state.get("best_epoch")
        self.bad_epochs = state.get("bad_epochs", 0)
        self.wall_before = state.get("wall_time", 0.0)
        self.rows = [r for r in state.get("rows", []) if int(r["epoch"]) <= self.pos.epoch]
        self._meter_state = self._mine(state.get("meter"))
        if state.get("rng") is not None:
            set_rng_state(self._mine(state["rng"]))

    def _apply_optim_config(self) -> None:
        """Hyperparameters come from the config, not the checkpoint (they match unless
        --force changed them); the schedule's position comes from the checkpoint."""
        fresh = build_optimizer(self.model, self.cfg.optim)
        self.scheduler.base_lrs = [self.cfg.optim.lr] * len(self.optimizer.param_groups)
        step = self.scheduler.last_epoch
        for group, new, fn in zip(self.optimizer.param_groups, fresh.param_groups, self.scheduler.lr_lambdas):
            for key, value in new.items():
                if key != "params":
                    group[key] = value
            group["initial_lr"] = self.cfg.optim.lr
            group["lr"] = self.cfg.optim.lr * fn(step)

    def _state(self) -> dict[str, Any]:
        return {
            "format": "zoo.train.v1",
            "model": unwrap(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "position": vars(self.pos).copy(),
            "best": self.best,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "rows": self.rows,
            "meter": self._gather(self.meter.state_dict() if self.pos.batch and self.meter is not None else None),
            "rng": self._gather(rng_state()),
            "wall_time": self._wall(),
            "config": self.cfg.to_dict(),
            "meta": self._meta(),
        }

    def _gather(self, state: Any) -> Any:
        """This rank's state, or under DDP the list of every rank's."""
        if not self.dist.enabled:
            return state
        import torch.distributed as dist

        states: list[Any] = [None] * self.dist.world
        dist.all_gather_object(states, state)
        return states

    def _mine(self, state: Any) -> Any:
        return state[self.dist.rank] if isinstance(state, list) else state

    def _meta(self, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
        meta = {
            "model": self.cfg.model.name,
            "model_kwargs": json.loads(json.dumps(self.model_kwargs)),
            **self.info.metadata(),
            "data_config": self.cfg.data.to_dict(),
        }
        if metrics is not None:
            meta["metrics"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        return meta

    def save_last(self) -> None:
        state = self._state()  # all ranks join the RNG gather
        if not self.dist.main:
            return
        tc = self.cfg.train
        rundir.write_last(self.run_dir, lambda p: torch.save(state, p), keep=tc.keep_last, epoch=self.pos.epoch,
                          step=self.pos.step)

    # ------------------------------------------------------------------------------
    # Training
    # ------------------------------------------------------------------------------
    def _wall(self) -> float:
        return self.wall_before + (time.perf_counter() - self._t_start)

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self._stop_requested:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self._stop_requested = True
        print(f"\ninterrupt: finishing this step and writing {rundir.LAST} (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    def fit(self) -> dict[str, Any]:
        cfg, tc = self.cfg, self.cfg.train
        self._t_start = time.perf_counter()
        self.meter = None
        progress = _Progress(cfg.log.progress, cfg.log.every_steps, self.dist.main)
        tb = self._tensorboard()
        old_handler = None
        try:
            old_handler = signal.signal(signal.SIGINT, self._on_sigint)
        except ValueError:  # not the main thread
            pass
        stopped = None
        try:
            if self.dist.main:
                params = count_parameters(self.model)
                where = f"{self.device}" + (f" x{self.dist.world} ranks" if self.dist.enabled else "")
                where += f", {self.threads} CPU thread{'s' if self.threads != 1 else ''}"
                print(f"{cfg.model.name} ({params:,} params) on {self.info.name}, {where}; run dir {self.run_dir}", flush=True)
            while self.pos.epoch < tc.epochs and self.pos.step < self.total_steps and not self._out_of_time():
                self._train_epoch(progress)
                if self._stop_requested:
                    break
                self.pos.epoch += 1
                self.pos.batch = 0
                self._end_epoch(tb)
                if self._out_of_time():
                    stopped = f"time budget: train.max_seconds={tc.max_seconds:g} reached"
                    break
                if self._early_stop():
                    stopped = f"early stopping: {self.monitor} did not improve for {tc.patience} epochs"
                    if self.dist.main:
                        print(stopped, flush=True)
                    break
            if self._stop_requested:
                self.save_last()
                raise Interrupted(f"interrupted at epoch {self.pos.epoch + 1}, step {self.pos.step}; "
                                  f"resume with --resume {self.run_dir}")
        finally:
            progress.close()
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            if tb is not None:
                tb.close()
        return self._finish(stopped)

    def _train_epoch(self, progress: _Progress) -> None:
        tc = self.cfg.train
        loader = self.data.train
        loader.set_epoch(self.pos.epoch)
        start = self.pos.batch
        if start:
            loader.skip(start)
        self.meter = self.task.meter(self.device)
        meter_state = getattr(self, "_meter_state", None)
        if start and meter_state:
            self.meter.load_state_dict(meter_state)
        self._meter_state = None
        self.net.train()
        total = len(loader)
        progress.start(self.pos.epoch + 1, tc.epochs, total, start)
        first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        check_every = 1 if self.device.type == "cpu" else self.cfg.log.every_steps
        samples, t0 = 0, time.perf_counter()
        accum = tc.accum_steps
        opt = self.optimizer
        for i, batch in enumerate(loader, start=start):
            *inputs, target = _to_device(batch, self.device, tc.channels_last)
            with _autocast(self.device, tc.amp):
                outputs = self.net(*inputs)
                loss = self.task.loss(outputs, target, label_smoothing=tc.label_smoothing, aux_weight=tc.aux_weight)
            if accum > 1:
                # Mean over the micro-batches of this group; the last group of an
                # epoch may be shorter.
                group_start = i - (i - start) % accum
                loss_for_grad = loss / min(accum, total - group_start)
            else:
                loss_for_grad = loss
            self.scaler.scale(loss_for_grad).backward()
            self.task.update(self.meter, outputs, target, loss)
            # Non-finite check: every step on CPU (free), every few steps on GPU
            # (a sync), remembering the first bad step on the device meanwhile.
            first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss.detach()), i, first_bad)
            if (i + 1) % check_every == 0 or i + 1 == total:
                self._check_finite(first_bad)
            last_of_epoch = i + 1 == total
            if (i + 1 - start) % accum == 0 or last_of_epoch:
                self._optimizer_step()
                opt.zero_grad(set_to_none=True)
                self.pos.step += 1
            self.pos.batch = i + 1
            samples += target.shape[0] * self.dist.world
            progress.update(i + 1, samples, lambda: self._running_stats())
            every = tc.ckpt_every_steps
            at_step_boundary = (i + 1 - start) % accum == 0
            if every and at_step_boundary and self.pos.step % every == 0 and not last_of_epoch:
                self._check_finite(first_bad)
                self.save_last()
            if self._stop_requested and at_step_boundary:
                self._check_finite(first_bad)
                break
            if self.pos.step >= self.total_steps or (at_step_boundary and self._out_of_time()):
                break
        self._check_finite(first_bad)
        progress.close()
        self._epoch_time = time.perf_counter() - t0
        self._epoch_samples = samples

    def _check_finite(self, first_bad: torch.Tensor) -> None:
        bad = int(first_bad)
        if bad >= 0:
            last = self.run_dir / rundir.LAST
            kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint had been written yet"
            raise TrainingStopped(
                f"loss became NaN/Inf at epoch {self.pos.epoch + 1}, step {bad + 1} of {len(self.data.train)}; "
                f"stopped, {kept} (try a lower optim.lr or train.grad_clip_norm)"
            )

    def _optimizer_step(self) -> None:
        tc = self.cfg.train
        if tc.grad_clip_norm is not None or tc.grad_clip_value is not None:
            self.scaler.unscale_(self.optimizer)
            if tc.grad_clip_value is not None:
                nn.utils.clip_grad_value_(self.model.parameters(), tc.grad_clip_value)
            if tc.grad_clip_norm is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.after_step is not None:
            self.after_step()

    def _running_stats(self) -> str:
        m = self.task.compute({k: v.cpu() for k, v in self.meter.sums.items()}, detailed=False)
        return " ".join(f"{k} {v:.4f}" for k, v in m.items() if k in ("loss", "acc1"))

    def _end_epoch(self, tb: Any) -> dict[str, Any]:
        tc = self.cfg.train
        self.meter.all_reduce()
        train_metrics = self.meter.compute()
        row: dict[str, Any] = {"epoch": self.pos.epoch, "step": self.pos.step, "lr": self.optimizer.param_groups[0]["lr"]}
        row.update({f"train_{k}": v for k, v in train_metrics.items() if k in self.task.scalar_metrics})
        split = "val" if self.data.val is not None else "test"
        eval_metrics: dict[str, Any] = {}
        last_epoch = self.pos.epoch >= tc.epochs or self.pos.step >= self.total_steps or self._out_of_time()
        if self.pos.epoch % tc.eval_every == 0 or last_epoch:
            # The plain module, not self.net: under torch.compile, evaluation would compile
            # an eval-mode graph besides the training one (and another for a short last
            # batch) in every run; DDP has nothing to sync in evaluation.
            eval_metrics = evaluate(self.model, self.data.eval_split, self.task, self.device, amp=tc.amp,
                                    channels_last=tc.channels_last)
            row.update({f"{split}_{k}": v for k, v in eval_metrics.items() if k in self.task.scalar_metrics})
        row["time"] = self._epoch_time
        row["samples_per_s"] = self._epoch_samples / max(self._epoch_time, 1e-9)
        self.rows.append(row)

        improved = False
        value = eval_metrics.get(self.monitor)
        if value is not None:
            better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
            if better:
                self.best, self.best_epoch, improved = value, self.pos.epoch, True
                self.bad_epochs = 0
            else:
                self.bad_epochs += 1
        elif eval_metrics and self.monitor not in eval_metrics:
            raise ConfigError(f"train.monitor={self.monitor!r} is not a metric of this task "
                              f"(metrics: {', '.join(k for k in eval_metrics if k in self.task.scalar_metrics)})")
        if self.dist.main:
            rundir.write_metrics(self.run_dir, self.rows)
            if improved:
                save_checkpoint(unwrap(self.model), self.run_dir / rundir.BEST,
                                **self._meta({**eval_metrics, "epoch": self.pos.epoch}))
            shown = " ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "step", "lr", *TIMING_COLUMNS))
            print(f"epoch {self.pos.epoch}/{tc.epochs} {shown} lr {row['lr']:.3g} "
                  f"{row['samples_per_s']:,.0f} samples/s{' *' if improved else ''}", flush=True)
            if tb is not None:
                for k, v in row.items():
                    if k not in ("epoch",) and isinstance(v, (int, float)):
                        tb.add_scalar(k, v, self.pos.epoch)
        self.save_last()
        return row

    def _out_of_time(self) -> bool:
        limit = self.cfg.train.max_seconds
        return limit is not None and self._wall() >= limit

    def _early_stop(self) -> bool:
        patience = self.cfg.train.patience
        return bool(patience) and self.bad_epochs >= patience

    def _tensorboard(self) -> Any:
        if not (self.cfg.log.tensorboard and self.dist.main):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print("log.tensorboard: tensorboard is not installed (pip install tensorboard); logging to metrics.csv only",
                  file=sys.stderr)
            return None
        return SummaryWriter(log_dir=str(self.run_dir / rundir.TENSORBOARD))

    def _finish(self, stopped: str | None) -> dict[str, Any]:
        tc = self.cfg.train
        restored = tc.restore_best and self.best_epoch is not None and self.best_epoch != self.pos.epoch
        if restored:
            # best.safetensors was written by the main rank before the collective save_last of its epoch.
            best = load_checkpoint(self.run_dir / rundir.BEST, map_location=self.device)
            unwrap(self.model).load_state_dict(best.state_dict())
        test = evaluate(self.model, self.data.test, self.task, self.device, amp=tc.amp, detailed=True,
                        channels_last=tc.channels_last)
        last = self.rows[-1] if self.rows else {}
        summary = {
            "model": self.cfg.model.name,
            "model_kwargs": self._meta()["model_kwargs"],
            "dataset": self.info.name,
            "task": self.task.name,
            "params": count_parameters(self.model),
            "epochs": self.pos.epoch,
            "steps": self.pos.step,
            "final": {k: v for k, v in last.items() if k not in ("epoch", "step")},
            "test": test,
            "monitor": self.monitor,
            "best": {"value": self.best, "epoch": self.best_epoch},
            "tested": f"best epoch {self.best_epoch}" if restored else ("last epoch" if self.pos.epoch else "untrained"),
            "stopped": stopped,
            "wall_time_s": self._wall(),
            "peak_memory_mb": peak_memory_mb(self.device),
            "device": str(self.device) if self.device.type != "cuda" else torch.cuda.get_device_name(self.device),
            "world_size": self.dist.world,
            "threads": self.threads,
            "machine": machine(),
            "versions": versions(),
            "git_commit": git_commit(),
            "run_dir": str(self.run_dir),
        }
        if self.dist.main:
            rundir.write_summary(self.run_dir, summary)
            shown = " ".join(f"{k} {v:.4f}" for k, v in test.items() if k in self.task.scalar_metrics)
            print(f"test {shown} (best {self.monitor} {self.best if self.best is not None else float('nan'):.4f} "
                  f"at epoch {self.best_epoch}); {summary['wall_time_s']:.1f}s; {self.run_dir}", flush=True)
        return summary


def read_resume(resume: str | Path) -> tuple[Path, dict[str, Any]]:
    """The ``.ckpt`` that ``--resume resume`` continues from, and the state it holds."""
    path = rundir.resume_file(resume)
    return path, load_state(path)


def config_differences(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        name = f"{prefix}{key}"
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += config_differences(va, vb, name + ".")
        elif va != vb:
            keys.append(name)
    return keys


def _check_same_config(saved: dict[str, Any], cfg: Config, force: bool) -> None:
    current = cfg.to_dict()
    diff = config_differences(saved, current)
    if diff and not force:
        raise ConfigError(f"--resume: the config differs from the checkpoint's in {', '.join(diff)} "
                          "(pass --force to resume anyway)")


def train(cfg: Config | dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Train from a config (object or plain dict); returns the run summary."""
    if isinstance(cfg, dict):
        cfg = config_from_dict(cfg)
    return Trainer(cfg, **kwargs).fit()


def saved_config(resume: str | Path, overrides: dict[str, Any]) -> Config:
    """The config stored in a run's last.ckpt, with command-line overrides applied."""
    _, state = read_resume(resume)
    return config_from_dict(merge(state["config"], overrides))
