"""ResNet-20 on CIFAR-10 with no zoo code: a cross-check of the zoo's whole training path.

Every CIFAR run of the zoo ends about 3 points below He et al. (2016), the paper's own
schedule included. Part of that is the JPEG-sourced copy in ../shared/data; the rest lies
in the data or in something all the zoo's runs share (model, data pipeline, optimizer,
schedule, evaluation). This script shares none of it: its own ResNet-20 (written from
section 4.2 of the paper), torchvision.transforms.v2 applied per sample in a
torch.utils.data.DataLoader, torch.optim's SGD and its LinearLR/CosineAnnealingLR
schedulers, and its own evaluation. It trains the zoo's fast recipe
(configs/published/resnet20_cifar10.yaml: SGD with Nesterov momentum 0.9, lr 0.1,
weight decay 5e-4 on every parameter, batch 128, a linear warm-up of 2 epochs into a
per-step cosine decay to zero, 4-px-pad crop and flip, bf16 autocast) so that its
per-epoch test accuracy can be set beside `zoo train` of the same recipe:

    python benchmarks/cifar_independent.py --root ../shared/data --epochs 30 --out runs/ind.csv
    python -m zoo.cli train configs/published/resnet20_cifar10.yaml data.root=../shared/data train.epochs=30

It reads nothing but the data, ROOT/CIFAR10/cifar10_{train,test}.npz (uint8 NHWC
``images``, int64 ``labels``: the files the zoo's CIFAR-10 loader reads).
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class Block(nn.Module):
    """Two 3x3 conv-BN pairs; where the width doubles, the shortcut subsamples and zero-pads (option A)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        s = x[:, :, :: self.stride, :: self.stride] if self.stride > 1 else x
        if self.extra:
            s = torch.cat([s, s.new_zeros(s.shape[0], self.extra, *s.shape[2:])], dim=1)
        return F.relu(y + s)


class ResNet20(nn.Module):
    def __init__(self, n: int = 3, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(Block(cin, cout, stride if i == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He et al. (2015) normal init, as the paper says (Caffe's MSRA filler: fan-in).
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))


def schedule(opt: torch.optim.Optimizer, *, steps: int, warmup: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step: lr * (k + 1) / warmup for the first ``warmup`` steps, then a cosine to zero at ``steps``."""
    return torch.optim.lr_scheduler.SequentialLR(
        opt,
        [
            torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1),
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup),
        ],
        milestones=[warmup],
    )


class Images(Dataset):
    def __init__(self, path: Path, transform: v2.Transform) -> None:
        with np.load(path) as z:
            self.x = torch.from_numpy(z["images"]).permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
            self.y = torch.from_numpy(z["labels"]).long()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.x[i]), self.y[i]


def evaluate(model: nn.Module, loader: DataLoader, amp: bool) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += len(y)
    model.train()
    return correct / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="../shared/data", help="folder holding CIFAR10/cifar10_{train,test}.npz")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--warmup-epochs", type=int, default=2)
    ap.add_argument("--amp", choices=["bf16", "off"], default="bf16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, help="CSV of per-epoch figures")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    amp = args.amp == "bf16"
    to_float = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]
    train_tf = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip(), *to_float])
    root = Path(args.root) / "CIFAR10"
    train = Images(root / "cifar10_train.npz", train_tf)
    test = Images(root / "cifar10_test.npz", v2.Compose(to_float))
    train_loader = DataLoader(train, batch_size=128, shuffle=True)
    test_loader = DataLoader(test, batch_size=512)

    model = ResNet20()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = schedule(opt, steps=args.epochs * len(train_loader), warmup=args.warmup_epochs * len(train_loader))
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {len(train_loader)} steps an epoch", flush=True)

    rows, start = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0, seen, correct, loss_sum = time.perf_counter(), 0, 0, 0.0
        for x, y in train_loader:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
                out = model(x)
                loss = F.cross_entropy(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(y)
            correct += (out.argmax(1) == y).sum().item()
            loss_sum += loss.item() * len(y)
        train_s = time.perf_counter() - t0
        acc = evaluate(model, test_loader, amp)
        row = dict(epoch=epoch, train_loss=loss_sum / seen, train_acc=correct / seen, test_acc=acc,
                   lr=opt.param_groups[0]["lr"], train_s=round(train_s, 1))
        rows.append(row)
        print(f"epoch {epoch}/{args.epochs} train_loss {row['train_loss']:.4f} train_acc {row['train_acc']:.4f} "
              f"test_acc {acc:.4f} lr {row['lr']:.4g} {train_s:.1f} s", flush=True)
        if not math.isfinite(row["train_loss"]):
            raise SystemExit("training diverged")
    final32 = evaluate(model, test_loader, amp=False)
    print(f"final test accuracy, float32: {final32:.4f}; {time.perf_counter() - start:.0f} s in all", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
