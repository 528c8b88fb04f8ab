"""Epoch time of the in-memory fast path against torchvision's usual pipeline and a bare loop (issue 5).

Three ways to feed the same model the same data:

* ``fast``: zoo's dataset (``zoo.data.build_dataset``): the split decoded once into
  a uint8 tensor, batches cut by indexing, crop/flip/normalization batched on
  tensors (``TensorLoader`` + ``ImageTransform``).
* ``torchvision``: the usual Dataset + per-sample PIL transforms + DataLoader with
  0 workers (MNIST: ``torchvision.datasets.MNIST`` + ToTensor/Normalize; CIFAR-10:
  a Dataset over the uint8 arrays doing what ``torchvision.datasets.CIFAR10``
  does, ``Image.fromarray`` then RandomCrop(32, 4)/RandomHorizontalFlip/ToTensor/Normalize).
* ``bare``: a hand-written loop over normalized float tensors held in memory: a
  random permutation per epoch and one ``index_select`` per batch; no augmentation.

Each pipeline trains its own copy of the model from the same initial weights.
The pipelines are interleaved batch by batch (one batch and train step of each in
turn, the turn order rotating every batch) and each pipeline's time is the sum of
its own steps, so load on these shared machines hits all of them alike; "data
only" times the loaders alone the same way. Test accuracy is measured after the
run on the same test tensors.

    python benchmarks/data_speed.py --root ../shared/data                   # LeNet-5 MNIST epoch + ResNet-20 50 batches
    python benchmarks/data_speed.py --root ../shared/data --tasks mnist --rounds 3
    python benchmarks/data_speed.py --root ../shared/data --tasks cifar --cifar-batches 391   # a full CIFAR epoch

Goal: fast <= 1.05x bare with the same accuracy.
"""

from __future__ import annotations

import argparse
import gzip
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import zoo
from zoo.data import build_dataset
from zoo.data.vision import CIFAR10_STATS, MNIST_STATS
from zoo.engine.config import DataConfig


