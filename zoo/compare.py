"""``zoo compare``: several architectures, one dataset, one budget -> a table and plots.

Two ways to ask::

    zoo compare configs/compare/rnn_seq_mnist.yaml [key=value ...] [--models A B] [--epochs N | --seconds S] [--out DIR]
    zoo compare --data digits --models lenet5 resnet20 vgg11 [--epochs N | --seconds S] [--out DIR] [key=value ...]

The short form trains with Adam at lr 0.001 (:data:`SHORT_FORM_DEFAULTS`) and the
engine's other defaults (batch 128, no schedule, 10 epochs); change any of it with
overrides (``optim.lr=0.003 data.batch_size=32 sched.name=onecycle``). From Python::

    from zoo.compare import compare
    result = compare(data="digits", models=["lenet5", "resnet20"], epochs=1, out="runs/cmp")
    result = compare("configs/compare/cnn_mnist.yaml", overrides=["data.root=../shared/data"])
    print(result.table)            # the markdown table; result.rows are dicts, result.files the outputs

Every model goes through :class:`zoo.engine.trainer.Trainer`, so it adapts to the
dataset (channels, classes, small-image stem, vocabulary, ...) exactly as ``zoo
train`` adapts it. All models share the data section (same split, same seed, same
augmentation) and the same budget: ``epochs``, or wall-clock ``seconds`` per model
(``train.max_seconds``), or both (whichever ends first). They train one after
another, each in a fresh Python process on the CPU (the same starting point for
every model, a clean peak-memory figure, and a crash or an out-of-memory kill
takes down only that model), in this process on CUDA (``--in-process`` forces it).

The compare config
------------------
A YAML mapping; every key is optional except ``data`` and ``models``::

    name: rnn_seq_mnist           # default: the file's stem (short form: the dataset's name)
    out: runs/compare/rnn_seq_mnist   # default: runs/compare/<name>; relative to the working directory
    _base_: other.yaml            # inheritance, as in training configs
    data: {name: seq_mnist, batch_size: 128}   # the training config's data section, shared
    budget: {epochs: 5}           # and/or seconds: 300 (per model; sets train.epochs / train.max_seconds)
    seed: 0                       # train.seed; data order and augmentation follow it
    model: {hidden_size: 128}     # model kwargs given to every model
    optim: {name: adam, lr: 0.001}    # shared optim / sched / train / log sections,
    sched: {name: cosine}             # exactly as in a training config
    train: {grad_clip_norm: 1.0}
    log: {progress: lines}
    models:
      - rnn                       # a registered name: trained under its own name
      - gru
      - name: lstm_peep           # display name: the row, the plot label, the folder OUT/<name>
        model: lstm               # the registered architecture (default: name)
        kwargs: {peephole: true}  # this model's keyword arguments
      - name: lstm_nopeep
        model: lstm
        kwargs: {peephole: false}
        optim: {lr: 0.002}        # per-model optim / sched / train / data / log overrides

Per-model overrides may tune a model (learning rate, schedule, clipping, batch
size) but never change what makes the comparison fair: the dataset, its split,
the seeds, the augmentation, the budget, or the monitored metric (those keys are
refused with a one-line error). ``key=value`` overrides from the command line
(``data.root=../shared/data``, ``train.device=cpu``, ``model.hidden_size=64``) are
applied to every model, last.

Output directory
----------------
``OUT/<name>/`` is each model's run directory (``config.yaml``, ``metrics.csv``,
``best.safetensors``, ``last.ckpt``, ``summary.json``) plus ``result.json`` (the
row below) once the model is done. Beside them:

- ``results.csv`` and ``results.md``: one row per model: ``model`` (display name),
  ``arch``, ``status``, ``params``, ``flops`` (forward pass of one sample of this
  dataset), ``metric`` (the task's: acc1 for classification, loss for regression),
  ``best`` (best value on the per-epoch evaluation split, test unless
  ``data.val_split`` carves out validation) and ``best_epoch``, ``final`` (test
  metric of the final weights), ``epochs``, ``train_time_s`` (wall time of the run,
  per-epoch evaluation included), ``train_samples_per_s`` (training samples over
  time spent in training steps), ``latency_ms`` (eval-mode forward time of one
  sample, batch of 1, fastest of at least 3 runs), ``peak_mem_mb`` (CUDA: peak allocated tensor memory;
  CPU: peak resident memory of the model's own process, Python and torch included;
  empty with ``--in-process`` on the CPU), ``device``.
- ``curves.png`` (evaluation metric and training loss per epoch, all models),
  ``metric_vs_params.png``, ``metric_vs_flops.png``, ``train_time.png``.

The table is printed at the end.

Resuming: a model whose ``OUT/<name>/result.json`` holds the same resolved config
is skipped (its row is read back); one stopped mid-run (``last.ckpt`` without a
result) continues from its checkpoint; one whose config changed is trained again
from scratch. So re-running an interrupted compare finishes only what is missing.

Failures: a model that fails (does not fit the dataset, NaN loss, out of memory,
a bad keyword argument, a crash of its process) is reported in one line (the
traceback goes to ``OUT/<name>/error.log``), gets a ``failed`` row, and the others go on; the
command then exits 1. Config mistakes found before any training (unknown key,
unknown model, forbidden override) end with one line and exit 2, as elsewhere.
"""

