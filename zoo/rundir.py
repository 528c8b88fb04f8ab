"""The run directory: its layout, its files, resuming and clearing, in one place.

A training run writes::

    runs/<name>/<timestamp>/
        config.yaml        the resolved config
        metrics.csv        one row per epoch
        last.ckpt          full training state, rewritten every epoch (and every
                           train.ckpt_every_steps steps)
        ckpt-e*-s*.ckpt    numbered copies of last.ckpt (train.keep_last)
        best.safetensors   weights + metadata of the best epoch
        summary.json       final and best metrics, time, device, versions
        tensorboard/       with log.tensorboard

Every file is written atomically (:mod:`zoo.atomic`), so a run killed at any
instant keeps its last complete files and resumes from ``last.ckpt``. What such
a kill can leave is a temporary file beside them (``.last.ckpt.<random>.tmp``);
:func:`clean_leftovers` removes those, and only those, when a run is resumed or
evaluated. The trainer (:mod:`zoo.engine.trainer`), ``zoo eval`` and ``zoo
compare`` reach these files through the names here.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .atomic import atomic_write, atomic_write_text, leftover_temps
from .errors import CheckpointError

__all__ = [
    "CONFIG", "METRICS", "LAST", "BEST", "SUMMARY", "TENSORBOARD", "SNAPSHOTS", "RUN_FILES", "STALE_AFTER_S",
    "new_run_dir", "weights_file", "run_dir_of", "is_stopped", "resume_file",
    "write_config", "write_metrics", "read_metrics", "write_summary", "read_summary", "write_last",
    "clean_leftovers", "clear",
]

CONFIG = "config.yaml"
METRICS = "metrics.csv"
LAST = "last.ckpt"
BEST = "best.safetensors"
SUMMARY = "summary.json"
TENSORBOARD = "tensorboard"
SNAPSHOTS = "ckpt-e*-s*.ckpt"
RUN_FILES = (CONFIG, METRICS, LAST, BEST, SUMMARY)
# A run still training may be writing a temporary file right now; when we are
# not that run (``zoo eval``), only one left untouched this long is a leftover.
STALE_AFTER_S = 600.0


# ---------------------------------------------------------------------------------
# Where
# ---------------------------------------------------------------------------------
def new_run_dir(root: str | Path, name: str) -> Path:
    """``root/name/<timestamp>`` (``-2``, ``-3``, ... when taken); not created yet."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / name
    path = base / stamp
    n = 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return path


def weights_file(path: str | Path) -> Path:
    """A run directory's ``best.safetensors``; any other path as it is."""
    path = Path(path)
    return path / BEST if path.is_dir() else path


def run_dir_of(path: str | Path) -> Path | None:
    """The run directory ``path`` is, or holds a file of; ``None`` outside one."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    return folder if (folder / CONFIG).is_file() else None


def is_stopped(run_dir: str | Path) -> bool:
    """A run that stopped before its end: ``last.ckpt`` without ``summary.json``."""
    run_dir = Path(run_dir)
    return (run_dir / LAST).is_file() and not (run_dir / SUMMARY).exists()


def resume_file(ref: str | Path) -> Path:
    """The training state ``--resume ref`` continues from: a run directory's
    ``last.ckpt``, or the ``.ckpt`` file named."""
    path = Path(ref)
    if path.is_dir():
        path = path / LAST
    if not path.exists():
        raise CheckpointError(f"--resume: nothing to resume at {ref} (no such file or run directory with {LAST})")
    return path


# ---------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------
def write_config(run_dir: Path, text: str) -> None:
    atomic_write_text(run_dir / CONFIG, text)


def write_metrics(run_dir: Path, rows: Sequence[dict[str, Any]]) -> None:
    """``metrics.csv``: one row per epoch, the columns in order of first appearance."""
    if not rows:
        return
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k, "")) for k in columns})
    atomic_write_text(run_dir / METRICS, buf.getvalue())


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)  # round-trips exactly, so runs can be compared bit for bit
    return value


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.csv`` with numbers parsed; ``[]`` when there is none."""
    path = Path(run_dir) / METRICS
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(text: Any) -> Any:
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return int(value) if value.is_integer() and "." not in str(text) and "e" not in str(text).lower() else value


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(run_dir / SUMMARY, json.dumps(summary, indent=2) + "\n")


def read_summary(run_dir: Path) -> dict[str, Any]:
    """``summary.json``, or ``{}`` for a run without one."""
    path = Path(run_dir) / SUMMARY
    return json.loads(path.read_text()) if path.is_file() else {}


def write_last(run_dir: Path, write: Callable[[Path], None], *, keep: int = 0, epoch: int = 0, step: int = 0) -> None:
    """Write ``last.ckpt`` with ``write(tmp_path)``; with ``keep``, also a numbered copy
    ``ckpt-e<epoch>-s<step>.ckpt``, keeping the newest ``keep`` of them."""
    last = run_dir / LAST
    atomic_write(last, write)
    if keep:
        snap = run_dir / f"ckpt-e{epoch:04d}-s{step:08d}.ckpt"
        atomic_write(snap, lambda p: p.write_bytes(last.read_bytes()))
        for old in sorted(run_dir.glob(SNAPSHOTS))[:-keep]:
            old.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------
# Cleaning
# ---------------------------------------------------------------------------------
def clean_leftovers(run_dir: str | Path, *, older_than: float = 0.0, extra: Iterable[str] = ()) -> list[Path]:
    """Remove the temporary files a run killed mid-write left beside its files
    (``.last.ckpt.<random>.tmp``, ``.summary.json.<random>.tmp``, ...) and return them.

    Only temporary files of the run's own files (and of ``extra`` names) go; with
    ``older_than``, only those not modified for that many seconds.
    """
    now = time.time()
    removed = []
    for tmp in leftover_temps(run_dir, (*RUN_FILES, SNAPSHOTS, *extra)):
        try:
            if older_than and now - tmp.stat().st_mtime < older_than:
                continue
            tmp.unlink()
        except FileNotFoundError:  # its writer renamed it meanwhile
            continue
        removed.append(tmp)
    return removed


def clear(run_dir: str | Path, *, extra: Iterable[str] = ()) -> None:
    """Empty a run directory of what a run writes (and of ``extra`` files), so that
    a new run can start there; anything else in it stays."""
    run_dir = Path(run_dir)
    extra = tuple(extra)
    clean_leftovers(run_dir, extra=extra)
    for name in (*RUN_FILES, *extra):
        (run_dir / name).unlink(missing_ok=True)
    for snap in run_dir.glob(SNAPSHOTS):
        snap.unlink(missing_ok=True)
    if (run_dir / TENSORBOARD).is_dir():
        shutil.rmtree(run_dir / TENSORBOARD, ignore_errors=True)