# ---------------------------------------------------------------------------------
# Pipelines
# ---------------------------------------------------------------------------------
class BareLoader:
    """Normalized float tensors in memory: permutation + index_select, nothing else."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size

    def epoch(self, seed: int) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
        perm = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(seed))
        for i in range(0, len(perm), self.batch_size):
            idx = perm[i : i + self.batch_size]
            yield self.x.index_select(0, idx), self.y.index_select(0, idx)


class ArrayImages(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10.__getitem__ does, over uint8 NHWC arrays."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def normalized(x_uint8: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return (x_uint8.float() / 255 - m) / s


def mnist_pipelines(root: Path, batch_size: int, scratch: Path) -> tuple[dict[str, Callable[[int], Iterable]], tuple]:
    import torchvision
    from torchvision import transforms as T

    bundle = build_dataset(DataConfig(name="mnist", root=str(root), batch_size=batch_size, seed=0))
    fast = bundle.train
    x_train, y_train = fast.tensors
    x_test, y_test = bundle.test.tensors
    bare = BareLoader(normalized(x_train, *MNIST_STATS), y_train, batch_size)
    # torchvision's MNIST reads the decompressed IDX files from ROOT/MNIST/raw.
    raw = scratch / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for gz in (root / "MNIST" / "raw").glob("*.gz"):
        with gzip.open(gz, "rb") as src, open(raw / gz.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    tv_train = torchvision.datasets.MNIST(
        str(scratch), train=True, download=False,
        transform=T.Compose([T.ToTensor(), T.Normalize(*MNIST_STATS)]),
    )

    def run_fast(epoch: int):
        fast.set_epoch(epoch)
        return iter(fast)

    def run_tv(epoch: int):
        g = torch.Generator().manual_seed(epoch)
        return iter(torch.utils.data.DataLoader(tv_train, batch_size=batch_size, shuffle=True, num_workers=0, generator=g))

    test = (normalized(x_test, *MNIST_STATS), y_test)
    return {"fast": run_fast, "torchvision": run_tv, "bare": bare.epoch}, test


def cifar_pipelines(root: Path, batch_size: int, scratch: Path) -> tuple[dict[str, Callable[[int], Iterable]], tuple]:
    from torchvision import transforms as T

    aug = build_dataset(DataConfig(name="cifar10", root=str(root), batch_size=batch_size, seed=0))
    plain = build_dataset(DataConfig(name="cifar10", root=str(root), batch_size=batch_size, seed=0, augment=False))
    x_train, y_train = aug.train.tensors
    x_test, y_test = aug.test.tensors
    bare = BareLoader(normalized(x_train, *CIFAR10_STATS), y_train, batch_size)
    tv_train = ArrayImages(
        x_train.permute(0, 2, 3, 1).contiguous().numpy(), y_train.numpy(),
        T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(*CIFAR10_STATS)]),
    )

    def run(loader):
        def go(epoch: int):
            loader.set_epoch(epoch)
            return iter(loader)

        return go

    def run_tv(epoch: int):
        g = torch.Generator().manual_seed(epoch)
        return iter(torch.utils.data.DataLoader(tv_train, batch_size=batch_size, shuffle=True, num_workers=0, generator=g))

    # The test split is class-major in the npz copy: a fixed random subset is representative.
    pick = torch.randperm(len(y_test), generator=torch.Generator().manual_seed(0))[:2000]
    test = (normalized(x_test[pick], *CIFAR10_STATS), y_test[pick])
    pipes = {"fast": run(aug.train), "fast_noaug": run(plain.train), "torchvision": run_tv, "bare": bare.epoch}
    return pipes, test


# ---------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------
@torch.no_grad()
def accuracy(model: torch.nn.Module, test: tuple[torch.Tensor, torch.Tensor], device: torch.device) -> float:
    model.eval()
    x, y = test
    correct = 0
    for i in range(0, len(y), 500):
        correct += int((model(x[i : i + 500].to(device)).argmax(1) == y[i : i + 500].to(device)).sum())
    return 100.0 * correct / len(y)


def step_fn(model, opt, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], None]:
    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def interleaved(pipes: dict, epoch: int, max_batches: int | None, steps: dict | None, device: torch.device) -> dict[str, float]:
    """Seconds per pipeline, taking one batch (and, with ``steps``, one train step)
    from each pipeline in turn, the turn order rotating every batch: a load spike
    on this shared machine then costs every pipeline alike."""
    names = list(pipes)
    iters = {p: iter(pipes[p](epoch)) for p in names}
    seconds = {p: 0.0 for p in names}
    live = set(names)
    b = 0
    while live and (max_batches is None or b < max_batches):
        k = b % len(names)
        for p in names[k:] + names[:k]:
            if p not in live:
                continue
            t0 = time.perf_counter()
            try:
                x, y = next(iters[p])
            except StopIteration:
                live.discard(p)
                continue
            if steps is not None:
                steps[p](x, y)
                if device.type == "cuda":
                    torch.cuda.synchronize()
            seconds[p] += time.perf_counter() - t0
        b += 1
    return seconds


def bench(name: str, model_fn, make_opt, pipes: dict, test, *, rounds: int, max_batches: int | None, device: torch.device) -> None:
    torch.manual_seed(0)
    init = {k: v.clone() for k, v in model_fn().state_dict().items()}
    names = list(pipes)
    times: dict[str, list[float]] = {p: [] for p in names}
    accs: dict[str, list[float]] = {p: [] for p in names}
    loads: dict[str, list[float]] = {p: [] for p in names}
    # Warm-up (allocator, kernels, lazy inits): a few untimed steps per pipeline.
    warm = {p: step_fn(m := model_fn().to(device), make_opt(m), device) for p in names}
    interleaved(pipes, 999, 5, warm, device)
    for r in range(rounds):
        for p, sec in interleaved(pipes, 100 + r, max_batches, None, device).items():
            loads[p].append(sec)
        models = {}
        for p in names:
            models[p] = model_fn().to(device)
            models[p].load_state_dict(init)
            models[p].train()
        steps = {p: step_fn(models[p], make_opt(models[p]), device) for p in names}
        for p, sec in interleaved(pipes, r, max_batches, steps, device).items():
            times[p].append(sec)
            accs[p].append(accuracy(models[p], test, device))
        print(f"  round {r + 1}/{rounds}: " + ", ".join(f"{p} {times[p][-1]:.2f} s ({accs[p][-1]:.2f}%)" for p in names), flush=True)
    batches = "an epoch" if max_batches is None else f"{max_batches} batches"
    print(f"\n{name}: {batches} per run, {rounds} round(s), pipelines interleaved batch by batch, device {device}")
    print("| pipeline | data only (s) | train (s) | vs bare | test acc (%) |")
    print("|---|---|---|---|---|")
    for p in names:
        ratio = statistics.median(t / b for t, b in zip(times[p], times["bare"]))
        print(f"| {p} | {statistics.median(loads[p]):.2f} | {statistics.median(times[p]):.2f} | {ratio:.3f}x | "
              f"{', '.join(f'{a:.2f}' for a in accs[p])} |")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="../shared/data", help="folder holding MNIST/raw and CIFAR10/*.npz")
    parser.add_argument("--tasks", nargs="+", default=["mnist", "cifar"], choices=["mnist", "cifar"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--cifar-batches", type=int, default=50, help="batches per ResNet-20 run (391 = an epoch)")
    parser.add_argument("--mnist-batches", type=int, default=None, help="batches per LeNet-5 run (default: an epoch, 469)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    root = Path(args.root)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, device {device}\n", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if "mnist" in args.tasks:
            pipes, test = mnist_pipelines(root, args.batch_size, Path(tmp))
            span = "one epoch" if args.mnist_batches is None else f"{args.mnist_batches} batches"
            bench(
                f"LeNet-5 (ReLU, max-pool), Adam lr 1e-3, MNIST, {span}",
                lambda: zoo.create_model("lenet5", activation="relu", pool="max"),
                lambda m: torch.optim.Adam(m.parameters(), lr=1e-3),
                pipes, test, rounds=args.rounds, max_batches=args.mnist_batches, device=device,
            )
        if "cifar" in args.tasks:
            if "resnet20" not in zoo.list_models():
                print("resnet20 is not registered yet: CIFAR-10 skipped")
                return
            pipes, test = cifar_pipelines(root, args.batch_size, Path(tmp))
            bench(
                f"ResNet-20, SGD lr 0.1 momentum 0.9 wd 1e-4, CIFAR-10, {args.cifar_batches} batches "
                f"(accuracy on 2,000 test images)",
                lambda: zoo.create_model("resnet20"),
                lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4),
                pipes, test, rounds=args.rounds, max_batches=args.cifar_batches, device=device,
            )


if __name__ == "__main__":
    main()