from __future__ import annotations

import argparse
import copy
import csv
import gc
import io
import json
import math
import re
import shlex
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, ZooError, close_matches

__all__ = ["compare", "CompareResult", "ModelSpec", "CompareSpec", "load_compare_config", "add_cli",
           "RESULT_COLUMNS", "format_table", "count_flops"]

RESULT_COLUMNS = (
    "model", "arch", "status", "params", "flops", "metric", "best", "best_epoch", "final", "epochs",
    "train_time_s", "train_samples_per_s", "latency_ms", "peak_mem_mb", "device",
)

_TOP_KEYS = ("name", "out", "_base_", "data", "budget", "seed", "model", "optim", "sched", "train", "log", "models")
_ENTRY_KEYS = ("name", "model", "kwargs", "optim", "sched", "train", "data", "log")
_SHARED_SECTIONS = ("optim", "sched", "train", "log")
# What a per-model override may not touch: it would make the comparison unfair.
_FAIR_TRAIN = {"seed", "epochs", "max_seconds", "max_steps", "monitor", "mode", "deterministic"}
_MODEL_DATA_KEYS = {"batch_size", "eval_batch_size", "num_workers"}
# With a time budget and no epoch cap, epochs only bound the loop.
_EPOCHS_CAP = 100_000
# The short form's recipe: Adam suits CNNs and RNNs alike without per-model tuning
# (SGD at the engine's lr 0.1 leaves VGG without batch norm stuck at chance).
SHORT_FORM_DEFAULTS: dict[str, dict[str, Any]] = {"optim": {"name": "adam", "lr": 0.001}}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


# ---------------------------------------------------------------------------------
# What to compare
# ---------------------------------------------------------------------------------
@dataclass
class ModelSpec:
    """One contestant: a display name, a registered architecture, its arguments."""

    name: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # section -> keys


@dataclass
class CompareSpec:
    name: str
    data: dict[str, Any]
    models: list[ModelSpec]
    out: Path
    epochs: int | None = None
    seconds: float | None = None
    seed: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # shared optim/sched/train/log
    overrides: list[str] = field(default_factory=list)  # key=value, applied to every model last
    command: str = ""

    def model_config(self, spec: ModelSpec) -> dict[str, Any]:
        """The training config (plain dict) of one contestant."""
        from .engine.config import _merge, parse_overrides

        cfg: dict[str, Any] = {"data": copy.deepcopy(self.data)}
        for section in _SHARED_SECTIONS:
            cfg[section] = copy.deepcopy(self.sections.get(section, {}))
        train = cfg["train"]
        if self.seed is not None:
            train["seed"] = self.seed
        if self.epochs is not None or self.seconds is not None:
            train["epochs"] = self.epochs if self.epochs is not None else _EPOCHS_CAP
            train["max_seconds"] = self.seconds
        cfg = _merge(cfg, spec.overrides)
        cfg["model"] = {"name": spec.model, **copy.deepcopy(self.model_kwargs), **copy.deepcopy(spec.kwargs)}
        cfg["run"] = {"dir": str(self.out), "name": spec.name}
        if self.overrides:
            over = parse_overrides(self.overrides)
            if "model" in over:
                over["model"].pop("name", None)
            if "run" in over:
                raise ConfigError("run.* cannot be overridden in zoo compare (use --out)")
            cfg = _merge(cfg, over)
        return cfg


