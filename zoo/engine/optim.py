"""Optimizers and learning-rate schedules.

Every schedule is a multiplier of ``optim.lr`` computed from the optimizer-step
count, stepped once per optimizer step. Epoch-based settings (``unit: epoch``,
``warmup_epochs``) are converted to steps with the loader's steps per epoch, so
a schedule is the same function whatever the batch size, and its whole state
is one integer: resuming restores it exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .config import OptimConfig, SchedConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_lambda", "param_groups"]

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def param_groups(model: nn.Module, weight_decay: float, no_decay_norm_bias: bool) -> list[dict]:
    """One group, or two when normalization weights and biases are exempt from decay.

    Decaying a BatchNorm scale or a bias only shrinks what the next layer undoes;
    many recipes (Goyal et al. 2017, timm) exempt them.
    """
    if not no_decay_norm_bias or weight_decay == 0:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": weight_decay}]
    decay, no_decay = [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            exempt = isinstance(module, _NORM_TYPES) or name.startswith("bias") or p.ndim <= 1
            (no_decay if exempt else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.weight_decay, cfg.no_decay_norm_bias)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum)
    if cfg.name == "adadelta":
        return torch.optim.Adadelta(groups, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps)
    raise ValueError(f"unknown optimizer {cfg.name!r}")  # the config schema stops this earlier


def lr_lambda(cfg: SchedConfig, *, base_lr: float, steps_per_epoch: int, total_steps: int) -> Callable[[int], float]:
    """The multiplier of the base learning rate after ``step`` optimizer steps."""
    per = steps_per_epoch if cfg.unit == "epoch" else 1
    warmup = max(cfg.warmup_steps, int(round(cfg.warmup_epochs * steps_per_epoch)))
    milestones = sorted(m * per for m in cfg.milestones)
    floor = cfg.min_lr / base_lr
    peak = (cfg.max_lr or base_lr) / base_lr

    def main(step: int) -> float:
        if cfg.name == "none":
            return 1.0
        if cfg.name == "step":
            return cfg.gamma ** (step // (cfg.step_size * per))
        if cfg.name == "multistep":
            return cfg.gamma ** sum(step >= m for m in milestones)
        if cfg.name == "cosine":
            span = max(1, total_steps - warmup)
            t = min(max(step - warmup, 0), span) / span
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
        if cfg.name == "onecycle":
            # Smith & Topin (2018) with cosine annealing: from peak/25 up to peak,
            # then down to peak/25e4, as torch.optim.lr_scheduler.OneCycleLR.
            start, end = peak / 25.0, peak / 25.0 / 1e4
            up = max(1, int(cfg.pct_start * total_steps))
            if step < up:
                return _cos_interp(start, peak, step / up)
            return _cos_interp(peak, end, min(1.0, (step - up) / max(1, total_steps - up)))
        raise ValueError(f"unknown schedule {cfg.name!r}")

    def fn(step: int) -> float:
        factor = main(step)
        if warmup and step < warmup and cfg.name != "onecycle":
            factor *= (step + 1) / warmup
        return factor

    return fn


def _cos_interp(a: float, b: float, t: float) -> float:
    return b + (a - b) * 0.5 * (1 + math.cos(math.pi * t))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: SchedConfig, *, base_lr: float, steps_per_epoch: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    fn = lr_lambda(cfg, base_lr=base_lr, steps_per_epoch=steps_per_epoch, total_steps=total_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn)
