"""Print the README's model table: every registered model with its paper, parameters,
FLOPs and default input, straight from the registry.

    python benchmarks/readme_tables.py > /tmp/models.md

Parameters and FLOPs are at each builder's defaults and default input size (ImageNet
heads for the torchvision-named CNNs, 10 classes for LeNet-5 and the CIFAR ResNets);
FLOPs count one forward pass of one sample, 2 per multiply-add (see zoo.summary).
Models that take token ids get random ids of the default length.
"""

from __future__ import annotations

import sys

import torch

import zoo
from zoo.compare import count_flops
from zoo.registry import get_model_entry


def _si(n: float | None) -> str:
    if n is None:
        return "-"
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{suffix}"
    return f"{n:.0f}"


def _inputs(entry, model) -> list[torch.Tensor]:
    size = tuple(entry.input_size)
    vocab = entry.defaults().get("vocab_size")
    if vocab:
        return [torch.randint(1, int(vocab), (1, *size))]
    return [torch.randn(1, *size)]


def model_rows() -> list[dict]:
    rows = []
    for name in zoo.list_models():
        entry = get_model_entry(name)
        info = zoo.model_info(name)
        torch.manual_seed(0)
        model = zoo.create_model(name).eval()
        flops = count_flops(model, _inputs(entry, model))
        rows.append({"name": name, "family": info["family"], "paper": info["paper"], "params": info["params"],
                     "flops": flops, "input": "x".join(str(d) for d in info["input_size"]), "task": info["task"]})
        del model
    return rows


def model_table(rows: list[dict]) -> str:
    lines = ["| model | paper | params | FLOPs | default input | task |", "|---|---|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| `{r['name']}` | {r['paper']} | {_si(r['params'])} | {_si(r['flops'])} | {r['input']} | {r['task']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(model_table(model_rows()))
    sys.exit(0)
