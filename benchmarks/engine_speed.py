"""Engine overhead: a zoo training epoch against a bare hand-written loop.

Both sides train the same model, with the same optimizer and batch size, over
the same in-memory tensors: the bare loop slices a normalized float tensor
with a random permutation (the fastest plain PyTorch epoch); zoo runs its full
Trainer (fast-path TensorLoader, metrics, progress, schedule, checkpoint at the
end of the epoch). Timings alternate bare/zoo and the ratio of medians is
reported. Goal: zoo <= 1.10x bare.

    python benchmarks/engine_speed.py --root ../shared/data            # LeNet-5/MNIST + ResNet-20/CIFAR-10
    python benchmarks/engine_speed.py --root ../shared/data --only lenet5 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

import zoo
from zoo.data import build_dataset
from zoo.engine.config import config_from_dict
from zoo.engine.trainer import Trainer, resolve_model_kwargs

CASES = {
    # name: (model, model kwargs, dataset, optimizer, batches per epoch or None for a full epoch)
    "lenet5": ("lenet5", {"activation": "relu", "pool": "max"}, "mnist", {"name": "adam", "lr": 0.001}, None),
    "resnet20": ("resnet20", {}, "cifar10", {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}, 60),
}


def make_config(model, kwargs, dataset, optim, root, batches, run_dir, augment):
    train = {"epochs": 1, "seed": 0, "device": "cpu"}
    if batches:
        train["max_steps"] = batches
    return config_from_dict({
        "model": {"name": model, **kwargs},
        "data": {"name": dataset, "root": root, "batch_size": 128, "augment": augment},
        "optim": optim,
        "train": train,
        "log": {"progress": "off"},
        "run": {"dir": run_dir, "name": "bench"},
    })


def bare_epoch(cfg, x, y, batches):
    """The loop a user writes by hand: no metrics, no logging, no checkpoint."""
    torch.manual_seed(0)
    info_kwargs = cfg.model.kwargs
    model = zoo.create_model(cfg.model.name, **info_kwargs)
    opt_cfg = cfg.optim
    if opt_cfg.name == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=opt_cfg.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=opt_cfg.lr, momentum=opt_cfg.momentum, weight_decay=opt_cfg.weight_decay)
    model.train()
    n = len(y)
    perm = torch.randperm(n)
    steps = (n + 127) // 128 if batches is None else batches
    t0 = time.perf_counter()
    for b in range(steps):
        idx = perm[b * 128:(b + 1) * 128]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def zoo_epoch(cfg):
    trainer = Trainer(cfg)
    trainer.fit()
    return trainer.rows[-1]["time"], trainer.rows[-1].get("test_acc1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="../shared/data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=sorted(CASES))
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    for name, (model, kwargs, dataset, optim, batches) in CASES.items():
        if args.only and name != args.only:
            continue
        with tempfile.TemporaryDirectory() as run_dir:
            # Same work on both sides: no augmentation (the bare loop has none).
            cfg = make_config(model, kwargs, dataset, optim, args.root, batches, run_dir, augment=False)
            bundle = build_dataset(cfg.data.__class__(**{**vars(cfg.data), "seed": 0}))
            cfg.model.kwargs = resolve_model_kwargs(model, kwargs, bundle.info)
            xs, ys = [], []
            for xb, yb in bundle.train:  # the normalized float tensors the bare loop slices
                xs.append(xb)
                ys.append(yb)
            x, y = torch.cat(xs), torch.cat(ys)
            bare, ours = [], []
            for _ in range(args.repeats):
                bare.append(bare_epoch(cfg, x, y, batches))
                t, acc = zoo_epoch(cfg)
                ours.append(t)
            b, z = statistics.median(bare), statistics.median(ours)
            what = "full epoch" if batches is None else f"{batches} batches"
            print(f"{name:9s} {dataset:8s} ({what}, batch 128): bare {b:7.2f}s  zoo {z:7.2f}s  ratio {z / b:.3f}"
                  f"  (zoo test acc1 after it: {acc:.4f})")


if __name__ == "__main__":
    main()
