"""``zoo eval``: a checkpoint, its dataset, its metrics.

The checkpoint says what it needs: the architecture, the dataset and its
options, the class names and, for text models, the vocabulary, so that the
evaluation tokenizes exactly as training did. Evaluating a run directory (or a
file in one) also removes what a run killed mid-write left there
(:func:`zoo.rundir.clean_leftovers`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from .. import rundir
from ..atomic import atomic_write
from ..checkpoint import load_checkpoint
from ..data import build_dataset, get_dataset_entry
from ..errors import CheckpointError, ConfigError
from ..manifest import published_file
from .config import config_from_dict, parse_overrides
from .runtime import resolve_device
from .tasks import make_task
from .trainer import evaluate

__all__ = ["evaluate_checkpoint", "resolve_checkpoint", "plot_confusion"]


def resolve_checkpoint(ref: str) -> tuple[Path, bool]:
    """(path, published): a file or run directory, else a published ``model.tag`` name."""
    path = Path(ref)
    if path.exists():
        return path, False
    if "." in ref and "/" not in ref and path.suffix not in (".safetensors", ".ckpt"):
        return published_file(ref), True
    raise CheckpointError(f"checkpoint not found: {ref} (a .safetensors/.ckpt file, a run directory, or a name from `zoo list --pretrained`)")


def evaluate_checkpoint(
    ref: str,
    *,
    data: str | None = None,
    split: str = "test",
    overrides: list[str] | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    quiet: bool = False,
) -> dict[str, Any]:
    path, published = resolve_checkpoint(ref)
    run = None if published else rundir.run_dir_of(path)
    if run is not None:
        # Only stale ones: the run may still be training and writing one right now.
        rundir.clean_leftovers(run, older_than=rundir.STALE_AFTER_S)
    dev = resolve_device(device)
    model = load_checkpoint(path, map_location=dev)
    meta = model.zoo_meta
    data_cfg = copy.deepcopy(meta.get("data_config") or {"name": meta.get("dataset")})
    if data and data != data_cfg.get("name"):
        data_cfg = {"name": data}
    if not data_cfg.get("name"):
        raise ConfigError(f"{path} names no dataset; pass --data NAME")
    for section, values in parse_overrides(overrides or []).items():
        if section != "data":
            raise ConfigError(f"zoo eval takes data.* overrides only, got {section}.*")
        data_cfg.update(values)
    if meta.get("vocab") is not None and "vocab" in get_dataset_entry(data_cfg["name"]).options:
        data_cfg["vocab"] = meta["vocab"]
    if split == "val" and not data_cfg.get("val_split"):
        raise ConfigError("--split val: this checkpoint's data has no validation split (data.val_split=0)")
    cfg = config_from_dict({"data": data_cfg})
    cfg.data.seed = cfg.data.seed if cfg.data.seed is not None else 0
    bundle = build_dataset(cfg.data, dev)
    info = bundle.info
    loader = {"test": bundle.test, "val": bundle.val, "train": bundle.train}[split]
    if split == "train":
        # Evaluate the training images as they are, without augmentation.
        loader = _unaugmented(loader)
    if meta.get("classes") and info.classes and len(meta["classes"]) != len(info.classes):
        raise ConfigError(f"{path} predicts {len(meta['classes'])} classes but dataset {info.name} has {len(info.classes)}")
    task = make_task(info)
    metrics = evaluate(model, loader, task, dev, detailed=True)
    scalars = {k: round(v, 6) for k, v in metrics.items() if k in task.scalar_metrics}
    scalars["n"] = loader.num_samples
    result: dict[str, Any] = {"checkpoint": str(path), "dataset": info.name, "split": split, "metrics": scalars}
    # Beside a run's checkpoint, or where --out says; a published name has no folder of
    # its own, so its plot is drawn only when asked for (not into whatever folder this is).
    where = Path(out) if out else (None if published else (path if path.is_dir() else path.parent))
    if "confusion" in metrics and where is not None:
        png = where / f"confusion_{info.name}_{split}.png"
        plot_confusion(metrics["confusion"], info.classes, png, title=f"{meta['model']} on {info.name} ({split})")
        result["confusion_png"] = str(png)
    if not quiet:
        print(f"{meta['model']} on {info.name} {split} ({scalars['n']} samples): "
              + " ".join(f"{k} {v:.4f}" for k, v in scalars.items() if k != "n"))
        if "confusion_png" in result:
            print(f"confusion matrix: {result['confusion_png']}")
    return result


def _unaugmented(loader: Any) -> Any:
    transform = getattr(loader, "transform", None)
    if transform is not None and hasattr(transform, "without_augmentation"):
        loader = loader.shard(0, 1)
        loader.transform = transform.without_augmentation()
        loader.shuffle = False
    return loader


def plot_confusion(matrix: list[list[int]], classes: list[str] | None, path: Path, *, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = torch.tensor(matrix, dtype=torch.float64)
    n = cm.shape[0]
    size = min(4 + 0.35 * n, 16)
    fig, ax = plt.subplots(figsize=(size, size))
    norm = cm / cm.sum(dim=1, keepdim=True).clamp(min=1)
    ax.imshow(norm.numpy(), cmap="Blues", vmin=0, vmax=1)
    if n <= 30:
        labels = classes if classes and len(classes) == n else [str(i) for i in range(n)]
        ax.set_xticks(range(n), labels, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), labels)
        if n <= 15:
            for i in range(n):
                for j in range(n):
                    if cm[i, j]:
                        ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                                color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)
