"""``zoo reproduce``: a paper's table beside the zoo's own figures.

::

    zoo reproduce --list
    zoo reproduce NAME [--models M ...] [--epochs-scale F | --seconds S] [--out DIR] [key=value ...]

A paper table is a data file, ``configs/reproduce/NAME.yaml``: the paper, the
table or section its figures come from, their metric, the paper's schedule, and
one entry per row: a registered model, a training config, the paper's figure::

    title: "He et al. 2016, CIFAR-10 ResNets"      # the line `zoo reproduce --list` prints
    paper: "He, Zhang, Ren, Sun 2016, Deep residual learning for image recognition"
    source: "Table 6"                               # where the figures come from
    metric: error        # the paper column's unit: accuracy or error (%, from test acc1),
                         # mse or ssim (test mse / ssim), nats (test loss per token or char)
    schedule: {epochs: 164, batch_size: 128, note: "lr 0.1 /10 at 32k and 48k iterations"}
    note: "printed under the table"
    rows:
      - row: ResNet-20                              # the label (and, slugged, the folder)
        model: resnet20                             # a registered model; replaces the config's
        config: configs/published/resnet20_cifar10.yaml   # relative to the repository root
        overrides: ["optim.lr=0.05"]                # optional, as on the zoo train command line
        paper: 8.75                                 # in the metric's unit; null if none
        folds: 10                                   # optional: K runs with data.fold=0..K-1
        schedule: {epochs: 20}                      # optional: this row's paper schedule
        train: false                                # optional: an untrained baseline

Each row trains through the
compare machinery (:func:`zoo.compare.run_compare`), so a row runs in its own
process on the CPU, resumes from its checkpoint when stopped, is skipped when
done with the same config, and a failing row is reported in one line while the
others go on (the command then exits 1).

Budget of a row:

- no flag: the row's config as it stands (its own epochs; a fast recipe may
  train fewer epochs than the paper);
- ``--epochs-scale F``: ``round(F * paper epochs)`` epochs (at least 1); a
  schedule counted in optimizer steps (``train.max_steps``, step-unit
  ``sched.milestones`` / ``step_size`` / ``warmup_steps``) is compressed by the
  same factor, epoch-unit milestones in proportion to the new epoch count, so
  the paper's schedule keeps its shape;
- ``--seconds S``: the row's config cut at ``S`` seconds of wall time each.

``key=value`` overrides (``data.root=../shared/data train.device=cuda``) apply
to every row, after the row's own overrides.

Output (default ``runs/reproduce/NAME``): ``OUT/<row>/`` is the row's compare
folder (its run directory ``OUT/<row>/<model>/`` with ``summary.json``,
``best.safetensors``, ``last.ckpt``; with ``folds: K``, ``OUT/<row>/fold<i>/``
one per fold), and beside them ``results.csv`` and ``results.md``: row, paper
figure, zoo figure (mean over folds, and the folds' standard deviation),
difference (zoo - paper, in the paper's unit), epochs used against the paper's,
wall time, device, and ``short budget`` on every row trained for fewer epochs
than the paper's schedule.

Where the tables are found
--------------------------
A NAME is looked up as ``<configs>/reproduce/NAME.yaml``, where ``<configs>`` is
the first of: ``$ZOO_CONFIGS``; ``./configs`` (the current folder is a zoo
checkout); the ``configs/`` folder beside the installed package (a source
checkout, editable install). A path to a YAML file works too. A row's
``config`` is relative to the folder that holds ``<configs>`` (the repository
root). The tables point at training configs, so they live with them in the
repository rather than inside the package: with a non-editable install, run
from a checkout or set ``ZOO_CONFIGS=/path/to/zoo/configs``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from . import rundir
from .atomic import atomic_write_csv, atomic_write_text
from .compare import CompareResult, CompareSpec, ModelSpec, intermixed, run_compare
from .data import build_dataset
from .engine.config import config_from_dict, load_config
from .engine.runtime import resolve_device, seed_everything
from .engine.tasks import make_task
from .engine.trainer import config_differences, evaluate, resolve_model_kwargs
from .errors import ConfigError, ZooError, did_you_mean, error_line, first_line
from .factory import create_model

__all__ = ["PaperTable", "PaperRow", "ReproduceResult", "find_configs", "list_tables", "load_table",
           "reproduce", "format_table", "RESULT_COLUMNS", "METRICS", "add_cli"]

# metric kind -> (test metric of the run, how to read it in the paper's unit, unit shown
# after the kind in the header; "" where the kind names its unit)
METRICS: dict[str, tuple[str, Any, str]] = {
    "accuracy": ("acc1", lambda v: 100.0 * v, "%"),
    "error": ("acc1", lambda v: 100.0 * (1.0 - v), "%"),
    "mse": ("mse", lambda v: v, ""),
    "ssim": ("ssim", lambda v: v, ""),
    "nats": ("loss", lambda v: v, ""),
}
RESULT_COLUMNS = (
    "row", "model", "status", "metric", "paper", "zoo", "zoo_std", "folds", "difference", "epochs",
    "paper_epochs", "short_budget", "wall_time_s", "device", "run_dir",
)
_TABLE_KEYS = ("title", "paper", "source", "metric", "schedule", "note", "rows")
_ROW_KEYS = ("row", "model", "config", "overrides", "paper", "folds", "schedule", "train")
_SLUG_RE = re.compile(r"[^A-Za-z0-9_.+-]+")


# ---------------------------------------------------------------------------------
# The table file
# ---------------------------------------------------------------------------------
@dataclass
class PaperRow:
    row: str
    model: str
    config: Path | None
    overrides: list[str] = field(default_factory=list)
    paper: float | None = None
    folds: int | None = None
    schedule: dict[str, Any] = field(default_factory=dict)
    train: bool = True

    @property
    def slug(self) -> str:
        """The row's folder name under the output folder."""
        return _SLUG_RE.sub("_", self.row).strip("_").lower() or self.model

    @property
    def paper_epochs(self) -> int | None:
        epochs = self.schedule.get("epochs")
        return int(epochs) if epochs is not None else None


