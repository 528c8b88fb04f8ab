"""Running a comparison: every contestant trained in turn (each in a fresh process
on the CPU), measured, and its row kept; a finished one is skipped on a re-run and
a stopped one continues from its checkpoint."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import rundir
from ..atomic import atomic_write_text
from ..checkpoint import load_state
from ..engine.config import Config, config_from_dict
from ..engine.runtime import resolve_device
from ..engine.trainer import Interrupted, Trainer, config_differences
from ..errors import ZooError, error_line
from .measure import failed_row, measure_model, row_from_run
from .report import format_table, write_results
from .spec import CompareSpec, ModelSpec, check_models, make_spec

__all__ = ["compare", "run_compare", "CompareResult", "ModelFailed", "worker_main", "WORKER_MODULE", "COMPARE_FILES"]

# What zoo compare keeps in each model's run directory beside the run's own files.
COMPARE_FILES = ("result.json", "error.log", "error.json", "job.json")
# ``python -m zoo.compare.worker JOB.json`` trains one contestant in a fresh process.
WORKER_MODULE = "zoo.compare.worker"


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


class ModelFailed(Exception):
    """A contestant failed; the message is one line."""


class CompareInterrupted(ZooError):
    exit_code = 130


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
    """Compare models on one dataset; see :mod:`zoo.compare`.

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
    spec = make_spec(config, data=data, models=models, epochs=epochs, seconds=seconds, out=out,
                     overrides=overrides)
    return run_compare(spec, verbose=verbose, isolate=isolate)


def run_compare(spec: CompareSpec, *, verbose: bool = True, isolate: bool | None = None) -> CompareResult:
    """Train every model of ``spec`` in turn and write the results (see :mod:`zoo.compare`).

    ``isolate``: train each model in a fresh process (default on CPU: clean peak
    memory, crash isolation); ``False`` trains in this process (the default on
    CUDA, where peak memory is measured per model anyway).
    """
    check_models(spec.models)
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
        except ModelFailed as exc:  # report, keep going
            where = f" (traceback: {run_dir / 'error.log'})" if (run_dir / "error.log").exists() else ""
            _say(f"zoo compare: {model.name} failed: {exc}{where}", err=True)
            rows.append(failed_row(model, str(exc)))
    files = write_results(rows, spec)
    table = format_table(rows)
    if verbose:
        _say("")
        _say(table)
        _say(f"\nresults: {files['csv']}, {files['md']}; plots: "
             + ", ".join(str(p) for k, p in files.items() if k not in ("csv", "md")))
    return CompareResult(out=spec.out, rows=rows, files=files, table=table)


def _say(msg: str, *, err: bool = False) -> None:
    print(msg, file=sys.stderr if err else sys.stdout, flush=True)


def _same_config(saved: dict[str, Any], current: dict[str, Any]) -> bool:
    return not config_differences(saved, current)


def _device_of(cfg: Config) -> torch.device | None:
    try:
        return resolve_device(cfg.train.device)
    except Exception:
        return None


def _can_resume(run_dir: Path, cfg: Config) -> bool:
    """A stopped run of the same config: last.ckpt there, no summary yet."""
    if not rundir.is_stopped(run_dir):
        return False
    try:
        saved = load_state(run_dir / rundir.LAST).get("config")
    except ZooError:  # corrupt or foreign: start again
        return False
    return saved is not None and _same_config(saved, cfg.to_dict())


def _run_model(spec: ModelSpec, cfg: Config, run_dir: Path, isolate: bool) -> dict[str, Any]:
    resume = _can_resume(run_dir, cfg)
    if resume:
        _say(f"  resuming {spec.name} from {run_dir / rundir.LAST}")
    elif run_dir.exists():
        rundir.clear(run_dir, extra=COMPARE_FILES)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in ("error.log", "error.json", "result.json"):
        (run_dir / name).unlink(missing_ok=True)
    if not isolate:
        try:
            return train_and_measure(spec, cfg, run_dir, resume, clean_memory=False)
        except (KeyboardInterrupt, CompareInterrupted, Interrupted):
            raise
        except Exception as exc:
            _write_error(run_dir, exc)
            raise ModelFailed(error_line(exc)) from None
        finally:
            _free_memory()
    return _run_worker(spec, cfg, run_dir, resume)


def train_and_measure(spec: ModelSpec, cfg: Config, run_dir: Path, resume: bool, clean_memory: bool) -> dict[str, Any]:
    """Train one contestant (or continue its run), measure it, write ``result.json``.

    Runs in the model's own process (``isolate``) or in the caller's.
    """
    device = _device_of(cfg)
    if device is not None and device.type == "cuda":
        torch.cuda.init()  # the allocator's counters exist only once CUDA is up ("Invalid device argument")
        torch.cuda.reset_peak_memory_stats(device)
        clean_memory = True
    trainer = Trainer(cfg, resume=run_dir if resume else None, run_dir=None if resume else run_dir)
    summary = trainer.fit()
    extra = measure_model(trainer.model, trainer.data.test, trainer.device)
    # A process of its own, or CUDA's resettable counter, measure this model alone;
    # a shared CPU process only knows its own lifetime peak, which says nothing here.
    extra["peak_mem_mb"] = summary.get("peak_memory_mb") if clean_memory else None
    row = row_from_run(spec, run_dir, summary, extra)
    record = {"row": row, "config": cfg.to_dict()}
    atomic_write_text(run_dir / "result.json", json.dumps(record, indent=2, default=str) + "\n")
    return row


def _run_worker(spec: ModelSpec, cfg: Config, run_dir: Path, resume: bool) -> dict[str, Any]:
    """Train in a fresh Python process: same starting point for every model, its own
    peak memory, and a crash or an out-of-memory kill takes only this model down."""
    job = run_dir / "job.json"
    job.write_text(json.dumps({"name": spec.name, "model": spec.model, "config": cfg.to_dict(),
                               "run_dir": str(run_dir), "resume": resume}, indent=2, default=str))
    proc = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, str(job)])
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # the worker got the Ctrl-C too: let it write last.ckpt
        code = proc.wait()
    result = run_dir / "result.json"
    if code == 0 and result.exists():
        job.unlink(missing_ok=True)
        return json.loads(result.read_text())["row"]
    if code == 130 or code == -signal.SIGINT:
        raise CompareInterrupted(f"interrupted during {spec.name}; run the same command again to resume")
    error = run_dir / "error.json"
    if error.exists():
        raise ModelFailed(json.loads(error.read_text())["message"])
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (out of memory?)" if -code == signal.SIGKILL else ""
        raise ModelFailed(f"its process was killed by {name}{hint}")
    raise ModelFailed(f"its process exited with code {code}")


def worker_main(argv: list[str]) -> int:
    """One contestant, in this process, from the job file ``argv[-1]`` that
    :func:`run_compare` wrote; exit code 0, 1 (failed: error.json) or 130."""
    job = json.loads(Path(argv[-1]).read_text())
    run_dir = Path(job["run_dir"])
    spec = ModelSpec(name=job["name"], model=job["model"])
    try:
        cfg = config_from_dict(job["config"])
        train_and_measure(spec, cfg, run_dir, bool(job["resume"]), clean_memory=True)
        return 0
    except (Interrupted, KeyboardInterrupt):
        return 130
    except Exception as exc:
        _write_error(run_dir, exc)
        return 1


def _write_error(run_dir: Path, exc: BaseException) -> None:
    try:
        (run_dir / "error.log").write_text("".join(traceback.format_exception(exc)))
        (run_dir / "error.json").write_text(json.dumps({"message": error_line(exc)}))
    except OSError:
        pass


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