def _entry(item: Any, where: str) -> ModelSpec:
    if isinstance(item, str):
        return ModelSpec(name=item, model=item)
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a model name or a mapping with model/name/kwargs, got {item!r}")
    for key in item:
        if key not in _ENTRY_KEYS:
            matches = close_matches(str(key), _ENTRY_KEYS)
            hint = f"did you mean {matches[0]}?" if matches else f"accepted: {', '.join(_ENTRY_KEYS)}"
            raise ConfigError(f"unknown key {where}.{key} ({hint})")
    model = item.get("model", item.get("name"))
    if not isinstance(model, str) or not model:
        raise ConfigError(f"{where} needs model: a registered model name")
    name = item.get("name", model)
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name must be a string, got {name!r}")
    kwargs = item.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise ConfigError(f"{where}.kwargs must be a mapping of model arguments, got {kwargs!r}")
    overrides: dict[str, dict[str, Any]] = {}
    for section in ("optim", "sched", "train", "data", "log"):
        values = item.get(section)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{where}.{section} must be a mapping, got {values!r}")
        for key in values:
            if (section == "train" and key in _FAIR_TRAIN) or (section == "data" and key not in _MODEL_DATA_KEYS):
                raise ConfigError(
                    f"{where}.{section}.{key}: a per-model override may not change the data, split, seed, "
                    "augmentation, budget or monitored metric; set it for all models at the top level")
        overrides[section] = dict(values)
    return ModelSpec(name=name, model=model, kwargs=dict(kwargs), overrides=overrides)


def _check_models(models: list[ModelSpec]) -> None:
    from .registry import get_model_entry

    if not models:
        raise ConfigError("zoo compare needs at least one model")
    seen: set[str] = set()
    for spec in models:
        if not _NAME_RE.match(spec.name):
            raise ConfigError(f"model display name {spec.name!r} must be letters, digits and _.+- (it names a folder)")
        if spec.name in seen:
            raise ConfigError(f"model name {spec.name!r} appears twice; give one a display name (name: ...)")
        seen.add(spec.name)
        get_model_entry(spec.model)  # unknown name: one line with close matches


def _positive_budget(epochs: Any, seconds: Any, where: str) -> tuple[int | None, float | None]:
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise ConfigError(f"{where} epochs must be an integer >= 1, got {epochs!r}")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds) or seconds <= 0):
        raise ConfigError(f"{where} seconds must be a number > 0, got {seconds!r}")
    return epochs, (float(seconds) if seconds is not None else None)


def load_compare_config(path: str | Path) -> CompareSpec:
    """Read a compare YAML (see the module docstring) into a :class:`CompareSpec`."""
    from .engine.config import _load_with_bases

    path = Path(path)
    raw = _load_with_bases(path)
    for key in raw:
        if key not in _TOP_KEYS:
            matches = close_matches(str(key), _TOP_KEYS)
            hint = f"did you mean {matches[0]}?" if matches else f"keys: {', '.join(k for k in _TOP_KEYS if k != '_base_')}"
            raise ConfigError(f"{path}: unknown compare key {key!r} ({hint})")
    data = raw.get("data")
    if isinstance(data, str):
        data = {"name": data}
    if not isinstance(data, dict) or not data.get("name"):
        raise ConfigError(f"{path}: data must name a dataset (data: {{name: digits}})")
    models = raw.get("models")
    if not isinstance(models, list) or not models:
        raise ConfigError(f"{path}: models must be a non-empty list of model names or entries")
    budget = raw.get("budget") or {}
    if not isinstance(budget, dict) or any(k not in ("epochs", "seconds") for k in budget):
        raise ConfigError(f"{path}: budget must be a mapping with epochs and/or seconds, got {budget!r}")
    epochs, seconds = _positive_budget(budget.get("epochs"), budget.get("seconds"), f"{path}: budget")
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ConfigError(f"{path}: seed must be an integer, got {seed!r}")
    sections = {}
    for section in _SHARED_SECTIONS:
        values = raw.get(section) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: {section} must be a mapping, got {values!r}")
        sections[section] = values
    model_kwargs = raw.get("model") or {}
    if not isinstance(model_kwargs, dict) or "name" in model_kwargs:
        raise ConfigError(f"{path}: model holds keyword arguments shared by every model (no name); "
                          "list the models under models:")
    name = str(raw.get("name") or path.stem)
    out = Path(raw["out"]) if raw.get("out") else Path("runs") / "compare" / name
    return CompareSpec(
        name=name, data=dict(data), models=[_entry(m, f"models[{i}]") for i, m in enumerate(models)], out=out,
        epochs=epochs, seconds=seconds, seed=seed, model_kwargs=dict(model_kwargs), sections=sections,
    )