@dataclass
class PaperTable:
    name: str
    title: str
    paper: str
    source: str
    metric: str
    schedule: dict[str, Any]
    note: str
    rows: list[PaperRow]
    path: Path


def find_configs() -> Path | None:
    """The configs folder (see "Where the tables are found" above), or None."""
    candidates = []
    if os.environ.get("ZOO_CONFIGS"):
        candidates.append(Path(os.environ["ZOO_CONFIGS"]).expanduser())
    candidates += [Path.cwd() / "configs", Path(__file__).resolve().parents[1] / "configs"]
    for folder in candidates:
        if (folder / "reproduce").is_dir():
            return folder
    return None


def _tables_dir() -> Path:
    configs = find_configs()
    if configs is None:
        raise ConfigError("no configs/reproduce folder found: run from a zoo checkout or set "
                          "ZOO_CONFIGS=/path/to/zoo/configs")
    return configs / "reproduce"


def list_tables() -> list[tuple[str, str]]:
    """(name, title) of every table, sorted by name."""
    out = []
    for path in sorted(_tables_dir().glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text()) or {}
            title = str(raw.get("title", "")) if isinstance(raw, dict) else ""
        except yaml.YAMLError:
            title = "(unreadable YAML)"
        out.append((path.stem, title))
    return out


def _table_path(name: str | Path) -> Path:
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    folder = _tables_dir()
    path = folder / f"{name}.yaml"
    if not path.is_file():
        names = [p.stem for p in sorted(folder.glob("*.yaml"))]
        hint = did_you_mean(str(name), names, f"tables: {', '.join(names) or 'none'}", n=1)
        raise ConfigError(f"no paper table {name!r} in {folder} ({hint})")
    return path


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a number or null, got {value!r}")
    return float(value)


def _schedule(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping (epochs, batch_size, note), got {value!r}")
    epochs = value.get("epochs")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"{where}.epochs must be an integer >= 1, got {epochs!r}")
    return dict(value)


