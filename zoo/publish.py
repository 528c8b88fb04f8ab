"""Publishing weights (maintainers): a finished run's best weights into the package.

    python -m zoo.publish RUN_DIR TAG --config CONFIG --command "zoo train ..." --data-root ROOT

copies the run's ``best.safetensors`` to ``zoo/weights/<model>.<tag>.safetensors``,
evaluates it with ``zoo eval`` on ``ROOT`` and records the file, its sha256 and
the measured figure in ``zoo/weights/manifest.json`` (:mod:`zoo.manifest`).
It sits above the engine, whose evaluation it runs; nothing below imports it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import rundir
from .atomic import atomic_write, atomic_write_text
from .checkpoint import load_checkpoint, read_metadata, save_checkpoint
from .engine.evaluate import evaluate_checkpoint
from .manifest import MANIFEST, WEIGHTS_DIR, file_sha256

__all__ = ["publish", "PRIMARY_METRIC"]

# The figure a published entry reports, by task.
PRIMARY_METRIC = {"classification": "acc1", "lm": "bpc", "regression": "mse", "frames": "mse"}


def publish(
    run_dir: str | Path,
    tag: str,
    *,
    config: str,
    command: str,
    data_root: str,
    notes: str = "",
    metric: str | None = None,
    dtype: str = "float32",
) -> dict[str, Any]:
    """Copy a run's ``best.safetensors`` into ``zoo/weights/<model>.<tag>.safetensors``,
    evaluate it with ``zoo eval`` on ``data_root`` and record it in the manifest.

    ``dtype="float16"`` stores the weights in half precision (half the bytes of the
    package's weight budget); they load into the float32 model as before, and the
    recorded figure is measured on the stored weights, not the run's.
    """
    best = rundir.weights_file(run_dir)
    meta = read_metadata(best)
    name = f"{meta['model']}.{tag}"
    target = WEIGHTS_DIR / f"{name}.safetensors"
    if dtype == "float32":
        atomic_write(target, lambda p: shutil.copyfile(best, p))
    elif dtype == "float16":
        model = load_checkpoint(best)
        kept = {k: v for k, v in model.zoo_meta.items() if k not in ("format", "zoo_version", "sha256")}
        save_checkpoint(model.half(), target, **kept, dtype="float16")
    else:
        raise ValueError(f"dtype must be float32 or float16, got {dtype!r}")
    result = evaluate_checkpoint(str(target), overrides=[f"data.root={data_root}"], quiet=True,
                                 out=tempfile.mkdtemp(prefix="zoo-publish-"))
    metric = metric or PRIMARY_METRIC.get(meta.get("task", "classification"), "loss")
    summary = rundir.read_summary(best.parent)
    record = {
        "model": meta["model"],
        "tag": tag,
        "file": target.name,
        "sha256": file_sha256(target),
        "dataset": result["dataset"],
        "metric": metric,
        "value": result["metrics"][metric],
        "metrics": result["metrics"],
        "config": config,
        "command": command,
        "epochs": summary.get("epochs") or (meta.get("metrics") or {}).get("epoch"),
        "best_epoch": (meta.get("metrics") or {}).get("epoch"),
        "train_time_s": round(summary["wall_time_s"], 1) if "wall_time_s" in summary else None,
        "params": summary.get("params"),
        "device": summary.get("device"),
        "machine": _machine(summary),
        "dtype": dtype,
        "notes": notes,
    }
    records = [r for r in (json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else [])
               if f"{r['model']}.{r['tag']}" != name]
    records.append(record)
    records.sort(key=lambda r: (r["model"], r["tag"]))
    atomic_write_text(MANIFEST, json.dumps(records, indent=2) + "\n")
    for path in (target, MANIFEST):  # package data: readable by everyone (temp files are created 0600)
        path.chmod(0o644)
    return record


def _machine(summary: dict[str, Any]) -> str | None:
    """What trained the weights, in words, as the run recorded it: CPU, cores, torch threads."""
    threads = summary.get("threads")
    where = summary.get("machine")
    return f"{where}, {threads} torch thread{'s' if threads != 1 else ''}" if where and threads else where


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.publish", description="publish a run's best weights")
    p.add_argument("run_dir")
    p.add_argument("tag")
    p.add_argument("--config", required=True)
    p.add_argument("--command", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--notes", default="")
    p.add_argument("--metric")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32",
                   help="how the package stores the weights (float16: half the bytes, measured as stored)")
    args = p.parse_args(argv)
    record = publish(args.run_dir, args.tag, config=args.config, command=args.command, data_root=args.data_root,
                     notes=args.notes, metric=args.metric, dtype=args.dtype)
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