# ---------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------
def _one_sample(batch: tuple, n: int) -> list[Any]:
    """The model inputs of the first sample of a batch whose target has ``n`` rows."""
    import torch

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
    from .summary import summary

    try:
        return int(summary(model, input_data=list(inputs), device=device).flops)
    except Exception:  # FLOPs are a nicety: an untraceable op leaves the cell empty
        return None


def _measure_model(model: Any, loader: Any, device: Any) -> dict[str, Any]:
    """FLOPs (one sample of this dataset) and eval-mode latency per sample at batch 1."""
    import torch

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


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            rows.append({k: _number(v) for k, v in row.items()})
    return rows


def _number(text: Any) -> Any:
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in str(text) and "e" not in str(text).lower() else value


def _row_from_run(spec: ModelSpec, run_dir: Path, summary: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    metric = summary.get("monitor") or "loss"
    rows = _read_metrics(run_dir / "metrics.csv")
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


# ---------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------
@dataclass
class CompareResult:
    out: Path
    rows: list[dict[str, Any]]
    files: dict[str, Path]
    table: str

    @property
    def failed(self) -> list[str]:
        return [r["model"] for r in self.rows if r["status"] != "ok"]

    @property
    def ok(self) -> bool:
        return not self.failed


def _say(msg: str, *, err: bool = False) -> None:
    print(msg, file=sys.stderr if err else sys.stdout, flush=True)


def _same_config(saved: dict[str, Any], current: dict[str, Any]) -> bool:
    from .engine.trainer import config_differences

    return not config_differences(saved, current)


class _ModelFailed(Exception):
    """A contestant failed; the message is one line."""


class _Interrupted(ZooError):
    exit_code = 130


def _train_and_measure(spec: ModelSpec, cfg: Any, run_dir: Path, resume: bool, clean_memory: bool) -> dict[str, Any]:
    """Train one contestant (or continue its run), measure it, write ``result.json``.

    Runs in the model's own process (``isolate``) or in the caller's.
    """
    import torch

    from .checkpoint import atomic_write_text
    from .engine.trainer import Trainer

    device = _device_of(cfg)
    if device is not None and device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        clean_memory = True
    trainer = Trainer(cfg, resume=run_dir if resume else None, run_dir=None if resume else run_dir)
    summary = trainer.fit()
    extra = _measure_model(trainer.model, trainer.data.test, trainer.device)
    # A process of its own, or CUDA's resettable counter, measure this model alone;
    # a shared CPU process only knows its own lifetime peak, which says nothing here.
    extra["peak_mem_mb"] = summary.get("peak_memory_mb") if clean_memory else None
    row = _row_from_run(spec, run_dir, summary, extra)
    record = {"row": row, "config": cfg.to_dict()}
    atomic_write_text(run_dir / "result.json", json.dumps(record, indent=2, default=str) + "\n")
    return row


def _device_of(cfg: Any) -> Any:
    from .engine.runtime import resolve_device

    try:
        return resolve_device(cfg.train.device)
    except Exception:
        return None


_RUN_FILES = ("config.yaml", "metrics.csv", "last.ckpt", "best.safetensors", "summary.json", "result.json",
              "error.log", "error.json", "job.json")


def _clear_run_dir(run_dir: Path) -> None:
    """Empty a previous run of this model (only the files a run writes)."""
    for name in _RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for snap in run_dir.glob("ckpt-e*-s*.ckpt"):
        snap.unlink(missing_ok=True)
    if (run_dir / "tensorboard").is_dir():
        shutil.rmtree(run_dir / "tensorboard", ignore_errors=True)


def _can_resume(run_dir: Path, cfg: Any) -> bool:
    """A stopped run of the same config: last.ckpt there, no summary yet."""
    from .checkpoint import load_state

    if not (run_dir / "last.ckpt").exists() or (run_dir / "summary.json").exists():
        return False
    try:
        saved = load_state(run_dir / "last.ckpt").get("config")
    except ZooError:  # corrupt or foreign: start again
        return False
    return saved is not None and _same_config(saved, cfg.to_dict())


def _run_model(spec: ModelSpec, cfg: Any, run_dir: Path, isolate: bool) -> dict[str, Any]:
    resume = _can_resume(run_dir, cfg)
    if resume:
        _say(f"  resuming {spec.name} from {run_dir / 'last.ckpt'}")
    elif run_dir.exists():
        _clear_run_dir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("error.log", "error.json", "result.json"):
        (run_dir / name).unlink(missing_ok=True)
    if not isolate:
        try:
            return _train_and_measure(spec, cfg, run_dir, resume, clean_memory=False)
        except (KeyboardInterrupt, _Interrupted):
            raise
        except Exception as exc:
            from .engine.trainer import Interrupted

            if isinstance(exc, Interrupted):
                raise
            _write_error(run_dir, exc)
            raise _ModelFailed(_one_line(exc)) from None
        finally:
            _free_memory()
    return _run_worker(spec, cfg, run_dir, resume)


def _run_worker(spec: ModelSpec, cfg: Any, run_dir: Path, resume: bool) -> dict[str, Any]:
    """Train in a fresh Python process: same starting point for every model, its own
    peak memory, and a crash or an out-of-memory kill takes only this model down."""
    import signal
    import subprocess

    job = run_dir / "job.json"
    job.write_text(json.dumps({"name": spec.name, "model": spec.model, "config": cfg.to_dict(),
                               "run_dir": str(run_dir), "resume": resume}, indent=2, default=str))
    proc = subprocess.Popen([sys.executable, "-m", "zoo.compare", "--worker", str(job)])
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # the worker got the Ctrl-C too: let it write last.ckpt
        code = proc.wait()
    result = run_dir / "result.json"
    if code == 0 and result.exists():
        job.unlink(missing_ok=True)
        return json.loads(result.read_text())["row"]
    if code == 130 or code == -signal.SIGINT:
        raise _Interrupted(f"interrupted during {spec.name}; run the same command again to resume")
    error = run_dir / "error.json"
    if error.exists():
        raise _ModelFailed(json.loads(error.read_text())["message"])
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        raise _ModelFailed(f"its process was killed by {name}{hint}")
    raise _ModelFailed(f"its process exited with code {code}")


def _write_error(run_dir: Path, exc: BaseException) -> None:
    try:
        (run_dir / "error.log").write_text("".join(traceback.format_exception(exc)))
        (run_dir / "error.json").write_text(json.dumps({"message": _one_line(exc)}))
    except OSError:
        pass


def _worker_main(argv: list[str]) -> int:
    """``python -m zoo.compare --worker JOB.json``: one contestant, in this process."""
    from .engine.config import config_from_dict
    from .engine.trainer import Interrupted

    job = json.loads(Path(argv[-1]).read_text())
    run_dir = Path(job["run_dir"])
    spec = ModelSpec(name=job["name"], model=job["model"])
    try:
        cfg = config_from_dict(job["config"])
        _train_and_measure(spec, cfg, run_dir, bool(job["resume"]), clean_memory=True)
        return 0
    except (Interrupted, KeyboardInterrupt):
        return 130
    except Exception as exc:
        _write_error(run_dir, exc)
        return 1


def _failed_row(spec: ModelSpec, message: str) -> dict[str, Any]:
    row = {k: None for k in RESULT_COLUMNS}
    row.update(model=spec.name, arch=spec.model, status=f"failed: {message}")
    return row


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_compare(spec: CompareSpec, *, verbose: bool = True, isolate: bool | None = None) -> CompareResult:
    """Train every model of ``spec`` in turn and write the results (see module docstring).

    ``isolate``: train each model in a fresh process (default on CPU: clean peak
    memory, crash isolation); ``False`` trains in this process (the default on
    CUDA, where peak memory is measured per model anyway).
    """
    from .engine.config import config_from_dict

    _check_models(spec.models)
    # Validate every model's config before anything trains: a typo costs nothing.
    configs = {m.name: config_from_dict(spec.model_config(m)) for m in spec.models}
    spec.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    n = len(spec.models)
    for i, model in enumerate(spec.models, 1):
        cfg = configs[model.name]
        run_dir = spec.out / model.name
        done = run_dir / "result.json"
        if done.exists():
            try:
                record = json.loads(done.read_text())
            except (OSError, ValueError):
                record = {}
            if record.get("row") and _same_config(record.get("config") or {}, cfg.to_dict()):
                _say(f"[{i}/{n}] {model.name}: done earlier, skipped ({done})")
                rows.append(record["row"])
                continue
            _say(f"[{i}/{n}] {model.name}: config changed since the last run, training again")
        _say(f"[{i}/{n}] {model.name}" + (f" ({model.model})" if model.model != model.name else "")
             + f" on {cfg.data.name}")
        iso = isolate
        if iso is None:
            device = _device_of(cfg)
            iso = device is None or device.type != "cuda"
        try:
            rows.append(_run_model(model, cfg, run_dir, iso))
        except _ModelFailed as exc:  # report, keep going
            where = f" (traceback: {run_dir / 'error.log'})" if (run_dir / "error.log").exists() else ""
            _say(f"zoo compare: {model.name} failed: {exc}{where}", err=True)
            rows.append(_failed_row(model, str(exc)))
    files = write_results(rows, spec)
    table = format_table(rows)
    if verbose:
        _say("")
        _say(table)
        _say(f"\nresults: {files['csv']}, {files['md']}; plots: "
             + ", ".join(str(p) for k, p in files.items() if k not in ("csv", "md")))
    return CompareResult(out=spec.out, rows=rows, files=files, table=table)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, ZooError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


# ---------------------------------------------------------------------------------
# Writing: CSV, markdown, plots
# ---------------------------------------------------------------------------------
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
    from .checkpoint import atomic_write_text

    out = spec.out
    files = {"csv": out / "results.csv", "md": out / "results.md"}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(RESULT_COLUMNS), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in RESULT_COLUMNS})
    atomic_write_text(files["csv"], buf.getvalue())
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
    from .checkpoint import atomic_write

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
        hist = _read_metrics(out / r["model"] / "metrics.csv")
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