def load_table(name: str | Path) -> PaperTable:
    """Read ``configs/reproduce/NAME.yaml`` (or a path) into a :class:`PaperTable`."""
    path = _table_path(name)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {first_line(exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a paper table is a mapping (title, paper, source, metric, schedule, rows)")
    for key in raw:
        if key not in _TABLE_KEYS:
            hint = did_you_mean(str(key), _TABLE_KEYS, n=1)
            raise ConfigError(f"{path}: unknown key {key!r}" + (f" ({hint})" if hint else ""))
    metric = raw.get("metric")
    if metric not in METRICS:
        raise ConfigError(f"{path}: metric must be one of {', '.join(METRICS)}, got {metric!r}")
    schedule = _schedule(raw.get("schedule"), f"{path}: schedule")
    rows_raw = raw.get("rows")
    if not isinstance(rows_raw, list) or not rows_raw:
        raise ConfigError(f"{path}: rows must be a non-empty list")
    root = path.resolve().parents[2] if path.parent.name == "reproduce" else Path.cwd()
    rows: list[PaperRow] = []
    for i, item in enumerate(rows_raw):
        where = f"{path}: rows[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where} must be a mapping with row, model, config, paper")
        for key in item:
            if key not in _ROW_KEYS:
                hint = did_you_mean(str(key), _ROW_KEYS, n=1)
                raise ConfigError(f"{where}: unknown key {key!r}" + (f" ({hint})" if hint else ""))
        model = item.get("model")
        if not isinstance(model, str) or not model:
            raise ConfigError(f"{where} needs model: a registered model name")
        overrides = item.get("overrides") or []
        if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise ConfigError(f"{where}.overrides must be a list of key=value strings, got {overrides!r}")
        folds = item.get("folds")
        if folds is not None and (isinstance(folds, bool) or not isinstance(folds, int) or folds < 1):
            raise ConfigError(f"{where}.folds must be an integer >= 1, got {folds!r}")
        train = item.get("train", True)
        if not isinstance(train, bool):
            raise ConfigError(f"{where}.train must be true or false, got {train!r}")
        config = item.get("config")
        if config is not None and not isinstance(config, str):
            raise ConfigError(f"{where}.config must be a path relative to the repository root, got {config!r}")
        row_schedule = {**schedule, **_schedule(item.get("schedule"), f"{where}.schedule")}
        rows.append(PaperRow(
            row=str(item.get("row") or model), model=model, config=(root / config) if config else None,
            overrides=list(overrides), paper=_number(item.get("paper"), f"{where}.paper"), folds=folds,
            schedule=row_schedule, train=train,
        ))
    slugs = [r.slug for r in rows]
    dup = next((s for s in slugs if slugs.count(s) > 1), None)
    if dup:
        raise ConfigError(f"{path}: two rows share the folder name {dup!r}; give them distinct labels")
    return PaperTable(name=path.stem, title=str(raw.get("title") or path.stem), paper=str(raw.get("paper") or ""),
                      source=str(raw.get("source") or ""), metric=metric, schedule=schedule,
                      note=str(raw.get("note") or ""), rows=rows, path=path)


# ---------------------------------------------------------------------------------
# One row
# ---------------------------------------------------------------------------------
class _RowFailed(Exception):
    """A row failed; the message is one line."""


def _base_config(row: PaperRow, overrides: Sequence[str]) -> dict[str, Any]:
    """The row's resolved training config (plain dict): its file, the row's model and
    overrides, then the command line's. A typo fails this row only."""
    if row.config is not None and not row.config.is_file():
        raise ConfigError(f"config not found: {row.config}")
    return load_config(row.config, [f"model.name={row.model}", *row.overrides, *overrides]).to_dict()


def _scaled(cfg: dict[str, Any], factor: float, epochs: int) -> dict[str, Any]:
    """``cfg`` with its schedule compressed to ``epochs`` (``factor`` of the paper's).

    What the config counts in optimizer steps (``train.max_steps``, step-unit
    milestones and step size, ``warmup_steps``) shrinks by ``factor``; what it counts
    in epochs (epoch-unit milestones and step size, ``warmup_epochs``) by the ratio of
    the new epoch count to the config's (by ``factor`` where ``max_steps`` ends the
    run and the config's epochs are only a bound).
    """
    train, sched = cfg["train"], cfg["sched"]
    ratio = factor if train.get("max_steps") or not train["epochs"] else epochs / train["epochs"]
    train["epochs"] = epochs
    if train.get("max_steps"):
        train["max_steps"] = max(1, round(factor * train["max_steps"]))
    by = factor if sched.get("unit") == "step" else ratio
    sched["milestones"] = [max(1, round(by * m)) for m in sched.get("milestones") or []]
    sched["step_size"] = max(1, round(by * sched.get("step_size", 1)))
    sched["warmup_steps"] = round(factor * (sched.get("warmup_steps") or 0))
    sched["warmup_epochs"] = ratio * (sched.get("warmup_epochs") or 0.0)
    return cfg


def _compare_spec(cfg: dict[str, Any], model: str, out: Path, extra: Sequence[str], seconds: float | None,
                  command: str) -> Any:
    kwargs = {k: v for k, v in cfg["model"].items() if k != "name"}
    sections = {s: dict(cfg[s]) for s in ("optim", "sched", "train", "log")}
    return CompareSpec(
        name=out.name, data=dict(cfg["data"]), models=[ModelSpec(name=model, model=model, kwargs=kwargs)],
        out=out, epochs=cfg["train"]["epochs"] if seconds is not None else None, seconds=seconds,
        sections=sections, overrides=list(extra), command=command,
    )


def _summary_metric(run_dir: Path, key: str) -> float:
    try:
        summary = json.loads((run_dir / rundir.SUMMARY).read_text())
    except (OSError, ValueError) as exc:
        raise _RowFailed(f"no summary.json in {run_dir}: {exc}") from None
    value = (summary.get("test") or {}).get(key)
    if not isinstance(value, (int, float)):
        raise _RowFailed(f"the run reports no test {key} (its test metrics: {', '.join(summary.get('test') or {})})")
    return float(value)


def _train_row(row: PaperRow, cfg: dict[str, Any], out: Path, seconds: float | None, key: str,
               isolate: bool | None, command: str) -> dict[str, Any]:
    """Train the row (each fold) through run_compare; its figures from the runs' summaries."""
    folds = list(range(row.folds)) if row.folds else [None]
    values, epochs, wall, devices, run_dirs, failures = [], [], 0.0, set(), [], []
    for fold in folds:
        where = out if fold is None else out / f"fold{fold}"
        extra = [] if fold is None else [f"data.fold={fold}"]
        spec = _compare_spec(cfg, row.model, where, extra, seconds, command)
        result = run_compare(spec, verbose=False, isolate=isolate)
        r = result.rows[0]
        if r["status"] != "ok":
            failures.append(r["status"].removeprefix("failed: ") if fold is None
                            else f"fold {fold}: {r['status'].removeprefix('failed: ')}")
            continue
        run_dir = where / row.model
        values.append(_summary_metric(run_dir, key))
        epochs.append(int(r.get("epochs") or 0))
        wall += float(r.get("train_time_s") or 0.0)
        devices.add(str(r.get("device") or ""))
        run_dirs.append(str(run_dir))
    if failures:
        raise _RowFailed("; ".join(failures))
    return {"values": values, "epochs": min(epochs), "wall_time_s": wall, "device": ", ".join(sorted(devices)),
            "run_dir": run_dirs[0] if len(run_dirs) == 1 else str(out)}


def _baseline_row(row: PaperRow, cfg: dict[str, Any], out: Path, key: str) -> dict[str, Any]:
    """Evaluate the row's model untrained (``train: false``): a baseline such as
    copy-last-frame or the trivial predictor. Resumable like a trained row."""
    folds = list(range(row.folds)) if row.folds else [None]
    values, wall, device_name = [], 0.0, ""
    for fold in folds:
        where = out if fold is None else out / f"fold{fold}"
        fold_cfg = json.loads(json.dumps(cfg))
        if fold is not None:
            fold_cfg["data"]["fold"] = fold
        done = where / "result.json"
        if done.exists():
            try:
                record = json.loads(done.read_text())
            except (OSError, ValueError):
                record = {}
            if record.get("config") and not config_differences(record["config"], fold_cfg):
                values.append(float(record["value"]))
                wall += float(record["wall_time_s"])
                device_name = record["device"]
                continue
        start = time.perf_counter()
        try:
            c = config_from_dict(fold_cfg)
            device = resolve_device(c.train.device)
            seed_everything(c.train.seed)
            data = build_dataset(c.data, device)
            task = make_task(data.info)
            model = create_model(c.model.name, **resolve_model_kwargs(c.model.name, c.model.kwargs, data.info))
            metrics = evaluate(model.to(device), data.test, task, device)
        except (ZooError, RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise _RowFailed(error_line(exc)) from None
        if not isinstance(metrics.get(key), (int, float)):
            raise _RowFailed(f"the baseline reports no test {key} (its metrics: {', '.join(metrics)})")
        elapsed = time.perf_counter() - start
        device_name = str(device) if device.type != "cuda" else torch.cuda.get_device_name(device)
        where.mkdir(parents=True, exist_ok=True)
        atomic_write_text(done, json.dumps({"config": fold_cfg, "value": float(metrics[key]), "test": metrics,
                                            "wall_time_s": elapsed, "device": device_name}, indent=2,
                                           default=str) + "\n")
        values.append(float(metrics[key]))
        wall += elapsed
    return {"values": values, "epochs": 0, "wall_time_s": wall, "device": device_name, "run_dir": str(out)}




# ---------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------
class ReproduceResult(CompareResult):
    """A reproduced table: its folder, rows, files and markdown; ``failed`` names rows."""

    @property
    def failed(self) -> list[str]:
        return [r["row"] for r in self.rows if r["status"] != "ok"]


def _say(msg: str, *, err: bool = False) -> None:
    print(msg, file=sys.stderr if err else sys.stdout, flush=True)


def reproduce(
    name: str | Path,
    *,
    models: Sequence[str] | None = None,
    epochs_scale: float | None = None,
    seconds: float | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    verbose: bool = True,
    isolate: bool | None = None,
) -> ReproduceResult:
    """Run a paper table (see the module docstring) and write results.csv / results.md.

    Args:
        name: a table name (``zoo reproduce --list``) or a path to a table YAML.
        models: run only the rows whose model or label is named (default: all).
        epochs_scale: train ``round(F * paper epochs)`` epochs, the schedule compressed alike.
        seconds: a wall-clock budget per row (each fold) instead.
        out: output folder (default ``runs/reproduce/NAME``).
        overrides: ``key=value`` applied to every row.
        isolate: train each row in a fresh process (compare's default: yes unless on CUDA).
    """
    if epochs_scale is not None and seconds is not None:
        raise ConfigError("give --epochs-scale or --seconds, not both")
    if epochs_scale is not None and (not math.isfinite(epochs_scale) or epochs_scale <= 0):
        raise ConfigError(f"--epochs-scale must be a number > 0, got {epochs_scale!r}")
    if seconds is not None and (not math.isfinite(seconds) or seconds <= 0):
        raise ConfigError(f"--seconds must be a number > 0, got {seconds!r}")
    table = load_table(name)
    rows = table.rows
    if models:
        known = {r.model for r in rows} | {r.row for r in rows}
        missing = [m for m in models if m not in known]
        if missing:
            raise ConfigError(f"--models: {', '.join(missing)} not in {table.name} "
                              f"(its rows: {', '.join(r.row + ' (' + r.model + ')' for r in rows)})")
        rows = [r for r in rows if r.model in models or r.row in models]
    if epochs_scale is not None:
        unknown = [r.row for r in rows if r.train and r.paper_epochs is None]
        if unknown:
            raise ConfigError(f"--epochs-scale needs the paper's epochs; {table.path} gives none for "
                              f"{', '.join(unknown)} (schedule: {{epochs: N}})")
    out = Path(out) if out is not None else Path("runs") / "reproduce" / table.name
    out.mkdir(parents=True, exist_ok=True)
    command = _command_line(name, models, epochs_scale, seconds, out, overrides)
    key, convert, _ = METRICS[table.metric]

    results: list[dict[str, Any]] = []
    for i, row in enumerate(rows, 1):
        record = {"row": row.row, "model": row.model, "status": "ok", "metric": table.metric, "paper": row.paper,
                  "zoo": None, "zoo_std": None, "folds": row.folds, "difference": None, "epochs": None,
                  "paper_epochs": row.paper_epochs, "short_budget": False, "wall_time_s": None, "device": None,
                  "run_dir": str(out / row.slug)}
        what = "baseline, not trained" if not row.train else (
            f"{round(epochs_scale * row.paper_epochs) or 1} epochs" if epochs_scale is not None
            else f"{seconds:g} s" if seconds is not None else "the config's budget")
        _say(f"[{i}/{len(rows)}] {row.row} ({row.model}{f', {row.folds} folds' if row.folds else ''}; {what})")
        try:
            cfg = _base_config(row, overrides)
            if not row.train:
                got = _baseline_row(row, cfg, out / row.slug, key)
            else:
                if epochs_scale is not None:
                    epochs = max(1, round(epochs_scale * row.paper_epochs))
                    cfg = _scaled(cfg, epochs_scale, epochs)
                got = _train_row(row, cfg, out / row.slug, seconds, key, isolate, command)
        except (_RowFailed, ZooError) as exc:
            if getattr(exc, "exit_code", None) == 130:  # Ctrl-C: stop here; the same command resumes
                raise
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            _say(f"zoo reproduce: {row.row} failed: {message}", err=True)
            record["status"] = f"failed: {message}"
            results.append(record)
            continue
        figures = [convert(v) for v in got["values"]]
        record["zoo"] = statistics.fmean(figures)
        record["zoo_std"] = statistics.stdev(figures) if len(figures) > 1 else None
        record["difference"] = record["zoo"] - row.paper if row.paper is not None else None
        record["epochs"] = got["epochs"]
        record["short_budget"] = bool(row.train and row.paper_epochs is not None and got["epochs"] < row.paper_epochs)
        record.update(wall_time_s=got["wall_time_s"], device=got["device"], run_dir=got["run_dir"])
        results.append(record)

    files = write_results(results, table, out, command)
    text = format_table(results, table.metric)
    if verbose:
        _say("")
        _say(text)
        _say(f"\nresults: {files['csv']}, {files['md']}")
    return ReproduceResult(out=out, rows=results, files=files, table=text)


# ---------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------
def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if metric in ("accuracy", "error") else f"{value:.4g}"


def format_table(rows: Sequence[dict[str, Any]], metric: str) -> str:
    """The results as a markdown table (what results.md holds and the command prints)."""
    unit = METRICS[metric][2]
    head = f"{metric} ({unit})" if unit else metric
    header = ["row", "model", f"paper {head}", f"zoo {head}", "difference", "epochs (paper)", "wall time",
              "device", "budget"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * 5 + "---|---|"]
    for r in rows:
        if r["status"] != "ok":
            cells = [r["row"], r["model"], _fmt(r["paper"], metric), f"**{r['status']}**", "", "",
                     "", "", ""]
        else:
            zoo = _fmt(r["zoo"], metric)
            if r.get("zoo_std") is not None:
                zoo += f" ± {_fmt(r['zoo_std'], metric)} ({r['folds']} folds)"
            elif r.get("folds"):
                zoo += f" ({r['folds']} folds)"
            diff = "-" if r["difference"] is None else ("+" if r["difference"] >= 0 else "") + _fmt(r["difference"], metric)
            epochs = "not trained" if r["epochs"] == 0 else str(r["epochs"])
            if r.get("paper_epochs") is not None and r["epochs"]:
                epochs += f" ({r['paper_epochs']})"
            budget = "short budget" if r["short_budget"] else ("baseline" if r["epochs"] == 0 else "")
            cells = [r["row"], f"`{r['model']}`", _fmt(r["paper"], metric), zoo, diff, epochs,
                     f"{r['wall_time_s']:.1f} s", str(r["device"] or "-"), budget]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_results(rows: list[dict[str, Any]], table: PaperTable, out: Path, command: str) -> dict[str, Path]:
    files = {"csv": out / "results.csv", "md": out / "results.md"}
    atomic_write_csv(files["csv"], rows, RESULT_COLUMNS)

    schedule = table.schedule
    paper_budget = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in schedule.items() if k != "note")
    if schedule.get("note"):
        paper_budget += f" ({schedule['note']})" if paper_budget else schedule["note"]
    md = [
        f"# {table.title}",
        "",
        f"Paper: {table.paper}" + (f", {table.source}" if table.source else "") + ".",
        f"Paper's schedule: {paper_budget}." if paper_budget else "",
        "",
        f"Command: `{command}`; written {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        format_table(rows, table.metric),
        "",
        f"Zoo figures are the test {METRICS[table.metric][0]} of each run's final weights, in the paper's unit "
        "(mean ± standard deviation over the folds where the row has folds); difference = zoo - paper. "
        "Epochs: trained (paper's). **short budget**: trained for fewer epochs than the paper's schedule, "
        "so the gap says as much about the budget as about the model. Wall time: training with its "
        "per-epoch evaluation (all folds).",
    ]
    if table.note:
        md += ["", table.note]
    md.append("")
    atomic_write_text(files["md"], "\n".join(md))
    return files


# ---------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------
def _command_line(name: Any, models: Any, epochs_scale: Any, seconds: Any, out: Any, overrides: Sequence[str]) -> str:
    parts = ["zoo", "reproduce", str(name)]
    if models:
        parts += ["--models", *map(str, models)]
    if epochs_scale is not None:
        parts += ["--epochs-scale", f"{epochs_scale:g}"]
    if seconds is not None:
        parts += ["--seconds", f"{seconds:g}"]
    if out is not None:
        parts += ["--out", str(out)]
    return shlex.join(parts + list(overrides))


def _cmd_reproduce(args: argparse.Namespace) -> int:
    positional = list(args.args)
    models = [m for m in (args.models or []) if "=" not in m]
    overrides = [m for m in (args.models or []) if "=" in m]  # `--models a key=value` swallows overrides
    if args.list:
        if positional or args.models:
            raise ConfigError("zoo reproduce --list takes no other arguments")
        tables = list_tables()
        width = max((len(n) for n, _ in tables), default=0)
        for name, title in tables:
            print(f"{name:{width}s}  {title}")
        return 0
    if not positional or "=" in positional[0]:
        raise ConfigError("zoo reproduce needs a table NAME (zoo reproduce --list names them)")
    name = positional.pop(0)
    bad = [p for p in positional if "=" not in p]
    if bad:
        raise ConfigError(f"zoo reproduce: unexpected argument {bad[0]!r} (one NAME, then key=value overrides)")
    if args.models is not None and not models:
        raise ConfigError("--models needs at least one model name")
    result = reproduce(name, models=models or None, epochs_scale=args.epochs_scale, seconds=args.seconds,
                       out=args.out, overrides=positional + overrides, isolate=False if args.in_process else None)
    return 0 if result.ok else 1


def add_cli(subparsers: Any) -> None:
    """Register ``zoo reproduce`` (picked up by :mod:`zoo.cli`)."""
    p = subparsers.add_parser(
        "reproduce", help="run a paper's table (configs/reproduce/NAME.yaml) and put the zoo's figures beside it",
        description="Train every row of a paper table and write results.csv and results.md: the paper's "
                    "figure, the zoo's, the difference, epochs against the paper's, wall time, device.",
    )
    p.add_argument("args", nargs="*", metavar="NAME | key=value",
                   help="a table name (or a table YAML), then dotted overrides for every row (data.root=...)")
    p.add_argument("--list", action="store_true", help="name every table with its title")
    p.add_argument("--models", nargs="+", metavar="MODEL", help="only the rows of these models (or row labels)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs-scale", type=float, metavar="F",
                        help="train round(F * paper epochs) epochs per row, the schedule compressed alike")
    budget.add_argument("--seconds", type=float, metavar="S", help="wall-clock budget per row (and fold)")
    p.add_argument("--out", help="output folder (default: runs/reproduce/NAME)")
    p.add_argument("--in-process", action="store_true", help="train every row in this process")
    p.set_defaults(func=_cmd_reproduce)
    intermixed(p)
