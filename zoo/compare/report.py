"""Reporting a comparison: the results table (CSV and markdown) and the plots."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import rundir
from ..atomic import atomic_write, atomic_write_csv, atomic_write_text
from .measure import RESULT_COLUMNS
from .spec import CompareSpec

__all__ = ["format_table", "write_results"]


def _si(n: float | None, unit: str = "") -> str:
    if n is None:
        return "-"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}{unit}"
    return f"{n:.0f}{unit}"


def _fmt_metric(metric: str | None, value: float | None) -> str:
    if value is None:
        return "-"
    if metric and metric.startswith("acc"):
        return f"{100 * value:.2f}%"
    return f"{value:.4g}"


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The results as a markdown table (what results.md holds and the command prints)."""
    metric = next((r["metric"] for r in rows if r.get("metric")), "metric")
    header = ["model", "params", "FLOPs", f"best {metric}", f"final {metric}", "epochs", "train time",
              "train samples/s", "latency/sample", "peak mem"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for r in rows:
        if r["status"] != "ok":
            cells = [r["model"], f"**{r['status']}**"] + [""] * (len(header) - 2)
        else:
            cells = [
                r["model"] if r["arch"] == r["model"] else f"{r['model']} ({r['arch']})",
                _si(r["params"]),
                _si(r["flops"]),
                _fmt_metric(r["metric"], r["best"]) + (f" (ep {r['best_epoch']})" if r.get("best_epoch") else ""),
                _fmt_metric(r["metric"], r["final"]),
                _fmt(r["epochs"], "d"),
                _fmt(r["train_time_s"], ".1f") + " s",
                _fmt(r["train_samples_per_s"], ",.0f"),
                _fmt(r["latency_ms"], ".2f") + " ms",
                _fmt(r["peak_mem_mb"], ",.0f") + " MB",
            ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_results(rows: list[dict[str, Any]], spec: CompareSpec) -> dict[str, Path]:
    """``results.csv``, ``results.md`` and the plots in ``spec.out``; returns their paths by kind."""
    out = spec.out
    files = {"csv": out / "results.csv", "md": out / "results.md"}
    atomic_write_csv(files["csv"], rows, RESULT_COLUMNS)
    files.update(_plots(rows, spec))

    ok = [r for r in rows if r["status"] == "ok"]
    budget = []
    if spec.epochs is not None:
        budget.append(f"{spec.epochs} epoch{'s' if spec.epochs != 1 else ''}")
    if spec.seconds is not None:
        budget.append(f"{spec.seconds:g} s")
    devices = sorted({str(r["device"]) for r in ok if r.get("device")})
    metric = ok[0]["metric"] if ok else "metric"
    md = [
        f"# Compare: {spec.name}" + (f" on {spec.data.get('name')}" if spec.name != spec.data.get("name") else ""),
        "",
        f"Command: `{spec.command}`" if spec.command else "",
        "",
        f"Budget per model: {' or '.join(budget) if budget else 'the config epochs'}; "
        f"device: {', '.join(devices) or '-'}; written {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        format_table(rows),
        "",
        f"best {metric}: best per-epoch evaluation (test split unless data.val_split > 0); final: test metric of "
        "the final weights. FLOPs: one forward pass of one sample of this dataset. Train time: wall time "
        "with per-epoch evaluation; samples/s: training steps only. Latency: eval-mode forward of one "
        "sample (batch 1), fastest of >= 3 runs. Peak mem: CUDA peak allocation, or on CPU the peak "
        "resident memory of the model's own training process (Python and torch included).",
        "",
    ]
    for key, title in (("curves", "Learning curves"), ("vs_params", f"{metric} vs parameters"),
                       ("vs_flops", f"{metric} vs FLOPs"), ("train_time", "Training time")):
        if key in files:
            md += [f"![{title}]({files[key].name})", ""]
    atomic_write_text(files["md"], "\n".join(line for i, line in enumerate(md) if line or (i and md[i - 1])))
    return files


def _figure(width: float = 6.4, height: float = 4.4) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    return path


def _plots(rows: list[dict[str, Any]], spec: CompareSpec) -> dict[str, Path]:
    """Learning curves, metric vs params / FLOPs scatter and train-time bars (Agg, no pyplot)."""
    out = spec.out
    ok = [r for r in rows if r["status"] == "ok"]
    metric = ok[0]["metric"] if ok else "metric"
    pct = metric.startswith("acc")
    scale = 100.0 if pct else 1.0
    ylabel = f"{metric} (%)" if pct else metric
    files: dict[str, Path] = {}
    dataset = spec.data.get("name")

    fig = _figure(11, 4.2)
    ax_m, ax_l = fig.subplots(1, 2)
    for r in ok:
        hist = rundir.read_metrics(out / r["model"])
        key = next((f"{s}_{metric}" for s in ("val", "test") if hist and f"{s}_{metric}" in hist[0]), None)
        pts = [(h["epoch"], h[key]) for h in hist if key and h.get(key) is not None]
        if pts:
            ax_m.plot([p[0] for p in pts], [p[1] * scale for p in pts], marker="o", label=r["model"])
        loss = [(h["epoch"], h["train_loss"]) for h in hist if h.get("train_loss") is not None]
        if loss:
            ax_l.plot([p[0] for p in loss], [p[1] for p in loss], marker="o", label=r["model"])
    ax_m.set(xlabel="epoch", ylabel=f"evaluation {ylabel}", title=f"{metric} per epoch on {dataset}")
    ax_l.set(xlabel="epoch", ylabel="training loss", title="training loss per epoch")
    last_epoch = max((int(r.get("epochs") or 1) for r in ok), default=1)
    for ax in (ax_m, ax_l):
        ax.grid(alpha=0.3)
        if ok:
            ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlim(0.5, last_epoch + 0.5)
    files["curves"] = _save(fig, out / "curves.png")

    for key, col, label in (("vs_params", "params", "parameters"), ("vs_flops", "flops", "FLOPs per sample")):
        fig = _figure()
        ax = fig.subplots()
        pts = [r for r in ok if r.get(col) and r.get("best") is not None]
        for r in pts:
            ax.scatter(r[col], r["best"] * scale, s=40)
            ax.annotate(r["model"], (r[col], r["best"] * scale), textcoords="offset points", xytext=(5, 4),
                        fontsize=8)
        if pts:
            ax.set_xscale("log")
        ax.set(xlabel=f"{label} (log scale)", ylabel=f"best {ylabel}", title=f"best {metric} vs {label} on {dataset}")
        ax.grid(alpha=0.3, which="both")
        files[key] = _save(fig, out / f"metric_{key}.png")

    fig = _figure(6.4, 0.6 + 0.45 * max(len(ok), 1))
    ax = fig.subplots()
    names = [r["model"] for r in ok]
    times = [r["train_time_s"] or 0.0 for r in ok]
    bars = ax.barh(range(len(ok)), times, color="tab:blue")
    ax.set_yticks(range(len(ok)), names)
    ax.invert_yaxis()
    for bar, t in zip(bars, times):
        ax.annotate(f"{t:.1f} s", (bar.get_width(), bar.get_y() + bar.get_height() / 2), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=8)
    ax.set(xlabel="training wall time (s)", title=f"training time on {dataset}")
    ax.margins(x=0.15)
    files["train_time"] = _save(fig, out / "train_time.png")
    return files
