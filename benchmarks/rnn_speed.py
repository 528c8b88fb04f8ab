"""Forward + backward time of zoo's recurrent layers against torch.nn (issue 4).

    python benchmarks/rnn_speed.py                 # CPU, the issue's grid
    python benchmarks/rnn_speed.py --device cuda   # against cuDNN
    python benchmarks/rnn_speed.py --only lstm --layers 1 --repeats 21

For each configuration (T=50, B=64, input 128, hidden 256 by default; 1 and 2 layers;
uni- and bidirectional) the torch.nn module and the zoo module get the same weights
and the same input, and one training step (forward, backward of a fixed random output
gradient, gradients cleared) is timed for each in turn, ``--repeats`` times,
interleaved, after warm-up. The machines are shared and noisy: interleaving exposes
both implementations to the same load, and the median is reported. Ratio < 1 means
zoo is faster. ``--clock thread`` (with ``--threads 1``) times the CPU time of the
one working thread instead of the wall clock, which leaves out the time the thread
spends descheduled when other processes share the cores.

Each configuration runs in a fresh Python process. A step allocates tens of MB, and
whether glibc's malloc hands them out from memory it kept or from fresh pages (each
first touch a page fault, zero-filled by the kernel) depends on what the process
allocated and freed before; in one long process the configurations measured later
would inherit the earlier ones' heap. The columns "faults" give the median minor page
faults per step of each side, so that this part of the cost is visible.

The LSTM's fast path runs each step's elementwise work in a C kernel compiled on first
use (zoo/layers/_lstm_kernel.py); ``--c-kernel off`` measures it with torch's kernels
instead (the same as ``ZOO_C_KERNELS=0``). The table ends with the largest ratio per
layer against the goal (<= 1.0x torch.nn; peepholes on <= 1.15x off).

Rows:
  rnn    zoo.layers.RNN (tanh)                        vs torch.nn.RNN
  gru    zoo.layers.GRU (reset_after=True)            vs torch.nn.GRU
  lstm   zoo.layers.PeepholeLSTM(peephole=False)      vs torch.nn.LSTM
  peep   zoo PeepholeLSTM(peephole=True)              vs zoo PeepholeLSTM(peephole=False)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
from torch import nn

from zoo.layers import GRU, RNN, PeepholeLSTM


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        out, _ = module(x)
        out.backward(grad)
        x.grad = None
        for p in module.parameters():
            p.grad = None

    return step


def _build(kind: str, args: argparse.Namespace, layers: int, bidirectional: bool, device: torch.device):
    kw = dict(num_layers=layers, bidirectional=bidirectional)
    size = (args.input, args.hidden)
    if kind == "rnn":
        pair = nn.RNN(*size, **kw), RNN(*size, **kw)
    elif kind == "gru":
        pair = nn.GRU(*size, **kw), GRU(*size, **kw)
    elif kind == "lstm":
        pair = nn.LSTM(*size, **kw), PeepholeLSTM(*size, **kw, peephole=False)
    else:  # peep: peepholes on against off, both zoo
        base = PeepholeLSTM(*size, **kw, peephole=False)
        other = PeepholeLSTM(*size, **kw, peephole=True)
        other.load_state_dict(base.state_dict(), strict=False)
        return base.to(device), other.to(device)
    ref, zoo_mod = pair
    zoo_mod.load_state_dict(ref.state_dict(), strict=kind != "lstm")
    return ref.to(device), zoo_mod.to(device)


def measure(kind: str, layers: int, bidirectional: bool, args: argparse.Namespace, device: torch.device):
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    torch.manual_seed(0)
    base, candidate = _build(kind, args, layers, bidirectional, device)
    x = torch.randn(args.steps, args.batch, args.input, device=device, requires_grad=True)
    directions = 2 if bidirectional else 1
    grad = torch.randn(args.steps, args.batch, directions * args.hidden, device=device)
    steps = {"base": _train_step(base, x, grad), "zoo": _train_step(candidate, x, grad)}
    for _ in range(args.warmup):
        for fn in steps.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    faults: dict[str, list[int]] = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, fn in steps.items():
            _sync(device)
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = clock()
            fn()
            _sync(device)
            times[name].append(clock() - t0)
            faults[name].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    return {
        "base_ms": 1e3 * statistics.median(times["base"]),
        "zoo_ms": 1e3 * statistics.median(times["zoo"]),
        "base_faults": statistics.median(faults["base"]),
        "zoo_faults": statistics.median(faults["zoo"]),
    }


def _in_fresh_process(kind: str, layers: int, direction: str, argv: list[str], env: dict[str, str]) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), *argv, "--one", kind, str(layers), direction]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=50, help="sequence length T")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", nargs="+", default=["rnn", "gru", "lstm", "peep"],
                        choices=["rnn", "gru", "lstm", "peep"])
    parser.add_argument("--directions", nargs="+", default=["uni", "bi"], choices=["uni", "bi"])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--clock", choices=["wall", "thread"], default="wall",
                        help="wall clock, or the CPU time of the calling thread (needs --threads 1)")
    parser.add_argument("--c-kernel", choices=["on", "off"], default="on",
                        help="the LSTM's compiled elementwise step (default on; off = torch kernels)")
    parser.add_argument("--one", nargs=3, metavar=("KIND", "LAYERS", "DIRECTION"), help=argparse.SUPPRESS)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.clock == "thread" and (args.threads != 1 or args.device != "cpu"):
        parser.error("--clock thread measures one CPU thread: use it with --threads 1 on the CPU")
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.one:  # a child process: one configuration, result as JSON
        kind, layers, direction = args.one
        print(json.dumps(measure(kind, int(layers), direction == "bi", args, device)))
        return
    env = dict(os.environ)
    if args.c_kernel == "off":
        env["ZOO_C_KERNELS"] = "0"
    else:
        os.environ.pop("ZOO_C_KERNELS", None)
        from zoo.layers import _lstm_kernel

        built = _lstm_kernel.available()  # compiles it here, once, outside the timings
    kernel = "off" if args.c_kernel == "off" else ("on" if built else "unavailable (no C compiler?), torch kernels")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; T={args.steps} B={args.batch} input={args.input} "
          f"hidden={args.hidden}; median {args.clock} time of {args.repeats} interleaved forward+backward steps; "
          f"LSTM C kernel {kernel}; load average {os.getloadavg()[0]:.1f}")
    print()
    print("| layer | layers | directions | baseline ms | zoo ms | zoo / baseline | faults baseline | faults zoo |")
    print("|---|---|---|---|---|---|---|---|")
    labels = {"rnn": "RNN (tanh)", "gru": "GRU", "lstm": "LSTM (peephole=False)", "peep": "LSTM peephole on vs off"}
    worst: dict[str, float] = {}
    for kind in args.only:
        for layers in args.layers:
            for direction in args.directions:
                r = _in_fresh_process(kind, layers, direction, argv, env)
                ratio = r["zoo_ms"] / r["base_ms"]
                worst[kind] = max(worst.get(kind, 0.0), ratio)
                print(f"| {labels[kind]} | {layers} | {direction} | {r['base_ms']:.1f} | {r['zoo_ms']:.1f} | "
                      f"{ratio:.2f}x | {r['base_faults']:.0f} | {r['zoo_faults']:.0f} |", flush=True)
    print()
    for kind, ratio in worst.items():
        goal = 1.15 if kind == "peep" else 1.0
        print(f"{labels[kind]}: largest ratio {ratio:.2f}x, goal <= {goal:.2f}x: {'met' if ratio <= goal else 'NOT met'}")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
