"""Measuring one contestant: FLOPs and latency of the trained model, and its
results row from the run directory."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import rundir
from ..summary import summary as layer_summary
from .spec import ModelSpec

__all__ = ["RESULT_COLUMNS", "count_flops", "measure_model", "row_from_run", "failed_row"]

RESULT_COLUMNS = (
    "model", "arch", "status", "params", "flops", "metric", "best", "best_epoch", "final", "epochs",
    "train_time_s", "train_samples_per_s", "latency_ms", "peak_mem_mb", "device",
)


def _one_sample(batch: tuple, n: int) -> list[Any]:
    """The model inputs of the first sample of a batch whose target has ``n`` rows."""
    inputs = []
    for t in batch[:-1]:
        if isinstance(t, torch.Tensor) and t.dim() and t.shape[0] == n:
            t = t[:1]
        elif isinstance(t, torch.Tensor) and t.dim() > 1 and t.shape[1] == n:  # sequence-first
            t = t[:, :1]
        inputs.append(t)
    return inputs


def count_flops(model: Any, inputs: Sequence[Any], *, device: Any = "cpu") -> int | None:
    """FLOPs of one forward pass of ``inputs`` (one sample) through ``model``, by
    :func:`zoo.summary.summary`; ``None`` when the pass cannot be traced."""
    try:
        return int(layer_summary(model, input_data=list(inputs), device=device).flops)
    except Exception:  # FLOPs are a nicety: an untraceable op leaves the cell empty
        return None


def measure_model(model: Any, loader: Any, device: Any) -> dict[str, Any]:
    """FLOPs (one sample of this dataset) and eval-mode latency per sample at batch 1."""
    out: dict[str, Any] = {"flops": None, "latency_ms": None}
    try:
        batch = next(iter(loader))
    except StopIteration:
        return out
    target = batch[-1]
    n = target.shape[0] if isinstance(target, torch.Tensor) and target.dim() else 1
    inputs = [t.to(device) if isinstance(t, torch.Tensor) else t for t in _one_sample(batch, n)]
    was_training = model.training
    out["flops"] = count_flops(model, inputs, device=device)
    model.eval()
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    times: list[float] = []
    try:
        with torch.inference_mode():
            model(*inputs)  # warm-up
            sync()
            start = time.perf_counter()
            while len(times) < 3 or (len(times) < 50 and time.perf_counter() - start < 0.3):
                t0 = time.perf_counter()
                model(*inputs)
                sync()
                times.append(time.perf_counter() - t0)
        # The fastest run, as timeit advises: slower ones measure the machine's other load.
        out["latency_ms"] = min(times) * 1000
    except Exception:
        out["latency_ms"] = None
    finally:
        model.train(was_training)
    return out


def row_from_run(spec: ModelSpec, run_dir: Path, summary: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """The results row of a finished run: its summary, its metrics.csv and ``extra``
    (flops, latency_ms, peak_mem_mb)."""
    metric = summary.get("monitor") or "loss"
    rows = rundir.read_metrics(run_dir)
    train_time = sum(float(r.get("time") or 0) for r in rows)
    samples = sum(float(r.get("time") or 0) * float(r.get("samples_per_s") or 0) for r in rows)
    final = (summary.get("test") or {}).get(metric)
    return {
        "model": spec.name,
        "arch": spec.model,
        "status": "ok",
        "params": summary.get("params"),
        "flops": extra.get("flops"),
        "metric": metric,
        "best": (summary.get("best") or {}).get("value"),
        "best_epoch": (summary.get("best") or {}).get("epoch"),
        "final": final,
        "epochs": summary.get("epochs"),
        "train_time_s": summary.get("wall_time_s"),
        "train_samples_per_s": samples / train_time if train_time > 0 else None,
        "latency_ms": extra.get("latency_ms"),
        "peak_mem_mb": extra.get("peak_mem_mb"),
        "device": summary.get("device"),
    }


def failed_row(spec: ModelSpec, message: str) -> dict[str, Any]:
    row = {k: None for k in RESULT_COLUMNS}
    row.update(model=spec.name, arch=spec.model, status=f"failed: {message}")
    return row