# ---------------------------------------------------------------------------------
# The Python API and the command line
# ---------------------------------------------------------------------------------
def compare(
    config: str | Path | None = None,
    *,
    data: str | None = None,
    models: Sequence[str] | None = None,
    epochs: int | None = None,
    seconds: float | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    verbose: bool = True,
    isolate: bool | None = None,
) -> CompareResult:
    """Compare models on one dataset; see the module docstring.

    Args:
        config: a compare YAML; or leave it out and give ``data`` and ``models``.
        data: the dataset name (short form; with a config it replaces data.name).
        models: registered names (short form); with a config, the display names of
            the entries to run (default: all).
        epochs, seconds: the budget per model (replace the config's budget).
        out: output folder (default: the config's ``out`` or ``runs/compare/<name>``).
        overrides: ``key=value`` dotted overrides applied to every model.
        verbose: print the table at the end (training always prints its progress).
        isolate: train each model in a fresh process (default: yes, unless on CUDA).
    """
    epochs, seconds = _positive_budget(epochs, seconds, "budget:")
    overrides = list(overrides)
    if config is not None:
        spec = load_compare_config(config)
        if data is not None:
            spec.data["name"] = data
        if models:
            by_name = {m.name: m for m in spec.models}
            missing = [m for m in models if m not in by_name]
            if missing:
                raise ConfigError(f"--models: {', '.join(missing)} not in {config} (its models: {', '.join(by_name)})")
            spec.models = [by_name[m] for m in models]
    else:
        if not data or not models:
            raise ConfigError("zoo compare needs a CONFIG.yaml, or --data NAME and --models M1 M2 ...")
        spec = CompareSpec(name=str(data), data={"name": str(data)}, models=[ModelSpec(m, m) for m in models],
                           out=Path("runs") / "compare" / str(data), sections=copy.deepcopy(SHORT_FORM_DEFAULTS))
    if epochs is not None or seconds is not None:
        spec.epochs, spec.seconds = epochs, seconds
    if out is not None:
        spec.out = Path(out)
    spec.overrides = overrides
    spec.command = _command_line(config, data, models, epochs, seconds, out, overrides)
    return run_compare(spec, verbose=verbose, isolate=isolate)


