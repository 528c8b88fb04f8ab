"""Training steps with denormal floats kept (IEEE) against flushed to zero.

The vanishing gradients of a recurrent net over a long sequence fall below float32's
smallest normal number (1.18e-38), and the CPU computes on such denormals through a
slow path. The trainer therefore calls ``torch.set_flush_denormal(True)`` before torch
starts its worker threads. This script shows what that buys: each model of
``--models`` trains on the adding problem (T = 200, batch 64, Adam, the zoo's
``configs/*_adding.yaml`` sizes) from the same initialization, in a fresh process per
setting (settings interleaved, median of the repeats):

- ``ieee``: torch's default, denormals kept;
- ``flush``: flushed to zero at the start, as the trainer does.

    python benchmarks/denormals.py --steps 10 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

_STEP_CODE = """
import sys, time, torch
if sys.argv[2] == "flush":
    torch.set_flush_denormal(True)
import zoo
from zoo.data.sequence import _AddingInputs, adding_problem
torch.manual_seed(0)
model = zoo.create_model(sys.argv[1], input_size=2, task="regression", hidden_size=128)
x, target = _AddingInputs("le")(adding_problem(64, 200, torch.Generator().manual_seed(0)))  # the dataset's batches
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
def step():
    loss = (model(x).squeeze(-1) - target).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
step()  # warm-up: allocations, the C kernel's first load
start = time.perf_counter()
for _ in range(int(sys.argv[3])):
    step()
print((time.perf_counter() - start) / int(sys.argv[3]) * 1e3)
"""


def _run(model: str, setting: str, steps: int) -> float:
    out = subprocess.run([sys.executable, "-c", _STEP_CODE, model, setting, str(steps)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.split()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["rnn", "gru", "lstm"])
    p.add_argument("--steps", type=int, default=10, help="timed training steps per process")
    p.add_argument("--repeats", type=int, default=3, help="processes per model and setting")
    args = p.parse_args(argv)
    print("| model | ieee ms/step | flush ms/step | ieee / flush |")
    print("|---|---:|---:|---:|")
    for model in args.models:
        times: dict[str, list[float]] = {"ieee": [], "flush": []}
        for _ in range(args.repeats):
            for setting in times:
                times[setting].append(_run(model, setting, args.steps))
        ieee, flush = statistics.median(times["ieee"]), statistics.median(times["flush"])
        print(f"| {model} | {ieee:.1f} | {flush:.1f} | {ieee / flush:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
