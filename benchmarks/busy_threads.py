"""Training speed on a busy machine: torch's thread default against train.threads: auto.

Each setting trains LeNet-5 (batch 128, 1x32x32, Adam) for a fixed number of steps in a
fresh process, while a background job keeps the machine busy:

- ``idle``: nothing else runs;
- ``1core``: another job holds one core (a one-thread torch loop);
- ``2thr``: another torch job with torch's default of one thread per core.

Settings: ``2`` (torch's default on 2 cores), ``2passive`` (the same with
OMP_WAIT_POLICY=PASSIVE, which must be set before torch loads), ``1``, and ``auto``
(what the trainer does by default: zoo.engine.runtime.choose_threads). A fresh
process per run, settings interleaved, median of the repeats::

    python benchmarks/busy_threads.py --steps 120 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

LOADS = {
    "idle": None,
    "1core": 1,
    "2thr": 2,
}
SETTINGS = ["2", "2passive", "1", "auto"]

_LOAD_CODE = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(384, 384)
while True:
    b = a @ a
"""


def worker(setting: str, steps: int) -> None:
    import torch

    from zoo import create_model
    from zoo.engine.runtime import choose_threads

    threads = choose_threads("auto") if setting == "auto" else choose_threads(int(setting.removesuffix("passive")))
    torch.manual_seed(0)
    model = create_model("lenet5")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.randn(128, 1, 32, 32), torch.randint(0, 10, (128,))
    for _ in range(5):  # warm-up: allocator, oneDNN primitives
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    print(f"{time.perf_counter() - t0:.4f} {threads}")


def run_one(setting: str, steps: int) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    if setting.endswith("passive"):
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    out = subprocess.run([sys.executable, __file__, "--worker", setting, "--steps", str(steps)],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loads", nargs="+", default=list(LOADS), choices=list(LOADS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps)
        return
    import torch

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, LeNet-5 batch 128, {args.steps} steps, "
          f"median of {args.repeats} fresh processes")
    results: dict[tuple[str, str], list[float]] = {}
    threads: dict[tuple[str, str], set[int]] = {}
    for load in args.loads:
        job = None
        if LOADS[load] is not None:
            env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
            job = subprocess.Popen([sys.executable, "-c", _LOAD_CODE, str(LOADS[load])], env=env)
            time.sleep(2.0)  # let it reach its steady state before anyone samples the cores
        try:
            for _ in range(args.repeats):
                for setting in SETTINGS:
                    seconds, n = run_one(setting, args.steps)
                    results.setdefault((load, setting), []).append(seconds)
                    threads.setdefault((load, setting), set()).add(n)
        finally:
            if job is not None:
                job.kill()
                job.wait()
    base = statistics.median(results[(args.loads[0], "2")])
    print(f"\nseconds for {args.steps} steps (threads used), and x the first load's torch default\n")
    print("| load | " + " | ".join(SETTINGS) + " |")
    print("|---|" + "---:|" * len(SETTINGS))
    for load in args.loads:
        cells = []
        for setting in SETTINGS:
            t = statistics.median(results[(load, setting)])
            used = "/".join(str(n) for n in sorted(threads[(load, setting)]))
            cells.append(f"{t:.2f} s ({used}) {t / base:.2f}x")
        print(f"| {load} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