def _command_line(config: Any, data: Any, models: Any, epochs: Any, seconds: Any, out: Any,
                  overrides: Sequence[str]) -> str:
    parts = ["zoo", "compare"]
    if config is not None:
        parts.append(str(config))
    if data is not None:
        parts += ["--data", str(data)]
    if models:
        parts += ["--models", *map(str, models)]
    if epochs is not None:
        parts += ["--epochs", str(epochs)]
    if seconds is not None:
        parts += ["--seconds", f"{seconds:g}"]
    if out is not None:
        parts += ["--out", str(out)]
    parts += list(overrides)
    return shlex.join(parts)


def _cmd_compare(args: argparse.Namespace) -> int:
    positional = list(args.args)
    models = list(args.models or [])
    # `--models a b key=value` swallows the overrides that follow; hand them back.
    overrides = [m for m in models if "=" in m]
    models = [m for m in models if "=" not in m]
    config = None
    if positional and "=" not in positional[0]:
        config = positional.pop(0)
    bad = [p for p in positional if "=" not in p]
    if bad:
        raise ConfigError(f"zoo compare: unexpected argument {bad[0]!r} (one CONFIG.yaml, then key=value overrides)")
    overrides = positional + overrides
    if args.models is not None and not models:
        raise ConfigError("--models needs at least one model name")
    result = compare(config, data=args.data, models=models or None, epochs=args.epochs, seconds=args.seconds,
                     out=args.out, overrides=overrides, isolate=False if args.in_process else None)
    return 0 if result.ok else 1


