"""Time to accuracy of a training recipe: test accuracy after each epoch against the
cumulative wall time, and the knobs that change the time per step.

Three things, each on an otherwise quiet machine (the figures mean nothing beside
other torch processes):

1. the recipe as a user runs it: ``zoo train CONFIG`` in a fresh process, its
   output timestamped; each epoch's test accuracy (metrics.csv), the epoch's own
   training time and the cumulative wall time since the process started (imports,
   data loading and the per-epoch evaluation included: what the user waits for)::

       python benchmarks/time_to_accuracy.py configs/published/lenet5_mnist.yaml --root ../shared/data --target 0.993

2. ``--bare`` (classification recipes on in-memory data, e.g. LeNet-5/MNIST): the same
   recipe (model, optimizer, one-cycle/cosine schedule, label smoothing, batch, epochs,
   seed) as a hand-written loop over normalized tensors, timed the same way, with its
   test accuracy after each epoch (evaluation outside the timed part);

3. ``--variants`` : seconds per training step of the recipe under each set of
   overrides (``train.channels_last=true``, ``train.compile=true``, ``train.threads=1``,
   ``data.batch_size=256`` ...), ``--steps`` steps each after ``--warmup`` steps, so
   that a knob is measured before a long run pays for it::

       python benchmarks/time_to_accuracy.py configs/published/resnet20_cifar10.yaml --root ../shared/data \\
           --variants "" "train.channels_last=true" "train.compile=true" --steps 30

Extra ``key=value`` arguments are overrides for every run (``train.epochs=8``).
Runs go under ``--out`` (default: a temporary folder, removed afterwards).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's zoo, as the zoo train processes get through PYTHONPATH


def run_recipe(config: str, overrides: list[str], out: Path, target: float | None) -> list[dict[str, Any]]:
    """Train the recipe in a fresh process; one row per epoch."""
    run_dir = out / "recipe"
    cmd = [sys.executable, "-m", "zoo.cli", "train", config, *overrides, f"run.dir={out}", "run.name=recipe",
           "log.progress=lines", "train.eval_every=1"]
    print("$ " + shlex.join(cmd[2:]), flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    stamps: list[float] = []
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            now = time.perf_counter() - start
            if line.startswith("epoch ") and " step " not in line:
                stamps.append(now)
            print(f"[{now:7.1f} s] {line}", end="", flush=True)
        code = proc.wait()
    total = time.perf_counter() - start
    if code != 0:
        sys.exit(f"zoo train exited with {code}")
    metrics = sorted(run_dir.glob("*/metrics.csv")) or sorted(run_dir.glob("metrics.csv"))
    if not metrics:
        sys.exit(f"no metrics.csv under {run_dir}")
    with metrics[-1].open(newline="") as f:
        rows = list(csv.DictReader(f))
    out_rows, train_sum = [], 0.0
    for row, wall in zip(rows, stamps):
        train_sum += float(row["time"])
        acc = row.get("test_acc1") or row.get("val_acc1")
        out_rows.append({"epoch": int(row["epoch"]), "acc1": float(acc) if acc else math.nan,
                         "epoch_s": float(row["time"]), "train_s": train_sum, "wall_s": wall})
    report("zoo train (fresh process)", out_rows, target, f"process wall time {total:.1f} s (to its exit)")
    return out_rows


def bare_loop(config: str, overrides: list[str], target: float | None) -> list[dict[str, Any]]:
    """The recipe as a plain PyTorch loop over in-memory tensors."""
    start = time.perf_counter()  # before the imports: torch's import is part of the wait, as for zoo train
    import torch
    import torch.nn.functional as F

    import zoo
    from zoo.data import build_dataset
    from zoo.engine.config import load_config
    from zoo.engine.optim import build_optimizer, build_scheduler
    from zoo.engine.runtime import choose_threads
    from zoo.engine.trainer import resolve_model_kwargs

    cfg = load_config(ROOT / config if not Path(config).is_absolute() else config, overrides)
    choose_threads(cfg.train.threads)  # as the trainer does (train.threads: auto)
    torch.manual_seed(cfg.train.seed)
    bundle = build_dataset(cfg.data, torch.device("cpu"))

    def tensors(loader: Any) -> tuple[Any, Any]:
        xs, ys = zip(*[(b[0], b[-1]) for b in loader])
        return torch.cat(xs), torch.cat(ys)

    # The training images stay as stored (uint8) and each batch goes through the recipe's
    # batched transform (random shifts if the recipe has them, then normalization), as in
    # the trainer; one pass of the test loader gives normalized test tensors.
    x_train, y_train = bundle.train.tensors[0], bundle.train.tensors[-1]
    train_tf = bundle.train.transform
    gen = torch.Generator().manual_seed(cfg.train.seed)
    x_test, y_test = tensors(bundle.test)
    model = zoo.create_model(cfg.model.name, **resolve_model_kwargs(cfg.model.name, cfg.model.kwargs, bundle.info))
    # The recipe's memory format, as the trainer applies it: the model once, each batch as it comes.
    fmt = torch.channels_last if cfg.train.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = build_optimizer(model, cfg.optim)
    bs = cfg.data.batch_size
    steps = math.ceil(len(x_train) / bs)
    sched = build_scheduler(opt, cfg.sched, base_lr=cfg.optim.lr, steps_per_epoch=steps,
                            total_steps=steps * cfg.train.epochs)
    setup = time.perf_counter() - start
    rows, train_sum = [], 0.0
    for epoch in range(1, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        params = train_tf.draw(len(x_train), gen)
        for i in range(steps):
            idx = perm[i * bs:(i + 1) * bs]
            x = train_tf(x_train[idx], {k: v[idx] for k, v in params.items()}).contiguous(memory_format=fmt)
            loss = F.cross_entropy(model(x), y_train[idx], label_smoothing=cfg.train.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        epoch_s = time.perf_counter() - t0
        train_sum += epoch_s
        model.eval()
        with torch.inference_mode():
            correct = sum(int((model(x_test[j:j + 1000].contiguous(memory_format=fmt)).argmax(1)
                               == y_test[j:j + 1000]).sum())
                          for j in range(0, len(x_test), 1000))
        rows.append({"epoch": epoch, "acc1": correct / len(x_test), "epoch_s": epoch_s, "train_s": train_sum,
                     "wall_s": setup + train_sum})
    report("bare loop (this process; wall = imports, data and model setup, training; evaluation not timed)",
           rows, target, f"imports, data and model setup {setup:.1f} s")
    return rows


def _train_time(config: str, overrides: list[str], steps: int, out: Path, name: str) -> float:
    """Training time (metrics.csv's ``time``: steps only, no evaluation) of ``steps`` steps."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "zoo.cli", "train", config, *overrides, "train.epochs=1",
           f"train.max_steps={steps}", f"run.dir={out}", f"run.name={name}", "log.progress=off"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    metrics = sorted((out / name).glob("*/metrics.csv"))
    if done.returncode != 0 or not metrics:
        raise RuntimeError((done.stderr.strip().splitlines() or ["no metrics.csv"])[-1])
    with metrics[-1].open(newline="") as f:
        return float(list(csv.DictReader(f))[-1]["time"])


def variants(config: str, overrides: list[str], sets: list[str], steps: int, warmup: int, out: Path) -> None:
    """Seconds per training step under each set of overrides: the engine's own step
    (amp, channels_last, compile as zoo train does them), as the difference of a run of
    ``warmup + steps`` steps and one of ``warmup`` steps, each in a fresh process."""
    print(f"\nseconds per training step ({steps} steps after {warmup} warm-up steps, the engine's training time):")
    base = None
    for i, extra in enumerate(sets):
        extra_list = [*overrides, *shlex.split(extra)]
        try:
            short = _train_time(config, extra_list, warmup, out, f"v{i}_warm") if warmup else 0.0
            long = _train_time(config, extra_list, warmup + steps, out, f"v{i}_run")
        except RuntimeError as exc:
            print(f"  {extra or '(recipe)':45s} failed: {exc}")
            continue
        per_step = (long - short) / steps
        if per_step <= 0:
            # Compilation is timed too and varies from process to process; it can
            # outweigh a few steps. More --steps make the difference meaningful.
            print(f"  {extra or '(recipe)':45s} not measured: the short run ({short:.1f} s) took longer than "
                  f"the long one ({long:.1f} s); start-up varied more than {steps} steps take, raise --steps")
            continue
        base = base or per_step
        print(f"  {extra or '(recipe)':45s} {per_step * 1000:8.1f} ms/step  x{per_step / base:.2f}  "
              f"(first {warmup} steps: {short:.1f} s)")


def report(title: str, rows: list[dict[str, Any]], target: float | None, tail: str) -> None:
    print(f"\n{title}")
    print("| epoch | test acc1 | epoch train (s) | cumulative train (s) | cumulative wall (s) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['epoch']} | {100 * r['acc1']:.2f}% | {r['epoch_s']:.1f} | {r['train_s']:.1f} | {r['wall_s']:.1f} |")
    if target is not None:
        hit = next((r for r in rows if r["acc1"] >= target), None)
        print(f"target {100 * target:.2f}%: " + (f"epoch {hit['epoch']}, {hit['wall_s']:.1f} s wall" if hit
                                                  else "not reached"))
    print(tail)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", help="a training config, e.g. configs/published/lenet5_mnist.yaml")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every run")
    p.add_argument("--root", help="data.root (the folder holding MNIST/, CIFAR10/ ...)")
    p.add_argument("--target", type=float, help="accuracy to report the time to (a fraction, e.g. 0.993)")
    p.add_argument("--bare", action="store_true", help="also time the recipe as a bare PyTorch loop")
    p.add_argument("--no-recipe", action="store_true", help="skip the zoo train run")
    p.add_argument("--variants", nargs="+", metavar="OVERRIDES",
                   help="time training steps under each quoted set of overrides ('' is the recipe itself)")
    p.add_argument("--steps", type=int, default=30, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps first (compilation, allocator)")
    p.add_argument("--out", help="folder for the runs (default: a temporary one, removed)")
    args = p.parse_intermixed_args()
    overrides = list(args.overrides) + ([f"data.root={Path(args.root).resolve()}"] if args.root else [])
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="tta_"))
    try:
        if not args.no_recipe:
            run_recipe(args.config, overrides, out, args.target)
        if args.bare:
            bare_loop(args.config, overrides, args.target)
        if args.variants:
            variants(args.config, overrides, args.variants, args.steps, args.warmup, out / "variants")
    finally:
        if not args.out:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
