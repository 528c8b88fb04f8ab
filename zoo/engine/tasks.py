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

__all__ = ["Task", "make_task", "split_outputs", "ssim"]


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


def _gaussian_band(n: int, size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(n - size + 1, n): row i holds the normalized 1-d Gaussian at columns i .. i + size - 1,
    so ``band @ x`` filters the columns of ``x`` over the windows that fit ("valid")."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    rows = n - size + 1
    index = torch.arange(rows).unsqueeze(1) + torch.arange(size)
    band = torch.zeros(rows, n, dtype=torch.float64).scatter_(1, index, g.expand(rows, size))
    return band.to(dtype=dtype, device=device)


def ssim(x: Tensor, y: Tensor, *, data_range: float = 1.0, window: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """Mean structural similarity of each image pair (Wang, Bovik, Sheikh & Simoncelli 2004).

    ``x`` and ``y`` are (..., H, W) single-channel images with values in
    ``[0, data_range]``; the result has the leading shape (...). As the paper's
    reference code: local means, variances and covariance under an ``window x
    window`` Gaussian of standard deviation ``sigma`` (normalized to sum 1),
    ``C1 = (k1 L)^2`` and ``C2 = (k2 L)^2``, the SSIM map over the windows that lie
    inside the image (no padding), averaged. Identical images score exactly 1.
    """
    if x.shape != y.shape or x.dim() < 2:
        raise ValueError(f"ssim needs two (..., H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    h, w = x.shape[-2:]
    if h < window or w < window:
        raise ValueError(f"ssim's {window}x{window} window does not fit {h}x{w} images")
    lead = x.shape[:-2]
    dtype = torch.promote_types(x.dtype, torch.float32)
    x = x.reshape(-1, 1, h, w).to(dtype)
    y = y.reshape(-1, 1, h, w).to(dtype)
    # A metric, not a layer: under an amp run's autocast the band products would run in
    # bf16, and var = E[x^2] - E[x]^2 loses every digit on near-black frames (inf SSIM).
    with torch.autocast(device_type=x.device.type, enabled=False):
        # The 2-d Gaussian is separable: filter the columns, then the rows, of all five maps
        # at once, as two products with banded matrices (several times faster on CPU than
        # a depthwise convolution with an 11-tap kernel).
        maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)
        maps = _gaussian_band(h, window, sigma, dtype, x.device) @ maps @ _gaussian_band(w, window, sigma, dtype, x.device).T
    mu_x, mu_y, xx, yy, xy = maps.unbind(1)
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    smap = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return smap.mean(dim=(-2, -1)).reshape(lead)


class Frames(Task):
    """Frame prediction: outputs and targets (B, T, C, H, W) with values in [0, 1].

    Metrics per predicted frame, averaged over the sequences: ``mse`` the mean
    squared error per pixel (multiply by H * W for the per-frame sums that
    PredRNN and later papers tabulate) and ``ssim`` the structural similarity
    (:func:`ssim`, channels averaged); ``detailed`` adds both per frame index.
    """

    name = "frames"
    scalar_metrics = ("loss", "mse", "ssim")

    def _loss(self, output: Tensor, target: Tensor, label_smoothing: float) -> Tensor:
        return F.mse_loss(output.float(), target.float())

    def update(self, meter: Meter, outputs: Any, target: Tensor, loss: Tensor | None = None) -> None:
        pred, _ = split_outputs(outputs)
        pred, target = pred.detach().float(), target.float()
        se = (pred - target).pow(2)
        per_frame = se.flatten(2).mean(dim=2).sum(dim=0)  # (T,): mean over pixels, summed over batch
        meter.add("se_frame", per_frame)
        meter.add("ssim_frame", ssim(pred.clamp(0, 1), target).mean(dim=2).sum(dim=0))
        meter.add("n", torch.tensor(target.shape[0]))

    def compute(self, sums: dict[str, Tensor], detailed: bool) -> dict[str, Any]:
        n = max(int(sums["n"]), 1)
        per_frame = sums["se_frame"] / n
        out: dict[str, Any] = {"loss": float(per_frame.mean()), "mse": float(per_frame.mean())}
        if "ssim_frame" in sums:  # absent from the meter of a run resumed from an older checkpoint
            ssim_frame = sums["ssim_frame"] / n
            out["ssim"] = float(ssim_frame.mean())
        if detailed:
            out["mse_per_frame"] = per_frame.tolist()
            if "ssim_frame" in sums:
                out["ssim_per_frame"] = ssim_frame.tolist()
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