def add_cli(subparsers: Any) -> None:
    """Register ``zoo compare`` (picked up by :mod:`zoo.cli`)."""
    p = subparsers.add_parser(
        "compare", help="train several models on one dataset with one budget; table and plots",
        description="Train several models on one dataset with the same split, seed and budget, one after "
                    "another; write results.csv, results.md and PNG plots. Either a compare config "
                    "(configs/compare/*.yaml) or --data NAME --models M1 M2 ...",
    )
    p.add_argument("args", nargs="*", metavar="CONFIG.yaml | key=value",
                   help="a compare config, then dotted overrides applied to every model (data.root=..., train.device=cpu)")
    p.add_argument("--data", help="dataset name (short form)")
    p.add_argument("--models", nargs="+", metavar="MODEL",
                   help="models to compare (short form); with a config: the entries to run")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, help="epochs per model")
    budget.add_argument("--seconds", type=float, help="wall-clock training budget per model (train.max_seconds)")
    p.add_argument("--out", help="output folder (default: runs/compare/<name>)")
    p.add_argument("--in-process", action="store_true",
                   help="train every model in this process instead of one fresh process each "
                        "(faster start; no CPU peak-memory figure)")
    p.set_defaults(func=_cmd_compare)
    _intermixed(p)


def _intermixed(parser: argparse.ArgumentParser) -> None:
    """Let ``key=value`` overrides follow options (``--out DIR data.root=...``): argparse
    only fills a positional once, so parse this subcommand with parse_known_intermixed_args."""
    base = type(parser)

    class _Intermixed(base):  # type: ignore[misc, valid-type]
        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            if getattr(self, "_zoo_inside", False):
                return base.parse_known_args(self, args, namespace)
            self._zoo_inside = True
            try:
                return self.parse_known_intermixed_args(args, namespace)
            finally:
                self._zoo_inside = False

    _Intermixed.__name__ = base.__name__
    parser.__class__ = _Intermixed


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        from zoo.compare import _worker_main as _main

        sys.exit(_main(sys.argv[1:]))
    from zoo.cli import main as _cli

    sys.exit(_cli(["compare", *sys.argv[1:]]))
