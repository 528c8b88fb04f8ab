"""Train-step time of each zoo CNN against torchvision's same model (issue 3).

A train step is forward, cross-entropy loss (plus 0.3 x the auxiliary losses for
GoogLeNet, as the engine does), backward and an SGD-with-momentum update. Both
models hold the same weights (clones of one torchvision init, allocated
interleaved, see ``_clones``), see the same batch and run in train mode.

The machines are shared, so the models are measured alternately: every round
times one step of each, back to back, in an order that rotates through all
permutations, and the reported ratio is the median over rounds of the per-round
zoo/torchvision ratio. A load spike then hits both sides of a round instead of
one model's whole series. ``--control`` adds a second torchvision model to the
same rounds: its ratio to the first (an A/A test, ideally 1.000) shows how far
the method itself can be trusted on the machine at hand.

    python benchmarks/cnn_speed.py --threads 1 --control     # every model, 112 px, batch 2, CPU
    python benchmarks/cnn_speed.py --models 'resnet*' --size 224 --batch 32 --device cuda

Goal: ratio <= 1.02 for every model.
"""

from __future__ import annotations

import argparse
import fnmatch
import itertools
import platform
import statistics
import time

import torch
import torch.nn.functional as F
import torchvision
import torchvision.models as tvm
from torch import nn

import zoo

MODELS = [
    "alexnet",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "googlenet",
]


def _loss(out, target: torch.Tensor) -> torch.Tensor:
    if isinstance(out, tuple):
        return F.cross_entropy(out[0], target) + 0.3 * sum(F.cross_entropy(o, target) for o in out[1:])
    return F.cross_entropy(out, target)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stepper:
    def __init__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        self.model, self.x, self.y = model.train(), x, y
        self.opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

    def __call__(self) -> float:
        device = self.x.device
        _sync(device)
        start = time.perf_counter()
        loss = _loss(self.model(self.x), self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        _sync(device)
        return time.perf_counter() - start


def _build(name: str, side: str) -> nn.Module:
    extra = {"init_weights": False} if name == "googlenet" else {}  # weights come from _twins
    with torch.device("meta"):
        return zoo.create_model(name) if side == "zoo" else tvm.get_model(name, weights=None, **extra)


def _clones(name: str, sides: list[str]) -> list[nn.Module]:
    """Models with equal weights whose tensors were allocated alike.

    Loading one model's weights into another leaves each model's tensors wherever
    its own constructor happened to allocate them, and that alone made two copies of
    one torchvision model differ by 3% in an A/A test (VGG-11-BN, 1 thread). So all are
    built on the meta device and get clones allocated interleaved, tensor by tensor,
    in rotating order.
    """
    torch.manual_seed(0)
    base = tvm.get_model(name, weights=None, **({"init_weights": True} if name == "googlenet" else {})).state_dict()
    models = [_build(name, side) for side in sides]
    dicts: list[dict[str, torch.Tensor]] = [{} for _ in sides]
    for i, (key, value) in enumerate(base.items()):
        # Rotate who allocates first, so no model always gets the "earlier" memory.
        for j in range(len(dicts)):
            dicts[(i + j) % len(dicts)][key] = value.clone()
    del base
    for model, d in zip(models, dicts):
        model.load_state_dict(d, strict=True, assign=True)
    return models


def measure(
    name: str, *, size: int, batch: int, rounds: int, warmup: int, device: torch.device, control: bool = False
) -> dict:
    """Median over rounds of zoo/torchvision step time (and, with ``control``, of
    torchvision/torchvision for a second torchvision model: an A/A test measured in
    the same rounds, which shows the method's own bias and noise)."""
    sides = ["zoo", "torchvision"] + (["control"] if control else [])
    models = _clones(name, ["torchvision" if s == "control" else s for s in sides])
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    steppers = {side: Stepper(m.to(device), x, y) for side, m in zip(sides, models)}
    # Momentum buffers, like the weights, allocated interleaved rather than each
    # model's at its own first step (zeros: the first step then equals SGD's own
    # initialization, buffer = gradient).
    for i, params in enumerate(zip(*(m.parameters() for m in models))):
        for j in range(len(sides)):
            k = (i + j) % len(sides)
            steppers[sides[k]].opt.state[params[k]]["momentum_buffer"] = torch.zeros_like(params[k])
    for _ in range(warmup):
        for step in steppers.values():
            step()
    times: dict[str, list[float]] = {side: [] for side in sides}
    orders = list(itertools.permutations(sides))
    for r in range(rounds):
        # Every order in turn, so no side is always first (or always after the same one).
        for side in orders[r % len(orders)]:
            times[side].append(steppers[side]())

    def ratio(side: str) -> float:
        return statistics.median(a / b for a, b in zip(times[side], times["torchvision"]))

    out = {
        "model": name,
        "zoo_ms": 1e3 * statistics.median(times["zoo"]),
        "tv_ms": 1e3 * statistics.median(times["torchvision"]),
        "ratio": ratio("zoo"),
    }
    if control:
        out["control"] = ratio("control")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="*", default=["*"], help="fnmatch patterns (default: all)")
    parser.add_argument("--size", type=int, default=112, help="input height and width (default 112)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7, help="measurement rounds (default 7)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--control", action="store_true",
                        help="also time a second torchvision model in the same rounds (A/A test)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = [m for m in MODELS if any(fnmatch.fnmatchcase(m, p) for p in args.models)]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"# train step (fwd+bwd+SGD), batch {args.batch} x 3x{args.size}x{args.size}, {args.rounds} "
          f"rounds in rotating order; "
          f"torch {torch.__version__}, torchvision {torchvision.__version__}, {where}")
    head = f"| {'model':<10} | {'zoo ms':>8} | {'torchvision ms':>14} | {'zoo/tv':>6} |"
    print(head + (f" {'A/A tv/tv':>9} |" if args.control else ""))
    print(f"|{'-' * 12}|{'-' * 10}|{'-' * 16}|{'-' * 8}|" + (f"{'-' * 11}|" if args.control else ""))
    ratios = []
    for name in names:
        r = measure(name, size=args.size, batch=args.batch, rounds=args.rounds, warmup=args.warmup, device=device,
                    control=args.control)
        ratios.append(r["ratio"])
        row = f"| {r['model']:<10} | {r['zoo_ms']:>8.1f} | {r['tv_ms']:>14.1f} | {r['ratio']:>6.3f} |"
        print(row + (f" {r['control']:>9.3f} |" if args.control else ""), flush=True)
    if len(ratios) > 1:
        print(f"geometric mean zoo/tv over {len(ratios)} models: {statistics.geometric_mean(ratios):.3f}")


if __name__ == "__main__":
    main()
