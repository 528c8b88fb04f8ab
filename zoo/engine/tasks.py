"""Tasks: the loss and the metrics, decided by what the dataset and model are.

A task turns a model output and a target into a loss, and accumulates metrics
as running sums kept on the training device (no host sync per step); sums also
all-reduce exactly across DDP ranks. ``compute()`` turns them into numbers.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["Task", "make_task", "split_outputs"]


def split_outputs(outputs: Any) -> tuple[Tensor, tuple[Tensor, ...]]:
    """(main, aux): models with auxiliary heads (GoogLeNet) return a tuple in training."""
    if isinstance(outputs, (tuple, list)):
        return outputs[0], tuple(outputs[1:])
    return outputs, ()


class Meter:
    """Running sums of one split's metrics."""

    def __init__(self, task: "Task", device: torch.device, detailed: bool) -> None:
        self.task = task
        self.detailed = detailed
        self.sums: dict[str, Tensor] = {}
        self.device = device

    def add(self, name: str, value: Tensor) -> None:
        if name in self.sums:
            self.sums[name] += value.detach()
        else:
            self.sums[name] = value.detach().to(self.device, torch.float64 if value.is_floating_point() else torch.int64).clone()

    def all_reduce(self) -> None:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            for value in self.sums.values():
                dist.all_reduce(value)

    def state_dict(self) -> dict[str, Tensor]:
        return {k: v.cpu() for k, v in self.sums.items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.sums = {k: v.to(self.device) for k, v in state.items()}

    def compute(self) -> dict[str, Any]:
        return self.task.compute({k: v.cpu() for k, v in self.sums.items()}, detailed=self.detailed)


class Task:
    name = "task"
    monitor = "loss"
    mode = "min"
    # Metrics that fit in one CSV cell; the others go to summary.json.
    scalar_metrics: tuple[str, ...] = ("loss",)

    def loss(self, outputs: Any, target: Tensor, *, label_smoothing: float = 0.0, aux_weight: float = 0.3) -> Tensor:
        main, aux = split_outputs(outputs)
        loss = self._loss(main, target, label_smoothing)
        for extra in aux:
            loss = loss + aux_weight * self._loss(extra, target, label_smoothing)
        return loss

    def _loss(self, output: Tensor, target: Tensor, label_smoothing: float) -> Tensor:
        raise NotImplementedError

    def meter(self, device: torch.device, detailed: bool = False) -> Meter:
        return Meter(self, device, detailed)

    def update(self, meter: Meter, outputs: Any, target: Tensor, loss: Tensor | None = None) -> None:
        raise NotImplementedError

    def compute(self, sums: dict[str, Tensor], detailed: bool) -> dict[str, Any]:
        raise NotImplementedError


class Classification(Task):
    name = "classification"
    monitor = "acc1"
    mode = "max"
    scalar_metrics = ("loss", "acc1", "acc5")

    def __init__(self, num_classes: int, classes: list[str] | None = None) -> None:
        self.num_classes = num_classes
        self.classes = classes

    def _loss(self, output: Tensor, target: Tensor, label_smoothing: float) -> Tensor:
        return F.cross_entropy(output, target, label_smoothing=label_smoothing)

    def update(self, meter: Meter, outputs: Any, target: Tensor, loss: Tensor | None = None) -> None:
        logits, _ = split_outputs(outputs)
        logits = logits.detach()
        n = target.shape[0]
        if loss is None or meter.detailed:
            # Report the plain cross-entropy in evaluation, whatever smoothing trained.
            loss = F.cross_entropy(logits.float(), target, reduction="sum") / n
        meter.add("loss", loss.detach().float() * n)
        meter.add("n", torch.tensor(n))
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hits = top.eq(target.unsqueeze(1))
        meter.add("correct1", hits[:, 0].sum())
        if logits.shape[1] > 5:
            meter.add("correct5", hits.any(dim=1).sum())
        if meter.detailed:
            idx = target * self.num_classes + top[:, 0]
            meter.add("confusion", torch.bincount(idx, minlength=self.num_classes**2))

    def compute(self, sums: dict[str, Tensor], detailed: bool) -> dict[str, Any]:
        n = max(int(sums["n"]), 1)
        out: dict[str, Any] = {"loss": float(sums["loss"]) / n, "acc1": int(sums["correct1"]) / n}
        if "correct5" in sums:
            out["acc5"] = int(sums["correct5"]) / n
        if detailed and "confusion" in sums:
            cm = sums["confusion"].view(self.num_classes, self.num_classes)
            support = cm.sum(dim=1).clamp(min=1)
            out["per_class_acc"] = (cm.diagonal() / support).tolist()
            out["confusion"] = cm.tolist()
        return out


class LanguageModel(Task):
    name = "lm"
    monitor = "loss"
    mode = "min"
    scalar_metrics = ("loss", "ppl", "bpc")

    def __init__(self, chars: bool = False) -> None:
        self.chars = chars

    def _loss(self, output: Tensor, target: Tensor, label_smoothing: float) -> Tensor:
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), target.reshape(-1), label_smoothing=label_smoothing)

    def update(self, meter: Meter, outputs: Any, target: Tensor, loss: Tensor | None = None) -> None:
        logits, _ = split_outputs(outputs)
        n = target.numel()
        if loss is None or meter.detailed:
            loss = F.cross_entropy(logits.detach().float().reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum") / n
        meter.add("loss", loss.detach().float() * n)
        meter.add("n", torch.tensor(n))

    def compute(self, sums: dict[str, Tensor], detailed: bool) -> dict[str, Any]:
        loss = float(sums["loss"]) / max(int(sums["n"]), 1)
        out = {"loss": loss, "ppl": math.exp(min(loss, 700.0))}
        if self.chars:
            out["bpc"] = loss / math.log(2)
        return out


class Regression(Task):
    name = "regression"
    scalar_metrics = ("loss", "mse")

    def _loss(self, output: Tensor, target: Tensor, label_smoothing: float) -> Tensor:
        return F.mse_loss(output.reshape(target.shape).float(), target.float())

    def update(self, meter: Meter, outputs: Any, target: Tensor, loss: Tensor | None = None) -> None:
        pred, _ = split_outputs(outputs)
        se = (pred.detach().reshape(target.shape).float() - target.float()).pow(2).sum()
        meter.add("se", se)
        meter.add("n", torch.tensor(target.numel()))

    def compute(self, sums: dict[str, Tensor], detailed: bool) -> dict[str, Any]:
        mse = float(sums["se"]) / max(int(sums["n"]), 1)
        return {"loss": mse, "mse": mse}


class Frames(Task):
    """Frame prediction: outputs and targets (B, T, C, H, W) with values in [0, 1]."""

    name = "frames"
    scalar_metrics = ("loss", "mse")

    def _loss(self, output: Tensor, target: Tensor, label_smoothing: float) -> Tensor:
        return F.mse_loss(output.float(), target.float())

    def update(self, meter: Meter, outputs: Any, target: Tensor, loss: Tensor | None = None) -> None:
        pred, _ = split_outputs(outputs)
        se = (pred.detach().float() - target.float()).pow(2)
        per_frame = se.flatten(2).mean(dim=2).sum(dim=0)  # (T,): mean over pixels, summed over batch
        meter.add("se_frame", per_frame)
        meter.add("n", torch.tensor(target.shape[0]))

    def compute(self, sums: dict[str, Tensor], detailed: bool) -> dict[str, Any]:
        per_frame = sums["se_frame"] / max(int(sums["n"]), 1)
        out: dict[str, Any] = {"loss": float(per_frame.mean()), "mse": float(per_frame.mean())}
        if detailed:
            out["mse_per_frame"] = per_frame.tolist()
        return out


def make_task(info: Any) -> Task:
    """The task of a dataset (its :class:`~zoo.data.DataInfo`)."""
    if info.task == "classification":
        return Classification(int(info.num_classes), info.classes)
    if info.task == "lm":
        return LanguageModel(chars=bool(info.extra.get("chars", False)))
    if info.task == "regression":
        return Regression()
    if info.task == "frames":
        return Frames()
    raise ValueError(f"dataset {info.name!r} has unknown task {info.task!r}")
