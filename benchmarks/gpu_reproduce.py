"""He et al. (2016) Table 6 on one GPU, the paper's schedule, the five depths at once.

Runs the paper table ``he2016_cifar10_paper`` (configs/reproduce/): ResNet-20, 32, 44,
56 and 110 on CIFAR-10, 64k iterations of batch 128 (164 epochs of the 50k training
images), SGD momentum 0.9, lr 0.1 divided by 10 at 32k and 48k iterations, weight
decay 1e-4, 4-px-pad crop + flip, ResNet-110 with its 400-iteration warm-up; test
error on the 10k test images. He et al. chose the schedule on a 45k/5k train/val
split; like most reproductions the rows train on all 50k and report the test split
(``data.val_split=0.1`` as an extra override gives the 45k/5k split instead, with
per-epoch figures on the 5k).

Each depth is its own ``zoo reproduce --models M`` process on the same GPU (the small
CIFAR ResNets leave most of an H200 idle), with bf16 autocast, channels_last and
``torch.compile``; the data sits on the GPU (the zoo's fast path), so the CPU only
launches kernels. Processes of their own time-share a GPU: one context's kernels run
at a time. So on CUDA the script first starts an MPS control daemon (CUDA's
Multi-Process Service, ``nvidia-cuda-mps-control``), under which the five processes'
kernels can run side by side; it checks that a CUDA process starts under it and, if
not (no daemon on the machine, or it fails), runs the rows without it and says so
(``--no-mps`` skips it).

A step of these small networks is hundreds of tiny kernels, so by default the rows
compile in the ``reduce-overhead`` mode, which records a step's forward and backward
once as CUDA graphs and then replays each with one launch. Should a row fail before
any row has finished, every row is stopped and started again in torch.compile's
default mode (one mode for all rows, so the final table matches each row's config),
and ``gpu_reproduce.json`` says so (``"compile"``, ``"compile_fallback"``).

When all are done (or ``--time-limit`` passes: the unfinished ones get Ctrl-C, write
last.ckpt and are listed), one last ``zoo reproduce`` writes results.md / results.csv
for the finished rows. Running the same command again resumes the unfinished rows from
their checkpoints and skips the finished ones.

    python benchmarks/gpu_reproduce.py --data-root /path/holding/CIFAR10
    python benchmarks/gpu_reproduce.py --epochs-scale 0.5 --time-limit 500   # the schedule compressed 2x

Data: the folder that holds ``CIFAR10/cifar10_{train,test}.npz`` (or torchvision's
``cifar-10-batches-py/``), from ``--data-root``, else ``$ZOO_REPRO_DATA``, else
``data/`` in this work tree (ignored by git), else ``../shared/data`` beside it. The
device machine gets a copy of the work tree but not ``../shared/data``, and 64 MiB at
most: carry the copy as JPEG streams (``benchmarks/cifar_jpeg.py --pack``, 18 MB) and
``--unpack`` it there (benchmarks/README.md has the commands).

Output: ``--out``, else ``$OUT/he2016_cifar10_paper`` when ``$OUT`` is set, else
``runs/reproduce/he2016_cifar10_paper_gpu``: results.md, results.csv, one folder per
row with its run (``best.safetensors`` and ``last.ckpt``: the checkpoints,
``summary.json``, ``metrics.csv``), ``logs/<model>.log`` and ``gpu_reproduce.json``.

Test it on the CPU with a tiny budget (tests/test_gpu_reproduce.py)::

    python benchmarks/gpu_reproduce.py --device cpu --amp off --no-compile --no-channels-last \\
        --epochs-scale 0.0001 --models resnet20 resnet32 --data-root DIR --out DIR
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = "he2016_cifar10_paper"
MODELS = ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110")


def find_data(arg: str | None) -> Path:
    candidates = [Path(arg)] if arg else []
    if os.environ.get("ZOO_REPRO_DATA"):
        candidates.append(Path(os.environ["ZOO_REPRO_DATA"]))
    candidates += [ROOT / "data", ROOT.parent / "shared" / "data"]
    for root in candidates:
        if (root / "CIFAR10" / "cifar10_train.npz").is_file() or (root / "cifar-10-batches-py").is_dir():
            return root.resolve()
    sys.exit("gpu_reproduce: no CIFAR-10 found (looked for CIFAR10/cifar10_train.npz or cifar-10-batches-py/ in "
             + ", ".join(str(c) for c in candidates) + "); give --data-root or set ZOO_REPRO_DATA")


def out_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg).resolve()
    if os.environ.get("OUT"):
        return Path(os.environ["OUT"]).resolve() / TABLE
    return ROOT / "runs" / "reproduce" / f"{TABLE}_gpu"


def last_line(log: Path, prefix: str = "epoch ") -> str:
    try:
        lines = [l for l in log.read_text(errors="replace").splitlines() if l.startswith(prefix) and " step " not in l]
    except OSError:
        return ""
    return lines[-1][:110] if lines else ""


def start_mps(env: dict[str, str]) -> Callable[[], None] | None:
    """Start CUDA MPS for the rows; returns its stop function, or None (rows time-share the GPU).

    On success ``env`` gets the daemon's pipe folder, which the rows' processes need to
    find it. A CUDA process is started under the daemon before the rows are, so a daemon
    that starts but cannot serve costs seconds, not the run.
    """
    ctl = shutil.which("nvidia-cuda-mps-control")
    if ctl is None:
        print("MPS: nvidia-cuda-mps-control not found; the rows time-share the GPU", flush=True)
        return None
    base = Path(tempfile.mkdtemp(prefix="zoo-mps-"))
    mps = {"CUDA_MPS_PIPE_DIRECTORY": str(base / "pipe"), "CUDA_MPS_LOG_DIRECTORY": str(base / "log")}
    for folder in mps.values():
        Path(folder).mkdir()
    mps_env = {**env, **mps}

    def stop() -> None:
        try:
            subprocess.run([ctl], input="quit\n", text=True, env=mps_env, timeout=30, capture_output=True)
        except subprocess.TimeoutExpired:
            print("MPS: the daemon did not quit within 30 s", flush=True)
        shutil.rmtree(base, ignore_errors=True)

    probe = "import torch; print(float(torch.ones(4, device='cuda').sum()))"
    try:
        started = subprocess.run([ctl, "-d"], env=mps_env, timeout=30, capture_output=True, text=True)
        if started.returncode != 0:
            print(f"MPS: the daemon did not start ({(started.stderr or started.stdout).strip()[-200:]}); "
                  "the rows time-share the GPU", flush=True)
            shutil.rmtree(base, ignore_errors=True)
            return None
        check = subprocess.run([sys.executable, "-c", probe], env=mps_env, timeout=120, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        check = subprocess.CompletedProcess([], 1, "", "timed out")
    if check.returncode != 0 or check.stdout.strip() != "4.0":
        print(f"MPS: a CUDA process failed under the daemon ({check.stderr.strip()[-300:]}); "
              "stopped it, the rows time-share the GPU", flush=True)
        stop()
        return None
    env.update(mps)
    print(f"MPS: daemon running (pipe {mps['CUDA_MPS_PIPE_DIRECTORY']}); the rows' kernels can overlap", flush=True)
    return stop


def stop_rows(procs: dict[str, subprocess.Popen], models: list[str], *, kill: bool = False) -> None:
    """Ctrl-C to these rows: each trainer finishes its step and writes last.ckpt.
    ``kill``: at once, nothing kept (a row that restarts in another mode starts afresh)."""
    for model in models:
        os.killpg(procs[model].pid, signal.SIGKILL if kill else signal.SIGINT)
    for model in models:
        try:
            procs[model].wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(procs[model].pid, signal.SIGKILL)
            procs[model].wait()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("overrides", nargs="*", help="extra key=value overrides for every row")
    p.add_argument("--data-root", help="folder holding CIFAR10/ (default: $ZOO_REPRO_DATA, data/, ../shared/data)")
    p.add_argument("--out", help="output folder (default: $OUT/he2016_cifar10_paper or runs/reproduce/...)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="depths to run (default: all)")
    p.add_argument("--epochs-scale", type=float, help="compress the paper's schedule (default: the full 64k iterations)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--amp", default="bf16", choices=["bf16", "fp16", "off"])
    p.add_argument("--no-compile", action="store_true", help="eager mode (no torch.compile)")
    p.add_argument("--compile-mode", default="reduce-overhead", choices=["reduce-overhead", "default"],
                   help="torch.compile mode (default: reduce-overhead, CUDA graphs; default mode if a row fails)")
    p.add_argument("--no-channels-last", action="store_true")
    p.add_argument("--no-mps", action="store_true", help="do not start CUDA MPS (the rows time-share the GPU)")
    p.add_argument("--time-limit", type=float, default=540.0,
                   help="seconds before the unfinished rows are stopped (they resume on the next run)")
    args = p.parse_intermixed_args()

    start = time.time()
    data = find_data(args.data_root)
    out = out_dir(args.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    compile_mode = "off" if args.no_compile else args.compile_mode

    def common() -> list[str]:
        compile_value = {"off": "false", "default": "true"}.get(compile_mode, compile_mode)
        return [f"data.root={data}", f"train.device={args.device}", f"train.amp={args.amp}",
                f"train.channels_last={str(not args.no_channels_last).lower()}", f"train.compile={compile_value}",
                "log.progress=lines", "log.every_steps=2000", *args.overrides]

    scale = ["--epochs-scale", f"{args.epochs_scale:g}"] if args.epochs_scale else []
    threads = max(1, (os.cpu_count() or 2) // len(args.models))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    cli = [sys.executable, "-m", "zoo.cli", "reproduce", TABLE]
    print(f"data {data}; out {out}; {len(args.models)} processes, {threads} CPU threads each", flush=True)
    stop_mps = None
    if args.device.startswith("cuda"):
        subprocess.run(["nvidia-smi", "-L"], check=False)
        if not args.no_mps:
            stop_mps = start_mps(env)

    def launch() -> dict[str, subprocess.Popen]:
        procs = {}
        for model in args.models:
            cmd = [*cli, "--models", model, "--out", str(out), "--in-process", *scale, *common()]
            with (out / "logs" / f"{model}.log").open("a") as log:
                log.write(f"$ {shlex.join(cmd[2:])}\n")
                log.flush()
                procs[model] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                                start_new_session=True)
        return procs

    procs = launch()
    fallback = False
    deadline = start + args.time_limit
    last_report = 0.0
    while time.time() < deadline:
        time.sleep(2)
        codes = [pr.poll() for pr in procs.values()]
        failed = [m for m, c in zip(procs, codes) if c not in (None, 0)]
        if compile_mode == "reduce-overhead" and failed and 0 not in codes:
            print(f"{', '.join(failed)} failed with train.compile=reduce-overhead (see logs/); every row "
                  "starts again in torch.compile's default mode", flush=True)
            stop_rows(procs, [m for m, pr in procs.items() if pr.poll() is None], kill=True)
            compile_mode, fallback = "default", True
            procs = launch()
            continue
        if None not in codes:
            break
        if time.time() - last_report >= 30:
            last_report = time.time()
            print(f"[{time.time() - start:6.0f} s]", flush=True)
            for model in args.models:
                state = "running" if procs[model].poll() is None else f"exit {procs[model].returncode}"
                print(f"  {model:10s} {state:8s} {last_line(out / 'logs' / f'{model}.log')}", flush=True)
    stopped = [m for m, pr in procs.items() if pr.poll() is None]
    stop_rows(procs, stopped)

    done = [m for m in args.models if procs[m].returncode == 0]
    unfinished = [m for m in args.models if m not in done]
    code = 0
    if done:  # every finished row is skipped here: this only writes the table
        final = [*cli, "--models", *done, "--out", str(out), "--in-process", *scale, *common()]
        code = subprocess.run(final, env=env, cwd=ROOT).returncode
    if stop_mps is not None:
        stop_mps()
    md = out / "results.md"
    if unfinished:
        notes = ["", "## Not finished", ""]
        for model in unfinished:
            why = "stopped at the time limit" if model in stopped else f"exited with {procs[model].returncode}"
            notes.append(f"- {model}: {why}; last epoch line: `{last_line(out / 'logs' / f'{model}.log') or '-'}` "
                         f"(log: logs/{model}.log)")
        notes += ["", "The same command resumes them from their last.ckpt.", ""]
        with md.open("a") as f:
            f.write("\n".join(notes))
    record = {"command": shlex.join([sys.executable, *sys.argv]), "data_root": str(data), "models": args.models,
              "finished": done, "unfinished": unfinished, "stopped_at_time_limit": stopped,
              "wall_time_s": round(time.time() - start, 1), "threads_per_process": threads,
              "mps": stop_mps is not None, "compile": compile_mode, "compile_fallback": fallback}
    (out / "gpu_reproduce.json").write_text(json.dumps(record, indent=2) + "\n")
    if md.exists():
        print(md.read_text())
    print(json.dumps(record), flush=True)
    return 0 if not unfinished and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
